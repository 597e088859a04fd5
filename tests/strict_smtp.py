"""A strict SMTP server for tests: aiosmtpd as a real mail server sets it up.

Unlike `watcher.demo.loopback.SmtpStandIn` (no login, for quick tests), this one:

- requires AUTH (PLAIN or LOGIN) before MAIL FROM; no TLS on loopback, so aiosmtpd is
  told not to insist on it (`auth_require_tls=False`) — the only relaxation;
- keeps aiosmtpd's default line limit (RFC 5321's 1,000 octets with CRLF): a longer
  line in the DATA makes it answer `500 Line too long` and refuse the whole mail, as
  strict servers do;
- can refuse chosen mails with `554 5.6.0 …` (`refuse`), a "poison" message;
- keeps the raw bytes of every accepted mail, so tests can measure every line.
"""

from __future__ import annotations

import email
import socket
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

# The one relaxation (no TLS on loopback) is deliberate; aiosmtpd warns on every session
# (pytest's own filter for it is in pyproject.toml; this one is for bench/).
warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)

USER = "watcher-test"
PASSWORD = "s3cret-for-loopback-only"


@dataclass(frozen=True)
class StrictMail:
    """One accepted mail: its raw bytes and the parsed message."""

    raw: bytes
    message: EmailMessage

    @property
    def subject(self) -> str:
        """The Subject, decoded and unfolded (RFC 5322 / 2047)."""
        return str(self.message.get("Subject", ""))

    def part(self, subtype: str) -> str:
        """The decoded text/<subtype> part ('' when missing)."""
        body = self.message.get_body(preferencelist=(subtype,))
        return str(body.get_content()) if isinstance(body, EmailMessage) else ""

    def raw_subject_lines(self) -> list[bytes]:
        """The Subject header as sent: its first line and continuation lines."""
        lines = self.raw.split(b"\r\n")
        start = next(i for i, line in enumerate(lines) if line.lower().startswith(b"subject:"))
        out = [lines[start]]
        for line in lines[start + 1 :]:
            if not line.startswith((b" ", b"\t")):
                break
            out.append(line)
        return out


class StrictSmtp:
    """aiosmtpd on 127.0.0.1 with AUTH required and the default line limit."""

    def __init__(self) -> None:
        self.mails: list[StrictMail] = []
        self.refused: list[bytes] = []  # every DATA refused (by `refuse` or the line limit)
        self._refuse: Callable[[EmailMessage], bool] = lambda _m: False
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        listening = self._socket

        class _Bound(Controller):
            # The Controller checks its own port to see it started: bind first, hand over.
            def _create_server(self) -> Any:
                return self.loop.create_server(self._factory_invoker, sock=listening)

        self._controller = _Bound(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            ready_timeout=5.0,
            auth_required=True,
            auth_require_tls=False,
            authenticator=_authenticate,
        )
        self._controller.start()

    def refuse(self, when: Callable[[EmailMessage], bool]) -> None:
        """Answer `554 5.6.0` to every mail for which `when(message)` holds."""
        self._refuse = when

    def url(self, to: str = "staff@example.org") -> str:
        """The Apprise URL: login, plain SMTP (no STARTTLS), from and to."""
        return (
            f"mailto://{USER}:{PASSWORD}@127.0.0.1:{self.port}"
            f"?from=alerts@example.org&to={to}&mode=insecure"
        )

    def close(self) -> None:
        """Stop the server; idempotent."""
        if self._socket.fileno() >= 0:
            self._controller.stop()
            self._socket.close()

    def __enter__(self) -> StrictSmtp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self, raw: bytes) -> str:
        message = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            if self._refuse(message):
                self.refused.append(raw)
                return "554 5.6.0 Message content rejected by policy"
            self.mails.append(StrictMail(raw, message))
        return "250 2.0.0 Accepted"


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


class _Handler:
    def __init__(self, owner: StrictSmtp) -> None:
        self._owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
        return self._owner._accept(data)
