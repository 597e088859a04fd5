"""Delivering the outbox through Apprise (SPEC §7).

Each channel has its own Apprise object, so one channel's failure never makes
another's message look failed and get re-sent. A delivery is claimed
(`sending`) and committed before the send; it is marked sent only after Apprise
reports success for every service of the channel. A crash between the two
leaves it `sending`, and `Store.recover()` puts it back: at most one duplicate,
never a loss.

Within one round a channel that fails is tried once: the rest of its due
deliveries wait with the failed one (same next attempt), so a channel that is
down costs one timeout per round, not one per message, and never holds up the
other channels, which run concurrently.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from watcher.delivery.messages import (
    Rendered,
    channel_kind,
    format_time,
    render_alert,
    render_digest,
    render_notice,
)
from watcher.delivery.routing import retry_delay
from watcher.models import Alert, Channel, Config, Severity
from watcher.store.sqlite import Delivery, Store

log = logging.getLogger("watcher.delivery")

_SPLIT = re.compile(r"[/:@?&=#,]+")
_ENV_REFERENCE = re.compile(r"\$\{[^}]*\}")
# Fewer characters than this are not worth hiding (and hiding "80" or "yes" would
# garble every log line); real tokens, passwords and phone numbers are longer.
_MIN_SECRET = 4


@dataclass(frozen=True)
class ServiceOutcome:
    """What one Apprise service of a channel did with the message(s)."""

    service: str  # Apprise's service name and privacy-masked URL, redacted
    delivered: bool
    reason: str = ""


@dataclass(frozen=True)
class SendOutcome:
    """The result of sending message(s) through one channel: per service, and overall."""

    services: tuple[ServiceOutcome, ...] = ()
    reason: str = ""

    @property
    def delivered(self) -> bool:
        """True only when every service of the channel accepted every message."""
        return bool(self.services) and all(s.delivered for s in self.services)

    @classmethod
    def failed(cls, reason: str) -> SendOutcome:
        """A send that failed before any service could be asked."""
        return cls((), reason)


Sender = Callable[[Channel, Sequence[Rendered]], SendOutcome]


def secrets_of(channel: Channel) -> set[str]:
    """Parts of a channel URL that must never be shown: every value that came from
    the environment (as written and percent-decoded, as Apprise may log it), its
    pieces between URL delimiters, and any password written into the URL itself."""
    found: set[str] = set()
    literal = re.escape
    pieces = _ENV_REFERENCE.split(channel.url_template)
    if len(pieces) > 1:
        # The template with each ${VAR} as a group: the groups are the exact values.
        pattern = "(.*?)".join(literal(p) for p in pieces)
        match = re.fullmatch(pattern, channel.url, re.DOTALL)
        if match:
            found.update(g for g in match.groups() if g)
    template_tokens = set(_SPLIT.split(channel.url_template))
    found.update(t for t in _SPLIT.split(channel.url) if t not in template_tokens)
    userinfo = re.match(r"^[a-z0-9+.-]+://([^/@]+)@", channel.url, re.IGNORECASE)
    if userinfo:
        found.update(userinfo.group(1).split(":")[1:])  # the password, not the user name
    # Apprise decodes %XX in user names and passwords before it uses (or logs) them.
    found.update({unquote(s) for s in found})
    return {s for s in found if len(s) >= _MIN_SECRET}


def redact(text: str, secrets: set[str]) -> str:
    """`text` with every secret replaced by `***` (longest first)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _service_delivered(result: object) -> bool:
    """Whether the service's last attempt succeeded.

    Not `bool(result)`: Apprise counts a service with `?optional=yes` as a success
    even when it failed, and a lost alert is exactly what the outbox must prevent.
    """
    from apprise.result import AppriseResultStatus

    attempts = getattr(result, "attempts", ())
    return bool(attempts) and attempts[-1].status == AppriseResultStatus.SUCCESS


def _problems(result: object) -> str:
    entries = [
        entry.message
        for entry in getattr(result, "logs", lambda: [])()
        if entry.level in ("WARNING", "ERROR", "CRITICAL")
    ]
    return "; ".join(entries[-2:])


def apprise_send(channel: Channel, messages: Sequence[Rendered]) -> SendOutcome:
    """Send messages through one channel's own Apprise object, reporting per service.

    Blocking: call it in a thread. A service counts as delivered only if it accepted
    every message; every reason is redacted of the channel's secrets. Never raises:
    an unexpected error in Apprise is a failed send, kept in the outbox for retry.
    """
    # Imported here, not at the top: most `watcher once` runs send nothing, and Apprise
    # with its plugins is the largest import left on that path (docs/performance.md).
    import apprise

    secrets = secrets_of(channel)
    try:
        app = apprise.Apprise()
        if not app.add(channel.url) or len(app) == 0:
            return SendOutcome.failed("Apprise does not accept this channel URL")
        names = [redact(f"{s.service_name} {s.url(privacy=True)}", secrets) for s in app]
        delivered = [True] * len(names)
        reasons = [""] * len(names)
        for message in messages:
            fmt = (
                apprise.NotifyFormat.HTML
                if message.body_format == "html"
                else apprise.NotifyFormat.TEXT
            )
            result = app.notify(body=message.body, title=message.title, body_format=fmt)
            services = list(result)
            if len(services) != len(names):
                # Not one result per service (e.g. a notify that never dispatched):
                # nothing can be counted as delivered.
                reason = _problems(result) or "Apprise did not send the message"
                return SendOutcome.failed(redact(reason, secrets)[:300])
            for i, service in enumerate(services):
                if delivered[i] and not _service_delivered(service):
                    delivered[i] = False
                    reasons[i] = _problems(service) or "the service did not accept the message"
        outcomes = tuple(
            ServiceOutcome(name, ok, redact(why, secrets)[:300])
            for name, ok, why in zip(names, delivered, reasons, strict=True)
        )
        failing = [o.reason for o in outcomes if not o.delivered]
        return SendOutcome(outcomes, "; ".join(failing)[:300])
    except Exception as exc:  # a plugin bug must not leave the row `sending` or leak the URL
        return SendOutcome.failed(redact(f"Apprise error: {type(exc).__name__}: {exc}", secrets))


@dataclass
class DeliveryReport:
    """What one delivery round did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
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

    def _batches(
        self, channel: Channel, deliveries: list[Delivery]
    ) -> list[tuple[list[Delivery], list[Rendered]]]:
        """Group what goes out now into messages: each notice and each immediate alert
        alone, and the digest (when one of its alerts is due) as one message."""
        kind = channel_kind(channel.url)
        batches: list[tuple[list[Delivery], list[Rendered]]] = []
        immediate: list[tuple[Delivery, Alert]] = []
        digest_due = False
        for delivery in deliveries:
            if delivery.alert_id is None:
                rendered = render_notice(
                    delivery.notice_title or "watcher", delivery.notice_body or "", kind
                )
                batches.append(([delivery], rendered))
                continue
            alert = self._alert_for(delivery)
            if alert is None:
                continue
            if self._held(channel, alert):
                digest_due = True
            else:
                immediate.append((delivery, alert))
        for delivery, alert in immediate:
            batches.append(([delivery], render_alert(alert, kind, self.tz)))
        if digest_due:
            # Everything the digest holds goes in one message, including alerts added
            # after the first one (their rows share its due time) and rows in backoff.
            held: list[tuple[Delivery, Alert]] = []
            for delivery in self.store.pending_deliveries(channel.name):
                alert = self._alert_for(delivery)
                if alert is not None and self._held(channel, alert):
                    held.append((delivery, alert))
            if held:
                batches.append(
                    ([d for d, _ in held], render_digest([a for _, a in held], kind, self.tz))
                )
        return batches

    async def _deliver_channel(
        self, channel: Channel, deliveries: list[Delivery], report: DeliveryReport
    ) -> None:
        batches = self._batches(channel, deliveries)
        gave_up: list[Delivery] = []
        reason = ""
        for index, (batch, rendered) in enumerate(batches):
            ids = [d.id for d in batch]
            if not self.store.mark_sending(ids):
                continue  # another process claimed these first and is sending them
            outcome = await asyncio.to_thread(self.sender, channel, rendered)
            now = self.clock()
            if outcome.delivered:
                self.store.mark_sent(ids, now)
                report.sent += len(ids)
                log.info("event=sent channel=%s deliveries=%d", channel.name, len(ids))
                continue
            reason = outcome.reason or "the service did not accept the message"
            attempts = max(d.attempts for d in batch) + 1
            when = now + timedelta(seconds=retry_delay(attempts))
            # The channel is failing: the rest of this round's batches wait with this
            # one instead of each costing a timeout now.
            waiting = [d for later, _ in batches[index + 1 :] for d in later]
            gave_up += self._after_failure(channel, batch + waiting, reason, now, when, report)
            break
        if gave_up:
            self._report_give_up(channel, gave_up, reason)
            report.gave_up[channel.name] = report.gave_up.get(channel.name, 0) + len(gave_up)

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
                published = format_time(alert.published, self.tz) if alert.published else ""
                lines.append(f"- {alert.title} ({alert.source} {published}) {alert.link}")
            elif delivery.notice_title:
                lines.append(f"- notice: {delivery.notice_title}")
        if len(expired) > 10:
            lines.append(f"… and {len(expired) - 10} more; see `watcher status`.")
        with self.store.atomic():
            self.store.mark_failed([d.id for d in expired], reason)
            self._tell_admin(
                f"watcher gave up on {len(expired)} message(s) to {channel.name}",
                "\n".join(lines),
                exclude=channel.name,
            )

    def _tell_admin(self, title: str, body: str, *, exclude: str | None = None) -> None:
        admin = self.config.settings.admin_channel
        if not admin or admin == exclude or self.config.channel(admin) is None:
            return
        now = self.clock()
        self.store.enqueue(channel=admin, now=now, due=now, notice_title=title, notice_body=body)
