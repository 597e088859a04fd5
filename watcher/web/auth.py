"""Web logins (SPEC §12): password hashes, sessions, HTTP Basic, slowed failures.

- Passwords are kept only as argon2id hashes (argon2-cffi's `PasswordHasher`, the
  RFC 9106 "low memory" profile: 64 MiB, 3 passes; ~0.15 s a check), in the state's
  `web_users` table (`watcher user add`).
- Pages use a session cookie (a random token the server keeps in memory, HttpOnly,
  SameSite=Strict); feeds and downloads also take HTTP Basic with the same account, so
  feed readers can subscribe. A Basic login that succeeded is remembered for a few
  minutes under a keyed hash of the credentials, so a feed reader's every request does
  not cost a slow hash (bench/web.py measures feeds with Basic).
- Each failed login waits longer before its answer (doubling per recent failure from
  the same address, capped at 8 s), and failures from one address wait in turn, one
  after the other (watcher.web.app.check_login): guesses sent in parallel are as slow
  as guesses sent one by one, so a password cannot be guessed at speed. A correct
  password never waits and is never refused: an attacker cannot lock staff out (behind
  one proxy or NAT, everyone shares an address). A wrong name costs as long as a wrong
  password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: Seconds a session lasts without a new login.
SESSION_SECONDS = 12 * 3600.0
#: Seconds a successful HTTP Basic login is remembered.
BASIC_REMEMBER_SECONDS = 300.0
#: Seconds a failure counts towards the next one's delay.
FAILURE_WINDOW = 15 * 60.0
#: Addresses whose failures are remembered at most.
MAX_CLIENTS = 10_000

_HASHER = PasswordHasher()
# Checked when a name is unknown, so that its answer takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """The slow hash `watcher user add` stores (argon2id, PHC string)."""
    return _HASHER.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    """Whether `password` is the one `stored` was made from (None: an unknown name,
    checked against a dummy hash all the same)."""
    try:
        return _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(name, password) of an `Authorization: Basic` header (RFC 7617), if well formed."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else None


@dataclass
class Throttle:
    """Recent failed logins per client address, and how long the next answer waits."""

    base_delay: float = 1.0
    max_delay: float = 8.0
    failures: dict[str, list[float]] = field(default_factory=dict)

    def _recent(self, client: str, now: float) -> list[float]:
        recent = [t for t in self.failures.get(client, []) if now - t < FAILURE_WINDOW]
        if recent:
            self.failures[client] = recent
        else:
            self.failures.pop(client, None)
        return recent

    def failed(self, client: str, now: float) -> float:
        """Record a failure; returns the seconds to wait before answering it."""
        recent = self._recent(client, now)
        recent.append(now)
        self.failures[client] = recent
        if len(self.failures) > MAX_CLIENTS:
            # Many addresses failing (a spread-out attack): forget the quietest ones
            # rather than grow without bound.
            oldest = sorted(self.failures, key=lambda c: self.failures[c][-1])
            for stale in oldest[: len(self.failures) - MAX_CLIENTS]:
                del self.failures[stale]
        return min(self.base_delay * 2 ** (len(recent) - 1), self.max_delay)

    def succeeded(self, client: str) -> None:
        """A correct login clears the address's failures."""
        self.failures.pop(client, None)


@dataclass
class Sessions:
    """Session tokens → (user, expiry), kept in memory: a restart logs everyone out."""

    lifetime: float = SESSION_SECONDS
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    # Keyed hash of Basic credentials → (user, expiry); the key never leaves the process.
    _basic: dict[bytes, tuple[str, float]] = field(default_factory=dict)
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def start(self, user: str) -> str:
        """A new session for `user`; returns its token (the cookie's value)."""
        now = time.monotonic()
        self.tokens = {t: v for t, v in self.tokens.items() if v[1] > now}
        token = secrets.token_urlsafe(32)
        self.tokens[token] = (user, now + self.lifetime)
        return token

    def user(self, token: str | None) -> str | None:
        """The user of a live session token."""
        if not token:
            return None
        found = self.tokens.get(token)
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def end(self, token: str | None) -> None:
        """Log a session out."""
        if token:
            self.tokens.pop(token, None)

    def _basic_key(self, name: str, password: str) -> bytes:
        return hmac.new(self._key, f"{name}\0{password}".encode(), hashlib.sha256).digest()

    def basic_user(self, name: str, password: str) -> str | None:
        """The user of recently checked Basic credentials, if remembered."""
        found = self._basic.get(self._basic_key(name, password))
        if found is None or found[1] <= time.monotonic():
            return None
        return found[0]

    def remember_basic(self, name: str, password: str) -> None:
        """Remember checked Basic credentials for BASIC_REMEMBER_SECONDS."""
        now = time.monotonic()
        self._basic = {k: v for k, v in self._basic.items() if v[1] > now}
        self._basic[self._basic_key(name, password)] = (name, now + BASIC_REMEMBER_SECONDS)
