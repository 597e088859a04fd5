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

import asyncio
import dataclasses
import logging
from collections import defaultdict
from collections.abc import Callable
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
from watcher.delivery.transport import REASON_MAX, Sender, SendOutcome, apprise_send
from watcher.logs import redact, redaction_filter, secrets_of
from watcher.models import Alert, Channel, Config, Severity
from watcher.store.sqlite import Delivery, Store

__all__ = ["Deliverer", "DeliveryReport", "tell_admin"]

log = logging.getLogger("watcher.delivery")


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
        reason = reason[:REASON_MAX]
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
