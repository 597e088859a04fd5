"""Logging: one event a line, `key=value` fields, secrets redacted (SPEC §9, §7).

The daemon logs to standard output for the journal; one-shot commands log
warnings to standard error so their own output stays readable.

What is a secret (`secrets_of`): the password and user name of a channel URL's
credentials (not a user name that is a plain word such as `watcher`), tokens (a
Telegram bot token, long keys, query parameters named like `token` or `apikey`),
phone numbers and chat ids (long digit runs), and the value of any `${VAR}` whose
name says it is one (`…PASS…`, `…TOKEN…`, `…SECRET…`, `…KEY…`).
Not a secret: host names, ports, sender and recipient addresses in `?from=`/`?to=`,
paths — they say where a failing send went, which is what a person needs to fix it.
`redact` hides whole values only: a secret made of letters alone (a user name such as
`alerts`) is hidden only where it stands as a whole word, never inside another word.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    from watcher.models import Channel

__all__ = ["RedactingFilter", "redact", "redaction_filter", "secrets_of", "setup_logging"]

_ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}")
# Fewer characters than this are not worth hiding (and hiding "80" or "yes" would
# garble every log line); real tokens, passwords and phone numbers are longer.
_MIN_SECRET = 4
_SECRET_VAR = re.compile(r"PASS|PWD|SECRET|TOKEN|KEY|AUTH|CRED|PHONE", re.IGNORECASE)
_SECRET_PARAM = re.compile(
    r"^(?:.*(?:pass|pwd|secret|token|key|auth|sig|cred).*|user|login|apikey)$", re.IGNORECASE
)
# A phone number or chat id: an optional sign and six or more digits.
_NUMBER = re.compile(r"^[+-]?\d{6,}$")
# A Telegram bot token, `123456789:AAH…`.
_BOT_TOKEN = re.compile(r"^\d{5,}:[\w-]{5,}$")
# A key: long, letters and digits mixed, no dot (a host name has dots).
_KEY = re.compile(r"^(?=.*\d)(?=.*[A-Za-z])[\w~+/=-]{16,}$")
_URL_PIECES = re.compile(r"[/?&=,@]+")


def _var_values(channel: Channel) -> list[tuple[str, str]]:
    """(variable name, value) for each `${VAR}` of the channel's URL template."""
    names = _ENV_REFERENCE.findall(channel.url_template)
    if not names:
        return []
    pieces = _ENV_REFERENCE.split(channel.url_template)[::2]
    pattern = "(.*?)".join(re.escape(p) for p in pieces)
    match = re.fullmatch(pattern, channel.url, re.DOTALL)
    if not match:
        return []
    return list(zip(names, match.groups(), strict=True))


def _looks_secret(token: str) -> bool:
    return bool(_NUMBER.match(token) or _BOT_TOKEN.match(token) or _KEY.match(token))


def secrets_of(channel: Channel) -> set[str]:
    """The parts of a channel URL that must never be shown (see the module docstring),
    as written and percent-decoded (Apprise decodes %XX before it logs a value)."""
    url = channel.url
    found: set[str] = set()
    for name, value in _var_values(channel):
        if _SECRET_VAR.search(name) or _looks_secret(value):
            found.add(value)
    scheme_sep = url.find("://")
    rest = url[scheme_sep + 3 :] if scheme_sep >= 0 else url
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        user, _, password = authority.rsplit("@", 1)[0].partition(":")
        if password:
            found.add(password)
        # A user name that is a plain word ("watcher", "alerts") identifies nobody, and
        # hiding it would hide that word in every log line and notice.
        if user and not unquote(user).isalpha():
            found.add(user)
    for token in _URL_PIECES.split(rest):
        if _looks_secret(token):
            found.add(token)
        if _BOT_TOKEN.match(token):
            found.add(token.split(":", 1)[1])
        if _NUMBER.match(token):
            found.add(token.lstrip("+-"))  # services may log a chat id or number unsigned
    try:
        query = urlsplit(url).query
    except ValueError:
        query = ""
    for key, value in parse_qsl(query, keep_blank_values=False):
        if _SECRET_PARAM.match(key) and value:
            found.add(value)
    found |= {unquote(s) for s in found}
    return {s for s in found if len(s) >= _MIN_SECRET}


def _pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = []
    for secret in sorted(set(secrets), key=len, reverse=True):
        escaped = re.escape(secret)
        if secret.isalpha():
            # A word-like secret (a user name) only as a whole word: hiding "watcher"
            # inside "watcher.toml" or "Run watcher check" hides what a person needs.
            escaped = rf"(?<!\w){escaped}(?!\w)"
        alternatives.append(escaped)
    return re.compile("|".join(alternatives)) if alternatives else None


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by `***` (longest first)."""
    pattern = _pattern(s for s in secrets if s)
    return pattern.sub("***", text) if pattern else text


class RedactingFilter(logging.Filter):
    """Replaces known secrets (channel URL parts from the environment) with `***`
    in every record, including those of libraries such as Apprise."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self._compiled: re.Pattern[str] | None = None
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Add secrets to hide (longest first, so no part of one survives)."""
        self.secrets = sorted(set(self.secrets) | {s for s in secrets if s}, key=len, reverse=True)
        self._compiled = _pattern(self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._compiled is None:
            return True
        record.msg = self._compiled.sub("***", record.getMessage())
        record.args = None
        return True


_FILTER = RedactingFilter()


class _LibraryLevels(logging.Filter):
    """Holds library records below a level back from the output.

    Apprise's email plugin logs the mail server's reply (`554 …`, `500 Line too long`)
    only at DEBUG, so its logger must let DEBUG through for watcher to read that reply
    from the send's result; what reaches the journal is still decided here.
    """

    def __init__(self) -> None:
        super().__init__()
        self.levels: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        library = record.name.split(".", 1)[0]
        return record.levelno >= self.levels.get(library, logging.NOTSET)


_LIBRARIES = _LibraryLevels()
_LIBRARIES.levels["apprise"] = logging.WARNING


def let_library_debug_through(name: str) -> None:
    """Let a library's logger emit DEBUG records (for capture by its own results);
    the handlers set up here still show only what `setup_logging` chose."""
    logger = logging.getLogger(name)
    if logger.getEffectiveLevel() > logging.DEBUG:
        logger.setLevel(logging.DEBUG)


def setup_logging(level: int = logging.WARNING, stream: TextIO | None = None) -> RedactingFilter:
    """Configure the root logger once; returns the redacting filter to feed secrets to."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    handler.addFilter(_LIBRARIES)
    handler.addFilter(_FILTER)
    root.addHandler(handler)
    root.setLevel(level)
    # Apprise logs every attempt at INFO, with recipient details; keep it to problems
    # (all of it only when debugging).
    apprise_level = level if level <= logging.DEBUG else max(level, logging.WARNING)
    _LIBRARIES.levels["apprise"] = apprise_level
    logging.getLogger("apprise").setLevel(apprise_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    return _FILTER


def redaction_filter() -> RedactingFilter:
    """The process-wide filter that hides secrets in every log line."""
    return _FILTER
