"""Delivering the outbox through Apprise (SPEC §7).

Each channel has its own Apprise object, so one channel's failure never makes
another's message look failed and get re-sent. A delivery is claimed
(`sending`) and committed before the send; it is marked sent only after Apprise
reports success for that service. A crash between the two leaves it `sending`,
and `Store.recover()` puts it back: at most one duplicate, never a loss.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import apprise

from watcher.messages import Rendered, channel_kind, render_alert, render_digest, render_notice
from watcher.models import Alert, Channel, Config
from watcher.routing import retry_delay
from watcher.store import Delivery, Store

log = logging.getLogger("watcher.delivery")

Sender = Callable[[Channel, Sequence[Rendered]], tuple[bool, str]]

_SPLIT = re.compile(r"[/:@?&=#,]+")


def secrets_of(channel: Channel) -> set[str]:
    """Parts of a channel URL that must never be shown: every value that came from
    the environment, and any password written into the URL itself."""
    template_tokens = set(_SPLIT.split(channel.url_template))
    found = {t for t in _SPLIT.split(channel.url) if len(t) >= 4 and t not in template_tokens}
    userinfo = re.match(r"^[a-z0-9+.-]+://([^/@]+)@", channel.url, re.IGNORECASE)
    if userinfo:
        found.update(p for p in userinfo.group(1).split(":") if len(p) >= 3)
    return found


def redact(text: str, secrets: set[str]) -> str:
    """`text` with every secret replaced by `***` (longest first)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def apprise_send(channel: Channel, messages: Sequence[Rendered]) -> tuple[bool, str]:
    """Send messages through one channel's own Apprise object; (delivered, reason).

    Blocking: call it in a thread. Every message must succeed for the delivery to
    count; the reason is redacted of the channel's secrets.
    """
    app = apprise.Apprise()
    if not app.add(channel.url):
        return False, "Apprise does not accept this channel URL"
    for message in messages:
        fmt = (
            apprise.NotifyFormat.HTML
            if message.body_format == "html"
            else apprise.NotifyFormat.TEXT
        )
        result = app.notify(body=message.body, title=message.title, body_format=fmt)
        services = list(result)
        if not services or not all(bool(s) for s in services):
            reasons = [
                entry.message
                for service in services
                for entry in service.logs()
                if entry.level in ("WARNING", "ERROR", "CRITICAL")
            ]
            reason = "; ".join(reasons[-2:]) or "the service did not accept the message"
            return False, redact(reason, secrets_of(channel))[:300]
    return True, ""


@dataclass
class DeliveryReport:
    """What one delivery round did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    printed: list[tuple[str, Rendered]] | None = None


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
        return Alert(
            title=alert.title,
            link=alert.link,
            source=alert.source,
            matches=matches,
            published=alert.published,
            also_reported_by=alert.also_reported_by,
        )

    def _batches(
        self, channel: Channel, deliveries: list[Delivery]
    ) -> list[tuple[list[Delivery], list[Rendered]]]:
        kind = channel_kind(channel.url)
        batches: list[tuple[list[Delivery], list[Rendered]]] = []
        alerts: list[tuple[Delivery, Alert]] = []
        for delivery in deliveries:
            if delivery.alert_id is None:
                rendered = render_notice(
                    delivery.notice_title or "watcher", delivery.notice_body or "", kind
                )
                batches.append(([delivery], rendered))
                continue
            alert = self._alert_for(delivery)
            if alert is not None:
                alerts.append((delivery, alert))
        digested = [(d, a) for d, a in alerts if d.due > d.created]
        immediate = [(d, a) for d, a in alerts if d.due <= d.created]
        for delivery, alert in immediate:
            batches.append(([delivery], render_alert(alert, kind, self.tz)))
        if digested:
            batches.append(
                ([d for d, _ in digested], render_digest([a for _, a in digested], kind, self.tz))
            )
        return batches

    async def _deliver_channel(
        self, channel: Channel, deliveries: list[Delivery], report: DeliveryReport
    ) -> None:
        # A digest channel sends everything it holds once the earliest is due.
        if channel.digest:
            held = self.store.pending_deliveries(channel.name)
            ids = {d.id for d in deliveries}
            deliveries = deliveries + [d for d in held if d.id not in ids]
        for batch, rendered in self._batches(channel, deliveries):
            ids = [d.id for d in batch]
            self.store.mark_sending(ids)
            ok, reason = await asyncio.to_thread(self.sender, channel, rendered)
            now = self.clock()
            if ok:
                self.store.mark_sent(ids, now)
                report.sent += len(ids)
                log.info("event=sent channel=%s deliveries=%d", channel.name, len(ids))
                continue
            self._after_failure(channel, batch, reason, now, report)

    def _after_failure(
        self,
        channel: Channel,
        batch: list[Delivery],
        reason: str,
        now: datetime,
        report: DeliveryReport,
    ) -> None:
        give_up = self.config.settings.give_up
        expired = [d for d in batch if (now - d.created).total_seconds() >= give_up]
        retry = [d for d in batch if d not in expired]
        if retry:
            attempts = max(d.attempts for d in retry) + 1
            when = now + timedelta(seconds=retry_delay(attempts))
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
            self.store.mark_failed([d.id for d in expired], reason)
            report.failed += len(expired)
            log.error(
                "event=gave-up channel=%s deliveries=%d reason=%r",
                channel.name,
                len(expired),
                reason,
            )
            self._tell_admin(
                f"watcher gave up on {len(expired)} message(s) to {channel.name}",
                f"Sending to channel {channel.name} failed for longer than give_up: {reason}",
                exclude=channel.name,
            )

    def _tell_admin(self, title: str, body: str, *, exclude: str | None = None) -> None:
        admin = self.config.settings.admin_channel
        if not admin or admin == exclude or self.config.channel(admin) is None:
            return
        now = self.clock()
        self.store.enqueue(channel=admin, now=now, due=now, notice_title=title, notice_body=body)
