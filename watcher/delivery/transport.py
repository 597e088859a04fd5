"""One send through Apprise, and what the answer means (SPEC §7): delivered, refused for
what the message is, or the service down.

Each channel has its own Apprise object, so one channel's failure never makes another's
message look failed. Apprise reports only a boolean per service and logs the server's
reply (an SMTP code, an HTTP status) at DEBUG; the send captures those log lines to tell
"this message is refused" (an SMTP 5xx to the message, an HTTP 4xx other than
401/403/404/407/408/429) from "the service is down or refuses the channel" (no answer,
429, an HTTP 5xx, an SMTP 4xx, bad credentials). Apprise's email plugin writes the
Subject unfolded; `_fold_email_headers` makes it fold (RFC 5322: lines of at most 998
octets).
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from watcher.delivery.messages import Rendered
from watcher.logs import redact, secrets_of
from watcher.models import Channel

__all__ = ["REASON_MAX", "SendOutcome", "Sender", "ServiceOutcome", "apprise_send"]

# HTTP 4xx that refuse the channel (credentials, target), not the message; 408 and
# 429 mean "later". These are retried with backoff like an outage.
_CHANNEL_STATUSES = frozenset({401, 403, 404, 407, 408, 429})
# SMTP replies about the login, not the message.
_SMTP_AUTH_CODES = frozenset({454, 530, 534, 535, 538})
_HTTP_STATUS = re.compile(r"error=(\d{3})\b")
_SMTP_EXCEPTION = re.compile(r"Socket Exception: (.*)", re.DOTALL)
REASON_MAX = 300  # characters of a failure reason kept in the outbox


@dataclass(frozen=True)
class ServiceOutcome:
    """What one Apprise service of a channel did with the message(s).

    `refused`: the service refused the message for what it is (see the module
    docstring); another form of it may pass, the same form never will.
    """

    service: str  # Apprise's service name and privacy-masked URL, redacted
    delivered: bool
    reason: str = ""
    refused: bool = False


@dataclass(frozen=True)
class SendOutcome:
    """The result of sending message(s) through one channel: per service, and overall."""

    services: tuple[ServiceOutcome, ...] = ()
    reason: str = ""

    @property
    def delivered(self) -> bool:
        """True only when every service of the channel accepted every message."""
        return bool(self.services) and all(s.delivered for s in self.services)

    @property
    def refused(self) -> bool:
        """True when every service that did not deliver refused the message itself."""
        failing = [s for s in self.services if not s.delivered]
        return bool(failing) and all(s.refused for s in failing)

    @classmethod
    def failed(cls, reason: str) -> SendOutcome:
        """A send that failed before any service could be asked."""
        return cls((), reason)


Sender = Callable[[Channel, Sequence[Rendered]], SendOutcome]


def _service_delivered(result: object) -> bool:
    """Whether the service's last attempt succeeded.

    Not `bool(result)`: Apprise counts a service with `?optional=yes` as a success
    even when it failed, and a lost alert is exactly what the outbox must prevent.
    """
    from apprise.result import AppriseResultStatus

    attempts = getattr(result, "attempts", ())
    return bool(attempts) and attempts[-1].status == AppriseResultStatus.SUCCESS


def _smtp_reply(detail: str) -> tuple[int | None, str, bool]:
    """(code, text, about the message) from the text of an smtplib exception.

    smtplib's exceptions print as `(554, b'5.7.1 refused')` (the reply to DATA, or to
    AUTH), `(550, b'…', 'from@…')` (MAIL FROM refused) or `{'to@…': (550, b'…')}`
    (every RCPT refused); only the first is about the message itself.
    """
    try:
        value = ast.literal_eval(detail.strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None, detail.strip(), False
    about_message = isinstance(value, tuple) and len(value) == 2
    if isinstance(value, dict) and value:
        value = next(iter(value.values()))
    if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[0], int):
        text = value[1].decode("utf-8", "replace") if isinstance(value[1], bytes) else str(value[1])
        code = value[0]
        return code, " ".join(text.split()), about_message and code not in _SMTP_AUTH_CODES
    return None, detail.strip(), False


def _diagnose(result: object) -> tuple[str, bool]:
    """A failed service's reason, as a person reads it, with the server's own reply,
    and whether the service refused the message itself (see the module docstring)."""
    entries = list(getattr(result, "logs", lambda: [])())
    problems = [e.message for e in entries if e.level in ("WARNING", "ERROR", "CRITICAL")]
    reason = "; ".join(problems[-2:]) or "the service did not accept the message"
    for entry in reversed(entries):
        smtp = _SMTP_EXCEPTION.search(entry.message)
        if smtp is None:
            continue
        code, text, about_message = _smtp_reply(smtp.group(1))
        if code is None:
            # A connection-level error: say where (the warning) and why (this).
            return f"{reason}: {text}", False
        refused = about_message and 500 <= code < 600
        return f"the mail server answered: {code} {text}", refused
    statuses = [int(m.group(1)) for p in problems for m in [_HTTP_STATUS.search(p)] if m]
    if statuses:
        status = statuses[-1]
        return reason, 400 <= status < 500 and status not in _CHANNEL_STATUSES
    return reason, False


def _fold_email_headers() -> None:
    """Make Apprise's email plugin fold long headers (RFC 5322: lines of 998 octets).

    The plugin sets `Subject` to `email.header.Header(subject, "utf-8")` and serialises
    the message with `Message.as_string()`, whose default `maxheaderlen=0` turns folding
    off: a Khmer subject goes out as one RFC 2047 encoded word of over 1,000 octets, and
    a strict server refuses the whole mail. No option of the plugin changes that, and a
    subject pre-encoded by us is cut at the plugin's 250-character title limit. So the
    plugin's `Header` (its module global, nothing else) becomes one whose `encode()`
    folds non-ASCII text at 76 characters when asked not to fold; the text is unchanged,
    only split into encoded words of at most 75 characters on continuation lines. The bodies need
    nothing: the plugin encodes them quoted-printable in lines of 76.
    """
    from email.header import Header

    from apprise.plugins.email import base

    if getattr(base.Header, "folds_for_watcher", False):
        return

    class FoldingHeader(Header):
        folds_for_watcher = True

        def encode(
            self, splitchars: str = ";, \t", maxlinelen: int | None = None, linesep: str = "\n"
        ) -> str:
            if not maxlinelen:
                # ASCII (a subject of at most 150 characters) stays on one line;
                # encoded words must be at most 75 characters (RFC 2047), so fold.
                maxlinelen = 998 if str(self).isascii() else 76
            return super().encode(splitchars, maxlinelen, linesep)

    base.Header = FoldingHeader  # type: ignore[misc]


def apprise_send(channel: Channel, messages: Sequence[Rendered]) -> SendOutcome:
    """Send messages through one channel's own Apprise object, reporting per service.

    Blocking: call it in a thread. A service counts as delivered only if it accepted
    every message; every reason is redacted of the channel's secrets and carries the
    server's own reply where there is one. Never raises: an unexpected error in Apprise
    is a failed send, kept in the outbox for retry.
    """
    # Imported here, not at the top: most `watcher once` runs send nothing, and Apprise
    # with its plugins is the largest import left on that path (docs/performance.md).
    import apprise

    from watcher.logs import let_library_debug_through

    secrets = secrets_of(channel)
    try:
        _fold_email_headers()
        let_library_debug_through("apprise")
        app = apprise.Apprise()
        if not app.add(channel.url) or len(app) == 0:
            return SendOutcome.failed("Apprise does not accept this channel URL")
        names = [redact(f"{s.service_name} {s.url(privacy=True)}", secrets) for s in app]
        delivered = [True] * len(names)
        reasons = [""] * len(names)
        refused = [False] * len(names)
        for message in messages:
            fmt = (
                apprise.NotifyFormat.HTML
                if message.body_format == "html"
                else apprise.NotifyFormat.TEXT
            )
            # DEBUG: the email plugin logs the server's reply (`554 …`) only there.
            result = app.notify(
                body=message.body,
                title=message.title,
                body_format=fmt,
                notify_type=apprise.NotifyType(message.notify_type),
                log_level=logging.DEBUG,
            )
            services = list(result)
            if len(services) != len(names):
                # Not one result per service (e.g. a notify that never dispatched):
                # nothing can be counted as delivered.
                problems = [
                    e.message
                    for e in getattr(result, "call_logs", lambda: [])()
                    if e.level in ("WARNING", "ERROR", "CRITICAL")
                ]
                reason = "; ".join(problems[-2:]) or "Apprise did not send the message"
                return SendOutcome.failed(redact(reason, secrets)[:REASON_MAX])
            for i, service in enumerate(services):
                if delivered[i] and not _service_delivered(service):
                    delivered[i] = False
                    reasons[i], refused[i] = _diagnose(service)
        outcomes = tuple(
            ServiceOutcome(name, ok, redact(why, secrets)[:REASON_MAX], no)
            for name, ok, why, no in zip(names, delivered, reasons, refused, strict=True)
        )
        failing = [o.reason for o in outcomes if not o.delivered]
        return SendOutcome(outcomes, "; ".join(failing)[:REASON_MAX])
    except Exception as exc:  # a plugin bug must not leave the row `sending` or leak the URL
        return SendOutcome.failed(redact(f"Apprise error: {type(exc).__name__}: {exc}", secrets))
