"""One poll of one source, end to end: fetch → parse → identify → match → record.

This is the I/O shell around the pure decisions (identity, matching, dedup,
routing). The recording step is one transaction with no await inside it, so two
sources carrying the same story in the same cycle cannot both alert it, and an
item is never marked seen unless its alert and outbox rows commit with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from watcher.fetch.client import GLOBAL_LIMIT, Conditional, Fetcher
from watcher.fetch.fulltext import Page, fetch_pages
from watcher.identity.dedup import eligible
from watcher.identity.keys import (
    canonical_url,
    content_hash,
    fresh_key,
    key_items,
    resolve_known,
)
from watcher.matching import Matcher
from watcher.models import Alert, Config, FetchResult, Item, Source
from watcher.pipeline.analysis import Analysis, Job, analyse, matched_text
from watcher.pipeline.plan import Observed, plan_poll
from watcher.pipeline.pool import ParsePool
from watcher.sources import SourceError, parse_document, parse_listing
from watcher.sources.limits import TEXT_MAX
from watcher.store import evidence
from watcher.store.records import LeaseLost, StoreUnavailable
from watcher.store.sqlite import KnownItem, SourceState, Store

log = logging.getLogger("watcher.pipeline")

Clock = Callable[[], datetime]

POLLS_AT_ONCE = GLOBAL_LIMIT  # polls in progress at once in poll_all (`watcher once`)
GROUP_COMMIT = 1.0  # seconds: poll_all's polls recorded within this share a commit


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


# The poll's new or changed items, as the planner takes them.
_Observed = Observed


class Pipeline:
    """Polls sources for one config against one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher,
        matcher: Matcher | None = None,
        clock: Clock = utcnow,
        parse_pool: ParsePool | None = None,
        *,
        share: bool = False,
    ) -> None:
        self.config = config
        # Several instances on one database (SPEC §11): a daemon leaves a source that
        # another instance polled less than half an interval ago to that instance.
        self.share = share
        # Feed bodies are parsed in worker processes when given one (watcher.pipeline.pool).
        self.parse_pool = parse_pool
        self.store = store
        self.fetcher = fetcher
        self._matcher = matcher  # compiled when first needed: with a pool, workers match
        self.clock = clock
        self.tz = ZoneInfo(config.settings.timezone)

    @property
    def matcher(self) -> Matcher:
        """The compiled watchlists, for matching in this process."""
        if self._matcher is None:
            self._matcher = Matcher(self.config.watchlists)
        return self._matcher

    async def poll_all(self, sources: Sequence[Source] | None = None) -> list[PollReport]:
        """Poll every source once, concurrently; one failing source affects no other."""
        chosen = list(self.config.sources if sources is None else sources)
        # As many polls at once as the fetcher makes requests at once: more would only
        # hold fetched bodies in memory while they wait for a worker to parse them.
        gate = asyncio.Semaphore(POLLS_AT_ONCE)
        # Every source's state in one query rather than one each (a steady cycle is
        # mostly 304s, whose whole cost is this bookkeeping). Not when instances share
        # the state: another may poll a source between this read and our claim.
        states = {} if self.share else self.store.all_source_states()

        async def poll(source: Source) -> PollReport:
            async with gate:
                return await self.poll(source, states.pop(source.name, None))

        async def flush_now_and_then() -> None:
            while True:
                await asyncio.sleep(GROUP_COMMIT)
                self.store.flush()

        # Polls recorded within GROUP_COMMIT seconds share one commit (Store.grouped).
        with self.store.grouped(GROUP_COMMIT):
            flusher = asyncio.create_task(flush_now_and_then())
            try:
                return list(await asyncio.gather(*(poll(s) for s in chosen)))
            finally:
                flusher.cancel()

    async def poll(self, source: Source, state: SourceState | None = None) -> PollReport:
        """Poll one source and record what it brought. Never raises: a source problem
        is recorded with its reason, and so is anything unexpected (a bug, a locked or
        full database), so that it cancels neither the other polls nor the daemon's job.

        The source is claimed first (a lease, SPEC §11: one instance polls a source at
        a time); with one SQLite state every claim succeeds. `state`: the source's
        stored state when the caller already read it (`poll_all`); else it is read here.
        """
        report = PollReport(source=source.name)
        try:
            claimed = self.store.claim_source(
                source.name,
                source.url,
                self.clock(),
                fresh_within=source.interval / 2 if self.share else 0.0,
            )
        except Exception as exc:  # the database is unreachable: nothing can be recorded
            log.warning("event=database-error source=%s error=%r", source.name, str(exc)[:200])
            report.status, report.error = "error", f"state database unavailable: {exc}"[:300]
            return report
        if not claimed:
            report.status, report.error = "waiting", "another instance is polling it"
            return report
        try:
            return await self._poll_claimed(source, state)
        finally:
            self.store.release_source(source.name)

    async def _poll_claimed(self, source: Source, state: SourceState | None) -> PollReport:
        try:
            return await self._poll(source, state)
        except LeaseLost as exc:
            # Our lease lapsed and another instance took the source over: what this
            # poll found is discarded (rolled back), that instance records its own.
            log.warning("event=lease-lost source=%s detail=%r", source.name, str(exc))
            return PollReport(source=source.name, status="waiting", error=str(exc))
        except StoreUnavailable as exc:  # nothing recorded; the next poll finds it all
            log.warning("event=database-error source=%s error=%r", source.name, str(exc)[:200])
            return PollReport(source=source.name, status="error", error=str(exc)[:300])
        except Exception as exc:
            log.exception("event=poll-crash source=%s", source.name)
            report = PollReport(source=source.name)
            reason = f"internal error while polling: {type(exc).__name__}: {exc}"[:300]
            try:
                return self._failed(source, report, reason, None)
            except Exception:  # the store itself is failing: report, do not raise
                report.status, report.error = "error", reason
                return report

    async def _poll(self, source: Source, state: SourceState | None = None) -> PollReport:
        report = PollReport(source=source.name)
        now = self.clock()
        if state is None:
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
            if result.moved_to != state.moved_to:  # else there is nothing to write
                self.store.set_moved_to(source.name, source.url, result.moved_to)
            self.store.record_success(
                source.name,
                source.url,
                self.clock(),
                etag=result.etag or state.etag,
                last_modified=result.last_modified or state.last_modified,
            )
            report.status = "not-modified"
            return report
        tz = self.config.settings.timezone
        origin: dict[int, FetchResult] = {}  # id(item) → the child sitemap it came from
        # Items older than max_age can never alert, and past retention their text is not
        # kept for search (SPEC §12) either: the parser drops them (sources.limits).
        settings = self.config.settings
        since = now - timedelta(seconds=max(settings.max_age, settings.retention))
        try:
            if self.parse_pool is not None:
                parsed = await self.parse_pool.parse(
                    source, result, tz, self.config.watchlists, since=since
                )
            else:
                parsed = await asyncio.to_thread(parse_document, source, result, tz, since=since)
            items = list(parsed.items)
            too_old, cut = parsed.too_old, list(parsed.cut)
            # An index (a sitemap index) lists further documents of this source, newest
            # first and already capped by its parser: their items are the source's.
            for child_url in parsed.children:
                child = await self.fetcher.fetch_untrusted(
                    child_url, proxy=source.proxy, allow_private=source.allow_private
                )
                if child.error is not None:
                    error = f"{source.kind} {child_url}: {child.error}"
                    return self._failed(source, report, error, child.retry_after)
                read = await asyncio.to_thread(parse_listing, source, child, tz, since=since)
                too_old, cut = too_old + read.too_old, cut + list(read.cut)
                for item in read.items:
                    origin[id(item)] = child
                    items.append(item)
        except SourceError as exc:
            return self._failed(source, report, str(exc), None)
        except Exception as exc:  # a parser bug must not take the other sources down
            log.exception("event=parser-crash source=%s", source.name)
            return self._failed(source, report, f"could not parse: {type(exc).__name__}", None)
        # Item identity (SPEC §6) that survives guids repeated within a feed or changed on
        # every fetch: keyed per fetch, then recognised by key, else by link and title.
        keyed = key_items(items)
        links = {canonical_url(i.link) for i in keyed.values() if i.link and i.link.strip()}
        known, clashes = resolve_known(
            keyed,
            self.store.known_items(source.name, list(keyed)),
            self.store.items_by_canonical(source.name, links),
        )
        if clashes:  # new items whose key a stored item holds: a fresh key, never a crash

            def taken(key: str) -> bool:
                return key in keyed or bool(self.store.known_items(source.name, [key]))

            renamed = {key: fresh_key(key, keyed[key], taken) for key in clashes}
            keyed = {renamed.get(k, k): i for k, i in keyed.items()}
        # Items still in their feed keep their identity through Store.prune.
        self.store.touch_items([k.id for k in known.values()], now)
        pages: dict[str, Page] = {}
        if source.fulltext:
            # Only new items that may still alert: a first poll's undated back
            # catalogue and items older than max_age are never fetched.
            first_poll = not self.store.has_items(source.name)
            max_age = self.config.settings.max_age
            wanted = {
                k: i
                for k, i in keyed.items()
                if k not in known
                and not eligible(i, first_poll=first_poll, now=now, max_age=max_age)
            }
            pages, problems = await fetch_pages(self.fetcher, source, wanted)
            for problem in problems:
                log.warning("event=fulltext-problem source=%s problem=%r", source.name, problem)
            if problems:
                self.store.record_warning(source.name, source.url, self.clock(), problems[-1])
        extra = {k: p.text for k, p in pages.items()}
        observed = await self._observe(source, keyed, known, extra)
        documents = {k: origin.get(id(i), result) for k, i in keyed.items() if id(i) in origin}
        if cut:
            warning = (
                f"{len(cut)} item(s) longer than {TEXT_MAX:,} characters of text, read only "
                f"that far: {cut[0]!r}"
            )
            log.warning("event=item-text-cut source=%s items=%d", source.name, len(cut))
            self.store.record_warning(source.name, source.url, self.clock(), warning)
        self._record(source, result, observed, report, pages, documents, too_old=too_old)
        report.items = len(keyed) + too_old
        return report

    def _failed(
        self, source: Source, report: PollReport, error: str, retry_after: datetime | None
    ) -> PollReport:
        self.store.record_failure(source.name, source.url, self.clock(), error, retry_after)
        log.warning("event=source-error source=%s error=%r", source.name, error)
        report.status = "error"
        report.error = error
        return report

    async def _observe(
        self,
        source: Source,
        keyed: dict[str, Item],
        known: dict[str, KnownItem],
        extra: Mapping[str, str] | None = None,
    ) -> list[_Observed]:
        """Match and fingerprint the new or changed items (CPU work: in the pool's
        workers when there is a pool, else in a thread; never on the event loop).

        `extra` holds fetched page text by item key (fulltext): it is matched with
        the item's text but not hashed, so the next poll does not see a change.
        """
        changed = []
        for key, item in keyed.items():
            digest = content_hash(item)
            previous = known.get(key)
            if previous is not None and previous.content_hash == digest:
                continue  # unchanged since last poll: nothing to decide
            changed.append((key, item, digest, previous))
        jobs = [Job(item, extra.get(key) if extra else None) for key, item, _, _ in changed]
        results: list[Analysis]
        if self.parse_pool is not None:
            results = await self.parse_pool.analyse(self.config.watchlists, source.name, jobs)
        elif jobs:
            results = await asyncio.to_thread(analyse, self.matcher, source.name, jobs)
        else:
            results = []
        return [
            _Observed(item, key, digest, previous, found.matches, found.fingerprint)
            for (key, item, digest, previous), found in zip(changed, results, strict=True)
        ]

    def _record(
        self,
        source: Source,
        result: FetchResult,
        observed: list[_Observed],
        report: PollReport,
        pages: Mapping[str, Page] | None = None,
        documents: Mapping[str, FetchResult] | None = None,
        *,
        too_old: int = 0,
    ) -> None:
        """Record the poll in one transaction: one batched read (the snapshot), the pure
        decision (watcher.pipeline.plan.plan_poll), one write (Store.apply_plan), then the
        evidence of its alerts and the source's new state.

        `too_old`: items the parser dropped as older than max_age and retention. A first poll counts
        them as seen, so that a source whose feed held only old items is not on its first
        poll again next time (Store.has_items)."""
        now = self.clock()
        settings = self.config.settings
        # Inside an outer transaction (`once --dry-run` rolls everything back) no
        # evidence file is written: a dry run records nothing.
        keep_evidence = not self.store.rehearsing()
        with self.store.atomic():
            snapshot = self.store.poll_snapshot(
                source.name, observed, [c.name for c in self.config.channels], now
            )
            plan = plan_poll(
                snapshot,
                observed,
                source=source,
                channels=self.config.channels,
                max_age=settings.max_age,
                tz=self.tz,
                now=now,
            )
            for skipped in plan.skipped:
                log.info(
                    "event=not-alerted source=%s item=%r reason=%r",
                    source.name,
                    skipped.title[:80],
                    skipped.reason,
                )
            seen = plan.new_items + (too_old if snapshot.first_poll else 0)
            recorded = self.store.apply_plan(plan, source=source.name, now=now)
            kept_evidence = evidence.Batch(settings.state_dir)
            by_key = {o.key: o for o in observed} if recorded else {}
            for step, alert_id, _item_id in recorded:
                obs = by_key[step.key]
                if keep_evidence:
                    page = (pages or {}).get(obs.key)
                    kept = kept_evidence.keep_for_alert(
                        source=source.name,
                        text=matched_text(obs.item, page.text if page else None),
                        page=page,
                        response=(documents or {}).get(obs.key, result),
                    )
                    self.store.add_evidence(alert_id, kept)
                report.alerts.append((alert_id, step.alert))
                log.info(
                    "event=alert source=%s item=%r watchlists=%s",
                    source.name,
                    step.alert.title[:80],
                    ",".join(m.watchlist for m in step.alert.matches),
                )
            kept_evidence.close()  # before the evidence rows that point at it commit
            self.store.record_success(
                source.name,
                source.url,
                now,
                etag=result.etag,
                last_modified=result.last_modified,
                new_items=seen,
            )
            self.store.set_moved_to(source.name, source.url, result.moved_to)
        report.new_items = seen
        report.changed_items = plan.changed_items
