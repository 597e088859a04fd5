"""Delivering the outbox through Apprise (SPEC §7).

Each channel has its own Apprise object, so one channel's failure never makes
another's message look failed and get re-sent. A delivery is claimed
(`sending`) and committed before the send; it is marked sent only after Apprise
reports success for every service of the channel. A crash between the two
leaves it `sending`, and `Store.recover()` puts it back: at most one duplicate,
never a loss.

One message never holds back another. Each (alert, channel) send succeeds or fails
alone, and what happens next depends on why it failed:

- **refused** — the service answered that it will not take *this* message (an SMTP 5xx
  to the message, an HTTP 4xx other than 401/403/404/407/408/429): it is sent again at
  once in a minimal form (severity, watchlists, title, link); if that is refused too, it
  is marked failed at once and reported to the admin channel with the server's reply.
  The next message of the channel is tried as if nothing happened.
- **transient** — the service could not be reached, timed out, said "later" (429, an
  HTTP 5xx, an SMTP 4xx), or refused the *channel* (bad credentials, unknown chat or
  recipient, which every message would hit until the config is fixed): the message is
  retried with growing delays until `give_up`. The channel looks down, so its other
  due messages wait for the next try instead of each costing a timeout now; they are
  not counted as tried, and each round sends the messages tried least often first, so
  a message that keeps failing goes to the back and cannot block the others.

Channels run concurrently, so a slow or failing one never delays another.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from watcher.delivery.messages import (
    WARNING,
    Rendered,
    channel_kind,
    format_published,
    render_alert,
    render_digest,
    render_minimal,
    render_notice,
)
from watcher.delivery.routing import retry_delay
from watcher.logs import redact, redaction_filter, secrets_of
from watcher.models import Alert, Channel, Config, Severity
from watcher.store.sqlite import Delivery, Store

__all__ = [
    "Deliverer",
    "DeliveryReport",
    "SendOutcome",
    "ServiceOutcome",
    "apprise_send",
    "redact",
    "secrets_of",
    "tell_admin",
]

log = logging.getLogger("watcher.delivery")

# HTTP 4xx that refuse the channel (credentials, target), not the message; 408 and
# 429 mean "later". These are retried with backoff like an outage.
_CHANNEL_STATUSES = frozenset({401, 403, 404, 407, 408, 429})
# SMTP replies about the login, not the message.
_SMTP_AUTH_CODES = frozenset({454, 530, 534, 535, 538})
_HTTP_STATUS = re.compile(r"error=(\d{3})\b")
_SMTP_EXCEPTION = re.compile(r"Socket Exception: (.*)", re.DOTALL)
_REASON_MAX = 300


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
                return SendOutcome.failed(redact(reason, secrets)[:_REASON_MAX])
            for i, service in enumerate(services):
                if delivered[i] and not _service_delivered(service):
                    delivered[i] = False
                    reasons[i], refused[i] = _diagnose(service)
        outcomes = tuple(
            ServiceOutcome(name, ok, redact(why, secrets)[:_REASON_MAX], no)
            for name, ok, why, no in zip(names, delivered, reasons, refused, strict=True)
        )
        failing = [o.reason for o in outcomes if not o.delivered]
        return SendOutcome(outcomes, "; ".join(failing)[:_REASON_MAX])
    except Exception as exc:  # a plugin bug must not leave the row `sending` or leak the URL
        return SendOutcome.failed(redact(f"Apprise error: {type(exc).__name__}: {exc}", secrets))


def tell_admin(
    config: Config,
    store: Store,
    now: datetime,
    title: str,
    body: str,
    *,
    exclude: str | None = None,
) -> bool:
    """Queue one notice for the admin channel; the one way watcher tells the admin.

    Used by delivery (give-ups, refused messages), the daemon (refused reloads) and
    health (stale sources). Title and body are always redacted of every channel's
    secrets and of every secret the log filter knows. Returns False, queuing nothing,
    when there is no admin channel (or it is `exclude`, the channel that is failing);
    the caller's log line is then the only record. Call inside the caller's
    transaction when the notice must be atomic with a state change.
    """
    admin = config.settings.admin_channel
    if not admin or admin == exclude or config.channel(admin) is None:
        return False
    secrets = {s for c in config.channels for s in secrets_of(c)}
    secrets |= set(redaction_filter().secrets)
    store.enqueue(
        channel=admin,
        now=now,
        due=now,
        notice_title=redact(title, secrets),
        notice_body=redact(body, secrets),
    )
    return True


@dataclass(frozen=True)
class _Batch:
    """Deliveries that go out as one message (one alert, one notice, or a digest), the
    message(s) they are, and their minimal form for a retry after a refusal."""

    deliveries: list[Delivery]
    rendered: list[Rendered]
    minimal: list[Rendered]
    alerts: list[Alert]


@dataclass
class DeliveryReport:
    """What one delivery round did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    refused: int = 0  # of `failed`: refused in full and in minimal form
    minimal: int = 0  # of `sent`: sent in minimal form after a refusal
    printed: list[tuple[str, Rendered]] | None = None
    gave_up: dict[str, int] = field(default_factory=dict)


class Deliverer:
    """Sends what is due in the outbox, one task per channel."""

    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Callable[[], datetime],
        sender: Sender = apprise_send,
        *,
        skip_backoff: bool = False,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.sender = sender
        self.skip_backoff = skip_backoff
        self.tz = ZoneInfo(config.settings.timezone)

    async def deliver_due(self) -> DeliveryReport:
        """Send every due delivery; failures are rescheduled, never dropped."""
        report = DeliveryReport()
        by_channel: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in self.store.due_deliveries(self.clock(), skip_backoff=self.skip_backoff):
            by_channel[delivery.channel].append(delivery)
        tasks = []
        for name, deliveries in by_channel.items():
            channel = self.config.channel(name)
            if channel is None:
                # The channel was removed from the config: keep its rows pending
                # (shown by `status`) rather than dropping alerts silently.
                continue
            tasks.append(self._deliver_channel(channel, deliveries, report))
        await asyncio.gather(*tasks)
        return report

    def _alert_for(self, delivery: Delivery) -> Alert | None:
        if delivery.alert_id is None:
            return None
        stored = self.store.get_alert(delivery.alert_id)
        if stored is None:
            return None
        alert = stored.alert
        wanted = set(delivery.watchlists)
        matches = tuple(m for m in alert.matches if m.watchlist in wanted) or alert.matches
        return dataclasses.replace(alert, matches=matches)

    @staticmethod
    def _held(channel: Channel, alert: Alert) -> bool:
        """Whether a digest holds this alert (routing.due_time's rule: never an urgent one)."""
        return bool(channel.digest.strip()) and alert.severity < Severity.URGENT

    def _batches(self, channel: Channel, deliveries: list[Delivery]) -> list[_Batch]:
        """Group what goes out now into messages: each notice and each immediate alert
        alone, and the digest (when one of its alerts is due) as one message."""
        kind = channel_kind(channel.url)
        batches: list[_Batch] = []
        immediate: list[tuple[Delivery, Alert]] = []
        digest_due = False
        for delivery in deliveries:
            if delivery.alert_id is None:
                title = delivery.notice_title or "watcher"
                body = delivery.notice_body or ""
                rendered = render_notice(title, body, kind, WARNING)
                first = next((line for line in body.splitlines() if line.strip()), "")
                minimal = render_notice(title, first, kind, WARNING)
                batches.append(_Batch([delivery], rendered, minimal, []))
                continue
            alert = self._alert_for(delivery)
            if alert is None:
                continue
            if self._held(channel, alert):
                digest_due = True
            else:
                immediate.append((delivery, alert))
        for delivery, alert in immediate:
            batches.append(
                _Batch(
                    [delivery],
                    render_alert(alert, kind, self.tz),
                    render_minimal([alert], kind),
                    [alert],
                )
            )
        if digest_due:
            # Everything the digest holds goes in one message, including alerts added
            # after the first one (their rows share its due time) and rows in backoff.
            held: list[tuple[Delivery, Alert]] = []
            for delivery in self.store.pending_deliveries(channel.name):
                alert = self._alert_for(delivery)
                if alert is not None and self._held(channel, alert):
                    held.append((delivery, alert))
            if held:
                alerts = [a for _, a in held]
                batches.append(
                    _Batch(
                        [d for d, _ in held],
                        render_digest(alerts, kind, self.tz),
                        render_minimal(alerts, kind),
                        alerts,
                    )
                )
        return batches

    async def _deliver_channel(
        self, channel: Channel, deliveries: list[Delivery], report: DeliveryReport
    ) -> None:
        # Least-tried first (stable: oldest first among equals), so a message that
        # failed waits behind those that have not been tried yet.
        batches = sorted(
            self._batches(channel, deliveries),
            key=lambda b: max(d.attempts for d in b.deliveries),
        )
        gave_up: list[Delivery] = []
        reason = ""
        for index, batch in enumerate(batches):
            ids = [d.id for d in batch.deliveries]
            if not self.store.mark_sending(ids):
                continue  # another process claimed these first and is sending them
            outcome = await asyncio.to_thread(self.sender, channel, batch.rendered)
            if not outcome.delivered and outcome.refused:
                retried = await self._after_refusal(channel, batch, outcome, report)
                if retried is None:
                    continue  # sent in minimal form, or failed for good: the channel works
                outcome = retried
            now = self.clock()
            if outcome.delivered:
                self.store.mark_sent(ids, now)
                report.sent += len(ids)
                log.info("event=sent channel=%s deliveries=%d", channel.name, len(ids))
                continue
            reason = outcome.reason or "the service did not accept the message"
            attempts = max(d.attempts for d in batch.deliveries) + 1
            when = now + timedelta(seconds=retry_delay(attempts))
            gave_up += self._after_failure(channel, batch.deliveries, reason, now, when, report)
            # A transient failure: the channel looks down. The rest of this round's
            # messages wait for the next try instead of each costing a timeout now; each
            # is still sent on its own then, and none is counted as tried.
            waiting = [d for later in batches[index + 1 :] for d in later.deliveries]
            gave_up += self._after_failure(channel, waiting, reason, now, when, report)
            break
        if gave_up:
            self._report_give_up(channel, gave_up, reason)
            report.gave_up[channel.name] = report.gave_up.get(channel.name, 0) + len(gave_up)

    async def _after_refusal(
        self, channel: Channel, batch: _Batch, first: SendOutcome, report: DeliveryReport
    ) -> SendOutcome | None:
        """A message the service refused for what it is: send it once in minimal form;
        refused again, mark it failed at once and report it (SPEC §7).

        Returns None when that settled it, else the minimal send's (transient) outcome,
        for the usual backoff.
        """
        ids = [d.id for d in batch.deliveries]
        log.warning(
            "event=send-refused channel=%s deliveries=%d action=retry-minimal reason=%r",
            channel.name,
            len(ids),
            first.reason,
        )
        second = await asyncio.to_thread(self.sender, channel, batch.minimal)
        now = self.clock()
        if second.delivered:
            self.store.mark_sent(ids, now)
            report.sent += len(ids)
            report.minimal += len(ids)
            log.warning("event=sent-minimal channel=%s deliveries=%d", channel.name, len(ids))
            return None
        if not second.refused:
            return second
        reason = f"refused: {first.reason}"
        if second.reason and second.reason != first.reason:
            reason += f"; minimal form refused too: {second.reason}"
        reason = reason[:_REASON_MAX]
        report.failed += len(ids)
        report.refused += len(ids)
        log.error(
            "event=refused channel=%s deliveries=%d reason=%r", channel.name, len(ids), reason
        )
        with self.store.atomic():
            self.store.mark_failed(ids, reason)
            if batch.alerts:
                # Not for a refused notice: reporting it would queue another notice,
                # which could be refused in turn.
                self._report_refused(channel, batch, reason, now)
        return None

    def _alert_line(self, alert: Alert) -> str:
        published = format_published(alert.published, self.tz) if alert.published else ""
        return f"- {alert.title} ({alert.source} {published}".rstrip() + f") {alert.link}"

    def _report_refused(self, channel: Channel, batch: _Batch, reason: str, now: datetime) -> None:
        lines = [
            f"The service behind channel {channel.name} refused this message, in full and "
            "again in a short form, so it was NOT delivered there and will not be retried.",
            f"Reason: {reason}",
        ]
        lines += [self._alert_line(a) for a in batch.alerts[:10]]
        if len(batch.alerts) > 10:
            lines.append(f"… and {len(batch.alerts) - 10} more; see `watcher status`.")
        lines.append(f"Other messages to {channel.name} are not affected.")
        tell_admin(
            self.config,
            self.store,
            now,
            f"watcher: a message to {channel.name} was refused",
            "\n".join(lines),
        )

    def _after_failure(
        self,
        channel: Channel,
        batch: list[Delivery],
        reason: str,
        now: datetime,
        when: datetime,
        report: DeliveryReport,
    ) -> list[Delivery]:
        """Reschedule failed deliveries for `when`, or fail those older than `give_up`.

        Age counts from when a delivery became due, so a daily digest held for a day
        is not given up the moment it is first tried. Returns the deliveries given up.
        """
        give_up = self.config.settings.give_up
        expired = [d for d in batch if (now - d.due).total_seconds() >= give_up]
        retry = [d for d in batch if d not in expired]
        if retry:
            self.store.mark_retry([d.id for d in retry], when, reason)
            report.retrying += len(retry)
            log.warning(
                "event=send-failed channel=%s deliveries=%d retry_at=%s reason=%r",
                channel.name,
                len(retry),
                when.isoformat(timespec="seconds"),
                reason,
            )
        if expired:
            report.failed += len(expired)
            log.error(
                "event=gave-up channel=%s deliveries=%d reason=%r",
                channel.name,
                len(expired),
                reason,
            )
        return expired

    def _report_give_up(self, channel: Channel, expired: list[Delivery], reason: str) -> None:
        """Mark deliveries failed and, in the same transaction, queue one notice for the
        admin channel: a crash can neither lose the report nor send it twice."""
        lines = [
            f"Sending to channel {channel.name} failed for longer than give_up; "
            f"{len(expired)} message(s) were NOT delivered there.",
            f"Last error: {reason}",
        ]
        for delivery in expired[:10]:
            alert = self._alert_for(delivery)
            if alert is not None:
                lines.append(self._alert_line(alert))
            elif delivery.notice_title:
                lines.append(f"- notice: {delivery.notice_title}")
        if len(expired) > 10:
            lines.append(f"… and {len(expired) - 10} more; see `watcher status`.")
        with self.store.atomic():
            self.store.mark_failed([d.id for d in expired], reason)
            tell_admin(
                self.config,
                self.store,
                self.clock(),
                f"watcher gave up on {len(expired)} message(s) to {channel.name}",
                "\n".join(lines),
                exclude=channel.name,
            )
