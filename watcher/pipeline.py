"""One poll of one source, end to end: fetch → parse → identify → match → record.

This is the I/O shell around the pure decisions (identity, matching, dedup,
routing). The recording step is one transaction with no await inside it, so two
sources carrying the same story in the same cycle cannot both alert it, and an
item is never marked seen unless its alert and outbox rows commit with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from watcher.dedup import eligible, fresh_matches
from watcher.fetch import Conditional, Fetcher
from watcher.identity import canonical_url, clean_url, content_hash, item_key
from watcher.matching import Matcher
from watcher.models import Alert, Config, FetchResult, Item, Match, Source
from watcher.routing import due_time, route
from watcher.sources import SourceError, parse_items
from watcher.store import KnownItem, Store

log = logging.getLogger("watcher.pipeline")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real clock (aware, UTC); tests inject their own."""
    return datetime.now(UTC)


@dataclass
class PollReport:
    """What one poll of one source did, for the console and the logs."""

    source: str
    status: str = "ok"  # ok | not-modified | error | waiting
    error: str | None = None
    items: int = 0
    new_items: int = 0
    changed_items: int = 0
    alerts: list[tuple[int, Alert]] = field(default_factory=list)


@dataclass(frozen=True)
class _Observed:
    item: Item
    key: str
    hash: str
    known: KnownItem | None
    matches: tuple[Match, ...]


class Pipeline:
    """Polls sources for one config against one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher,
        matcher: Matcher | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.matcher = matcher or Matcher(config.watchlists)
        self.clock = clock
        self.tz = ZoneInfo(config.settings.timezone)

    async def poll_all(self, sources: Sequence[Source] | None = None) -> list[PollReport]:
        """Poll every source once, concurrently; one failing source affects no other."""
        chosen = list(self.config.sources if sources is None else sources)
        return list(await asyncio.gather(*(self.poll(s) for s in chosen)))

    async def poll(self, source: Source) -> PollReport:
        """Poll one source and record what it brought. Never raises for source trouble."""
        report = PollReport(source=source.name)
        now = self.clock()
        state = self.store.source_state(source.name)
        if state.retry_after and state.retry_after > now:
            report.status = "waiting"
            report.error = f"server asked to wait until {state.retry_after:%Y-%m-%d %H:%M} UTC"
            return report
        result = await self.fetcher.fetch(
            source.url,
            Conditional(state.etag, state.last_modified),
            proxy=source.proxy,
        )
        if result.error is not None:
            return self._failed(source, report, result.error, result.retry_after)
        if result.not_modified:
            self.store.record_success(
                source.name,
                source.url,
                self.clock(),
                etag=result.etag or state.etag,
                last_modified=result.last_modified or state.last_modified,
            )
            report.status = "not-modified"
            return report
        try:
            items = await asyncio.to_thread(parse_items, source, result)
        except SourceError as exc:
            return self._failed(source, report, str(exc), None)
        except Exception as exc:  # a parser bug must not take the other sources down
            log.exception("event=parser-crash source=%s", source.name)
            return self._failed(source, report, f"could not parse: {type(exc).__name__}", None)
        keyed: dict[str, Item] = {}
        for item in items:
            keyed.setdefault(item_key(item), item)  # a repeated key: first entry wins
        known = self.store.known_items(source.name, list(keyed))
        observed = await asyncio.to_thread(self._observe, source, keyed, known)
        self._record(source, result, observed, report)
        report.items = len(keyed)
        return report

    def _failed(
        self, source: Source, report: PollReport, error: str, retry_after: datetime | None
    ) -> PollReport:
        self.store.record_failure(source.name, source.url, self.clock(), error, retry_after)
        log.warning("event=source-error source=%s error=%r", source.name, error)
        report.status = "error"
        report.error = error
        return report

    def _observe(
        self, source: Source, keyed: dict[str, Item], known: dict[str, KnownItem]
    ) -> list[_Observed]:
        """Match the new or changed items (CPU work, run off the event loop)."""
        observed = []
        for key, item in keyed.items():
            digest = content_hash(item)
            previous = known.get(key)
            if previous is not None and previous.content_hash == digest:
                continue  # unchanged since last poll: nothing to decide
            matches = self.matcher.match(item.text, source.name)
            observed.append(_Observed(item, key, digest, previous, matches))
        return observed

    def _record(
        self,
        source: Source,
        result: FetchResult,
        observed: list[_Observed],
        report: PollReport,
    ) -> None:
        now = self.clock()
        settings = self.config.settings
        new_count = sum(1 for o in observed if o.known is None)
        with self.store.atomic():
            first_poll = not self.store.has_items(source.name)
            for obs in observed:
                item = obs.item
                canonical = canonical_url(item.link) if item.link else None
                story_id = obs.known.story_id if obs.known else None
                if story_id is None and canonical:
                    story_id = self.store.story_by_canonical(canonical)
                if story_id is None:
                    story_id = self.store.new_story(canonical, item.title, now)
                item_id = self.store.save_item(
                    known=obs.known,
                    source=source.name,
                    key=obs.key,
                    guid=item.guid,
                    link=item.link,
                    canonical=canonical,
                    title=item.title,
                    text=item.text,
                    published=item.when,
                    content_hash=obs.hash,
                    story_id=story_id,
                    now=now,
                )
                if not obs.matches:
                    continue
                why_not = eligible(item, first_poll=first_poll, now=now, max_age=settings.max_age)
                if why_not:
                    log.info(
                        "event=not-alerted source=%s item=%r reason=%r",
                        source.name,
                        item.title[:80],
                        why_not,
                    )
                    continue
                matches = fresh_matches(obs.matches, self.store.story_alerts(story_id))
                if not matches:
                    continue
                others = tuple(s for s in self.store.story_sources(story_id) if s != source.name)
                alert = Alert(
                    title=item.title or "(untitled)",
                    link=clean_url(item.link) if item.link else source.url,
                    source=source.name,
                    matches=matches,
                    published=item.when,
                    also_reported_by=others,
                )
                alert_id = self.store.add_alert(
                    story_id=story_id, item_id=item_id, alert=alert, now=now
                )
                for channel, names in route(alert, self.config.channels):
                    severity = max(m.severity for m in matches if m.watchlist in names)
                    held = self.store.digest_held_until(channel.name)
                    due = due_time(channel, severity, now, self.tz, held)
                    self.store.enqueue(
                        channel=channel.name, now=now, due=due, alert_id=alert_id, watchlists=names
                    )
                report.alerts.append((alert_id, alert))
                log.info(
                    "event=alert source=%s item=%r watchlists=%s",
                    source.name,
                    alert.title[:80],
                    ",".join(m.watchlist for m in matches),
                )
            self.store.record_success(
                source.name,
                source.url,
                now,
                etag=result.etag,
                last_modified=result.last_modified,
                new_items=new_count,
                moved_to=None,
            )
        report.new_items = new_count
        report.changed_items = len(observed) - new_count
