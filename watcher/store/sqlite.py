"""SQLite state: sources, items, stories, alerts and the outbox (SPEC §6, §7).

All SQL of the project lives in watcher/store/ (the schema in watcher/store/schema.py),
behind domain operations (the Protocol in watcher/store/base.py). The SQL here is written
so that PostgreSQL runs it too (RETURNING, ON CONFLICT): watcher/store/postgres.py, the
store of several instances (SPEC §11), reuses it and adds leases and its own schema.
The database runs in WAL mode; `atomic()` groups operations into one
transaction, which is how an item is never marked seen without its alert and
outbox rows (they commit together or not at all).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from watcher.identity.dedup import Queued, unsent_duplicates
from watcher.identity.keys import canonical_url
from watcher.identity.stories import BANDING, FINGERPRINT_KEEP, Candidate, Fingerprint, band_keys
from watcher.identity.stories import METHOD as FINGERPRINT_METHOD
from watcher.identity.stories import WINDOW as STORY_WINDOW
from watcher.models import Alert, Match, Severity
from watcher.pipeline.plan import (
    AddAlert,
    Merge,
    NewStory,
    Observed,
    PollPlan,
    SaveItem,
    Snapshot,
    StoryFacts,
)
from watcher.store.evidence import Evidence
from watcher.store.records import DaemonState as DaemonState
from watcher.store.records import Delivery as Delivery
from watcher.store.records import InstanceState as InstanceState
from watcher.store.records import KnownItem as KnownItem
from watcher.store.records import SavedFingerprint as SavedFingerprint
from watcher.store.records import SourceState as SourceState
from watcher.store.records import StoredAlert as StoredAlert
from watcher.store.schema import MIGRATIONS as MIGRATIONS
from watcher.store.schema import split_sql

DB_NAME = "watcher.sqlite3"

_V = TypeVar("_V")


def _chunks(values: Sequence[_V], size: int = 500) -> Iterator[Sequence[_V]]:
    """`values` in pieces that stay under SQLite's limit on bound parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _band_rows(stored: Iterable[tuple[int, bytes]]) -> list[tuple[int, int]]:
    """The story_bands rows, (band_key, item_id) in key order, of stored
    (item_id, signature) pairs: the band keys are made again from the signature."""
    return sorted((key, item_id) for item_id, signature in stored for key in band_keys(signature))


def _ts(when: datetime | None) -> float | None:
    return when.timestamp() if when is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


def _matches_to_json(matches: Sequence[Match]) -> str:
    return json.dumps(
        [
            {
                "watchlist": m.watchlist,
                "severity": m.severity.label,
                "terms": list(m.terms),
                "people": list(m.people),
                "snippet": m.snippet,
                "possible": m.possible,
            }
            for m in matches
        ],
        ensure_ascii=False,
    )


def _matches_from_json(text: str) -> tuple[Match, ...]:
    return tuple(
        Match(
            watchlist=d["watchlist"],
            severity=Severity.parse(d["severity"]),
            terms=tuple(d.get("terms", ())),
            people=tuple(d.get("people", ())),
            snippet=d.get("snippet", ""),
            possible=bool(d.get("possible", False)),
        )
        for d in json.loads(text)
    )


class Store:
    """The SQLite state of one watcher instance."""

    def __init__(self, path: str | Path, *, copy_of: str | Path | None = None) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves in atomic().
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self.db.row_factory = sqlite3.Row
        if copy_of is not None:
            # Read the other database without taking its write lock: a dry run beside a
            # running daemon must neither block it nor change its file (not even migrate).
            source = sqlite3.connect(f"file:{copy_of}?mode=ro", uri=True, timeout=30.0)
            try:
                source.backup(self.db)
            finally:
                source.close()
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        # 4 MB of page cache (SQLite's default is 2 MB). It was 16 MB while every item's
        # story bands were indexed (a million random-place keys on a first poll of 1,000
        # sources); only candidates are now (issue 17), and the cache is resident memory.
        self.db.execute("PRAGMA cache_size=-4096")
        self._depth = 0
        self._rehearsal = False  # inside atomic(rollback=True)
        self._group: float | None = None  # seconds between commits inside grouped()
        self._group_began = 0.0
        self._migrate()
        self._rebuild_bands()

    @classmethod
    def in_dir(cls, state_dir: str | Path) -> Store:
        """Open (creating if needed) the database in a state directory."""
        return cls(Path(state_dir) / DB_NAME)

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # -- schema -------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"{self.path}: database schema {version} is newer than this watcher "
                f"({len(MIGRATIONS)}); upgrade watcher"
            )
        for target in range(version, len(MIGRATIONS)):
            with self.atomic():
                for statement in split_sql(MIGRATIONS[target]):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {target + 1}")

    # -- transactions -------------------------------------------------------

    @contextlib.contextmanager
    def atomic(self, *, rollback: bool = False) -> Iterator[None]:
        """Run the block in one transaction (nested blocks join the outer one).

        With `rollback=True` everything is undone at the end: `once --dry-run`.
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        if self._group is not None and not rollback:
            with self._unit_of_group(self._group):
                yield
            return
        self._begin(rollback)
        self._depth = 1
        self._rehearsal = rollback
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("ROLLBACK" if rollback else "COMMIT")
        finally:
            self._depth = 0
            self._rehearsal = False

    @contextlib.contextmanager
    def _unit_of_group(self, seconds: float) -> Iterator[None]:
        """One all-or-nothing unit inside a group commit: a savepoint of the open
        transaction, undone alone if it fails; the group commits when `seconds` old."""
        if not self.db.in_transaction:
            self._begin(False)
            self._group_began = time.monotonic()
        self.db.execute("SAVEPOINT unit")
        self._depth = 1
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO unit")
            self.db.execute("RELEASE unit")
            raise
        else:
            self.db.execute("RELEASE unit")
        finally:
            self._depth = 0
        if time.monotonic() - self._group_began >= seconds:
            self.flush()

    @contextlib.contextmanager
    def grouped(self, seconds: float) -> Iterator[None]:
        """Commit the transactions of this block together, at most every `seconds`.

        Each `atomic()` block still succeeds or fails as a whole (a savepoint), but
        commits are shared: at a national desk's scale (1,000 sources, one commit per
        source) commits rewrite the same index pages over and over, and they were the
        largest cost of recording a first poll (docs/performance.md). A crash loses
        at most the last `seconds` of recorded polls, all of it: the items are not
        marked seen, so the next poll finds them new again, and nothing of theirs was
        delivered, since deliveries are read after the group ends. Call `flush()`
        while waiting for something else, so the write lock is not held idle.
        Inside a rehearsal (`atomic(rollback=True)`) this changes nothing.
        """
        if self._depth or self._group is not None:
            yield
            return
        self._group = seconds
        try:
            yield
        finally:
            self._group = None
            self.flush()

    def flush(self) -> None:
        """Commit a group commit's open transaction (outside any `atomic()` block)."""
        if self._depth == 0 and self.db.in_transaction:
            self.db.execute("COMMIT")

    def _begin(self, rollback: bool) -> None:
        """Open a write transaction. SQLite takes its one write lock at once (IMMEDIATE):
        two writers queue here instead of one failing later on a lock upgrade."""
        del rollback
        self.db.execute("BEGIN IMMEDIATE")

    # -- several instances (SPEC §11) -----------------------------------------
    # One SQLite file serves one `watcher run` (the state directory's lock), so there is
    # nothing to share: every claim succeeds and leases are no-ops. The PostgreSQL store
    # (watcher.store.postgres) implements them with leases and fencing tokens.

    def claim_source(self, name: str, url: str, now: datetime, *, fresh_within: float = 0) -> bool:
        """Take the right to poll `name` now; False when another instance holds it or
        polled it less than `fresh_within` seconds ago. Always True here."""
        del name, url, now, fresh_within
        return True

    def release_source(self, name: str) -> None:
        """The poll of `name` is over (recorded or not): its lease goes."""
        del name

    def renew_leases(self, now: datetime) -> None:
        """Extend the leases this instance holds on work still in progress."""
        del now

    def expire_leases(self, now: datetime) -> int:
        """Return work whose lease lapsed (a dead instance's) to the queue; how many
        deliveries went back. Here crashed sends are recovered at start (`recover`)."""
        del now
        return 0

    def instances(self, now: datetime) -> list[InstanceState]:
        """The `watcher run` instances on this state, newest first (`status`)."""
        del now
        state = self.daemon_state()
        if state is None:
            return []
        return [InstanceState(state.host, state.pid, state.started, state.heartbeat, state.stopped)]

    # -- sources ------------------------------------------------------------

    def source_state(self, name: str) -> SourceState:
        """The remembered state of a source (defaults if never polled)."""
        row = self.db.execute("SELECT * FROM sources WHERE name = ?", (name,)).fetchone()
        return SourceState(name=name) if row is None else self._state_of(row)

    def all_source_states(self) -> dict[str, SourceState]:
        """Every source the store has seen, by name (one query: `once` and the health
        check read them all each cycle)."""
        rows = self.db.execute("SELECT * FROM sources ORDER BY name").fetchall()
        return {row["name"]: self._state_of(row) for row in rows}

    @staticmethod
    def _state_of(row: Any) -> SourceState:
        """A `sources` row as a `SourceState`."""
        return SourceState(
            name=row["name"],
            etag=row["etag"],
            last_modified=row["last_modified"],
            polls=row["polls"],
            last_poll=_dt(row["last_poll"]),
            last_success=_dt(row["last_success"]),
            last_error=row["last_error"],
            last_error_at=_dt(row["last_error_at"]),
            failures=row["failures"],
            failing_since=_dt(row["failing_since"]),
            retry_after=_dt(row["retry_after"]),
            items_seen=row["items_seen"],
            alerts=row["alerts"],
            stale_reported=bool(row["stale_reported"]),
            next_poll=_dt(row["next_poll"]),
            moved_to=row["moved_to"],
        )

    def _ensure_source(self, name: str, url: str) -> None:
        self.db.execute(
            "INSERT INTO sources (name, url) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET url = excluded.url",
            (name, url),
        )

    def record_success(
        self,
        name: str,
        url: str,
        now: datetime,
        *,
        etag: str | None,
        last_modified: str | None,
        new_items: int = 0,
        moved_to: str | None = None,
    ) -> None:
        """A poll that fetched (or got 304): clears the failure streak."""
        with self.atomic():
            self._ensure_source(name, url)
            self.db.execute(
                "UPDATE sources SET etag = ?, last_modified = ?, polls = polls + 1, "
                "last_poll = ?, last_success = ?, failures = 0, failing_since = NULL, "
                "retry_after = NULL, items_seen = items_seen + ?, "
                "moved_to = COALESCE(?, moved_to) WHERE name = ?",
                (etag, last_modified, _ts(now), _ts(now), new_items, moved_to, name),
            )

    def record_failure(
        self, name: str, url: str, now: datetime, error: str, retry_after: datetime | None
    ) -> None:
        """A failed poll: the error a person reads, and when to try again at the earliest."""
        with self.atomic():
            self._ensure_source(name, url)
            self.db.execute(
                "UPDATE sources SET polls = polls + 1, last_poll = ?, last_error = ?, "
                "last_error_at = ?, failures = failures + 1, "
                "failing_since = COALESCE(failing_since, ?), retry_after = ? WHERE name = ?",
                (_ts(now), error, _ts(now), _ts(now), _ts(retry_after), name),
            )

    def set_stale_reported(self, name: str, reported: bool) -> bool:
        """Remember that the admin channel was told this source is failing (or that it
        recovered); False when that was already recorded (by another instance that
        decided the same a moment earlier: it told the admin channel, we must not)."""
        return bool(
            self.db.execute(
                "UPDATE sources SET stale_reported = ? WHERE name = ? AND stale_reported != ?",
                (int(reported), name, int(reported)),
            ).rowcount
        )

    def set_next_poll(self, name: str, when: datetime | None) -> None:
        """When the daemon plans to poll this source next (shown by `status`)."""
        self.db.execute("UPDATE sources SET next_poll = ? WHERE name = ?", (_ts(when), name))

    # -- items and stories --------------------------------------------------

    def known_items(self, source: str, keys: Iterable[str]) -> dict[str, KnownItem]:
        """The stored items of `source` among `keys`."""
        return {row["key"]: _known_item(row) for row in self._source_items_in(source, "key", keys)}

    def _source_items_in(
        self, source: str, column: str, values: Iterable[str]
    ) -> Iterator[sqlite3.Row]:
        """Items of `source` whose `column` (key or canonical) is among `values`, by id,
        in chunks that stay under SQLite's limit on bound parameters."""
        for chunk in _chunks(sorted(set(values))):
            marks = ",".join("?" * len(chunk))
            yield from self.db.execute(
                f"SELECT id, key, canonical, title, content_hash, story_id, first_poll, "
                f"EXISTS (SELECT 1 FROM item_fingerprints f WHERE f.item_id = items.id) "
                f"AS fingerprinted FROM items WHERE source = ? AND {column} IN ({marks}) "
                f"ORDER BY id",
                (source, *chunk),
            )

    def has_items(self, source: str) -> bool:
        """Whether any item of this source was ever recorded or seen (not a first poll):
        a first poll whose items were all older than max_age stored none, but saw them."""
        row = self.db.execute(
            "SELECT 1 FROM items WHERE source = ? UNION ALL "
            "SELECT 1 FROM sources WHERE name = ? AND items_seen > 0 LIMIT 1",
            (source, source),
        )
        return row.fetchone() is not None

    def story_by_canonical(self, canonical: str) -> int | None:
        """The story an item with this canonical link already belongs to."""
        row = self.db.execute(
            "SELECT id FROM stories WHERE canonical = ? ORDER BY id LIMIT 1", (canonical,)
        ).fetchone()
        return int(row[0]) if row else None

    def new_story(self, canonical: str | None, title: str, now: datetime) -> int:
        """Create a story and return its id."""
        cur = self.db.execute(
            "INSERT INTO stories (canonical, title, first_seen, last_seen) VALUES (?, ?, ?, ?) "
            "RETURNING id",
            (canonical, title, _ts(now), _ts(now)),
        )
        return int(cur.fetchone()[0])

    def save_item(
        self,
        *,
        known: KnownItem | None,
        source: str,
        key: str,
        guid: str | None,
        link: str | None,
        canonical: str | None,
        title: str,
        text: str,
        published: datetime | None,
        content_hash: str,
        story_id: int,
        now: datetime,
        first_poll: bool = False,
    ) -> int:
        """Insert or update an item; returns its id. `first_poll`: a new item recorded by
        its source's first poll (kept on the item; an update leaves it as it was)."""
        if known is not None:
            self.db.execute(
                "UPDATE items SET guid = ?, link = ?, canonical = ?, title = ?, text = ?, "
                "published = ?, content_hash = ?, story_id = ?, last_seen = ? WHERE id = ?",
                (guid, link, canonical, title, text, _ts(published), content_hash, story_id,
                 _ts(now), known.id),
            )  # fmt: skip
            return known.id
        cur = self.db.execute(
            "INSERT INTO items (source, key, guid, link, canonical, title, text, published, "
            "content_hash, story_id, first_seen, last_seen, first_poll) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (source, key, guid, link, canonical, title, text, _ts(published), content_hash,
             story_id, _ts(now), _ts(now), int(first_poll)),
        )  # fmt: skip
        return int(cur.fetchone()[0])

    # -- one poll's record: a batched read, a pure plan, one write (watcher.pipeline.plan) --

    def poll_snapshot(
        self, source: str, observed: Sequence[Observed], channels: Iterable[str], now: datetime
    ) -> Snapshot:
        """What plan_poll needs to decide this poll, in a few batched reads."""
        canonicals = sorted(
            {canonical_url(o.item.link) for o in observed if o.item.link and o.item.link.strip()}
        )
        link_titles: dict[str, list[tuple[int, str]]] = {}
        for row in self._source_items_in(source, "canonical", canonicals):
            link_titles.setdefault(row["canonical"], []).append((row["id"], row["title"] or ""))
        item_story: dict[str, int] = {}
        canonical_story: dict[str, int] = {}
        for chunk in _chunks(canonicals):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT canonical, story_id FROM items WHERE canonical IN ({marks}) "
                f"AND story_id IS NOT NULL ORDER BY id",
                tuple(chunk),
            ):
                item_story.setdefault(row[0], int(row[1]))
            for row in self.db.execute(
                f"SELECT canonical, id FROM stories WHERE canonical IN ({marks}) ORDER BY id",
                tuple(chunk),
            ):
                canonical_story.setdefault(row[0], int(row[1]))
        candidates = self._plan_candidates(observed, now)
        wanted = {o.known.story_id for o in observed if o.known and o.known.story_id is not None}
        wanted |= set(item_story.values()) | set(canonical_story.values())
        wanted |= {c.story_id for found in candidates.values() for c in found}
        return Snapshot(
            first_poll=not self.has_items(source),
            link_titles={c: tuple(rows) for c, rows in link_titles.items()},
            item_story=item_story,
            canonical_story=canonical_story,
            candidates=candidates,
            stories=self._story_facts(sorted(wanted)),
            digest_held={c: self.digest_held_until(c) for c in channels},
        )

    def _plan_candidates(
        self, observed: Sequence[Observed], now: datetime
    ) -> dict[str, tuple[Candidate, ...]]:
        """Per observed item that needs a story, the stored copies sharing a band with its
        fingerprint within its window: one lookup for the whole poll, split in Python."""
        needing = [
            (o, min(o.item.when or now, now))
            for o in observed
            if o.fingerprint is not None and (o.known is None or not _storied_by_text(o.known))
        ]
        if not needing:
            return {}
        since = min(d for _, d in needing) - STORY_WINDOW
        until = max(d for _, d in needing) + STORY_WINDOW
        keys = sorted({k for o, _ in needing for k in o.fingerprint.bands})  # type: ignore[union-attr]
        rows: dict[int, tuple[set[int], Candidate]] = {}
        for chunk in _chunks(keys):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT b.band_key, f.item_id, f.story_id, f.source, f.at, f.numbers, "
                f"f.signature FROM story_bands b JOIN item_fingerprints f "
                f"ON f.item_id = b.item_id WHERE b.band_key IN ({marks}) AND f.method = ? "
                f"AND f.at BETWEEN ? AND ?",
                (*chunk, FINGERPRINT_METHOD, _ts(since), _ts(until)),
            ):
                entry = rows.get(row[1])
                if entry is None:
                    candidate = Candidate(
                        story_id=row[2],
                        source=row[3],
                        at=_dt(row[4]) or since,
                        signature=bytes(row[6]),
                        numbers=tuple(int(n) for n in row[5].split()),
                    )
                    entry = rows[row[1]] = (set(), candidate)
                entry[0].add(int(row[0]))
        found: dict[str, tuple[Candidate, ...]] = {}
        for obs, dated in needing:
            bands = set(obs.fingerprint.bands)  # type: ignore[union-attr]
            found[obs.key] = tuple(
                c
                for _, (keyed, c) in sorted(rows.items())
                if keyed & bands and abs(c.at - dated) <= STORY_WINDOW
            )
        return found

    def _story_facts(self, ids: Sequence[int]) -> dict[int, StoryFacts]:
        alerts: dict[int, dict[str, bool]] = {}
        sources: dict[int, list[tuple[str, float]]] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for row in self.db.execute(
                f"SELECT story_id, watchlist, possible FROM story_alerts "
                f"WHERE story_id IN ({marks})",
                tuple(chunk),
            ):
                alerts.setdefault(int(row[0]), {})[row[1]] = bool(row[2])
            for row in self.db.execute(
                f"SELECT story_id, source, MIN(first_seen) FROM items WHERE story_id IN "
                f"({marks}) GROUP BY story_id, source ORDER BY MIN(first_seen)",
                tuple(chunk),
            ):
                sources.setdefault(int(row[0]), []).append((row[1], float(row[2])))
        return {i: StoryFacts(alerts.get(i, {}), tuple(sources.get(i, ()))) for i in ids}

    def apply_plan(
        self, plan: PollPlan, *, source: str, now: datetime
    ) -> list[tuple[AddAlert, int, int]]:
        """Write a poll's plan (inside the caller's transaction); returns each alert step
        with its alert id and its item id."""
        story_ids: dict[int, int] = {}
        merged: dict[int, int] = {}
        item_ids: dict[str, int] = {}
        alerts: list[tuple[AddAlert, int, int]] = []
        fingerprints: list[tuple[int, int, datetime, Fingerprint]] = []

        def real(ref: int, *, follow: bool = False) -> int:
            while follow and ref in merged:
                ref = merged[ref]
            return story_ids.get(ref, ref)

        with self.atomic():
            for step in plan.steps:
                if isinstance(step, NewStory):
                    story_ids[step.ref] = self.new_story(step.canonical, step.title, now)
                elif isinstance(step, Merge):
                    self.merge_stories(real(step.keep), real(step.drop))
                    merged[step.drop] = step.keep
                elif isinstance(step, SaveItem):
                    obs, item = step.observed, step.observed.item
                    item_ids[obs.key] = self.save_item(
                        known=obs.known, source=source, key=obs.key, guid=item.guid,
                        link=item.link, canonical=step.canonical, title=item.title,
                        text=item.text, published=item.when, content_hash=obs.hash,
                        story_id=real(step.story), now=now, first_poll=step.first_poll,
                    )  # fmt: skip
                    if obs.fingerprint is not None:
                        fingerprints.append(
                            (item_ids[obs.key], step.story, step.fingerprint_at, obs.fingerprint)
                        )
                else:
                    item_id = item_ids[step.key]
                    alert_id = self.add_alert(
                        story_id=real(step.story), item_id=item_id, alert=step.alert, now=now
                    )
                    for delivery in step.deliveries:
                        self.enqueue(
                            channel=delivery.channel, now=now, due=delivery.due,
                            alert_id=alert_id, watchlists=delivery.watchlists,
                        )  # fmt: skip
                    alerts.append((step, alert_id, item_id))
            # Kept together at the end of the poll: only another source's items can be
            # this one's text copies (watcher.identity.stories), so none of this poll's
            # items needs another's fingerprint stored first.
            self.save_fingerprints(
                [
                    SavedFingerprint(item_id, real(story, follow=True), source, at, fp)
                    for item_id, story, at, fp in fingerprints
                ]
            )
        return alerts

    def merge_stories(self, keep: int, drop: int) -> None:
        """Fold story `drop` into `keep`: its items, alerts, fingerprints and the
        watchlists it was alerted for (a certain alert outranks a possible one)."""
        with self.atomic():
            for table in ("items", "alerts", "item_fingerprints"):
                self.db.execute(f"UPDATE {table} SET story_id = ? WHERE story_id = ?", (keep, drop))
            self.db.execute(
                "INSERT INTO story_alerts (story_id, watchlist, possible, alert_id, at) "
                "SELECT ?, watchlist, possible, alert_id, at FROM story_alerts "
                "WHERE story_id = ? AND true ON CONFLICT(story_id, watchlist) DO UPDATE SET "
                "possible = CASE WHEN excluded.possible < story_alerts.possible "
                "THEN excluded.possible ELSE story_alerts.possible END",
                (keep, drop),
            )
            self.db.execute("DELETE FROM story_alerts WHERE story_id = ?", (drop,))
            self.db.execute("DELETE FROM stories WHERE id = ?", (drop,))
            self._drop_unsent_duplicates(keep)

    def _drop_unsent_duplicates(self, story_id: int) -> None:
        """After a merge: unsent messages that repeat an earlier alert of the story
        are marked 'merged' and never sent (watcher.identity.dedup.unsent_duplicates)."""
        rows = self.db.execute(
            "SELECT o.id, o.channel, o.alert_id, o.watchlists, o.state FROM outbox o "
            "JOIN alerts a ON a.id = o.alert_id WHERE a.story_id = ? AND o.state != 'merged'",
            (story_id,),
        )
        queued = [
            Queued(r[0], r[1], r[2], frozenset(json.loads(r[3])), r[4] == "pending") for r in rows
        ]
        dropped = unsent_duplicates(queued)
        for outbox_id in dropped:
            self.db.execute(
                "UPDATE outbox SET state = 'merged', last_error = ? WHERE id = ?",
                ("same story as an earlier alert (stories merged)", outbox_id),
            )
        if dropped:  # an alert left with no message to send is the earlier one's duplicate
            first = min(q.alert_id for q in queued)
            self.db.execute(
                "UPDATE alerts SET merged_into = ? WHERE story_id = ? AND id != ? "
                "AND EXISTS (SELECT 1 FROM outbox o WHERE o.alert_id = alerts.id "
                "AND o.state = 'merged') AND NOT EXISTS (SELECT 1 FROM outbox o "
                "WHERE o.alert_id = alerts.id AND o.state != 'merged')",
                (first, story_id, first),
            )

    def story_sources(self, story_id: int) -> list[str]:
        """Every source that carried a story, in order of first sight."""
        rows = self.db.execute(
            "SELECT source FROM items WHERE story_id = ? GROUP BY source ORDER BY MIN(first_seen)",
            (story_id,),
        )
        return [r[0] for r in rows]

    def story_alerts(self, story_id: int) -> dict[str, bool]:
        """Watchlists a story was already alerted for → whether only as possible."""
        rows = self.db.execute(
            "SELECT watchlist, possible FROM story_alerts WHERE story_id = ?", (story_id,)
        )
        return {r["watchlist"]: bool(r["possible"]) for r in rows}

    # -- alerts and outbox --------------------------------------------------

    def add_alert(self, *, story_id: int, item_id: int, alert: Alert, now: datetime) -> int:
        """Record an alert and mark its story alerted for each matched watchlist."""
        cur = self.db.execute(
            "INSERT INTO alerts (story_id, item_id, source, title, link, published, created, "
            "matches, possible) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (story_id, item_id, alert.source, alert.title, alert.link, _ts(alert.published),
             _ts(now), _matches_to_json(alert.matches), int(alert.possible)),
        )  # fmt: skip
        alert_id = int(cur.fetchone()[0])
        for match in alert.matches:
            self.db.execute(
                "INSERT INTO story_alerts (story_id, watchlist, possible, alert_id, at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(story_id, watchlist) DO UPDATE SET "
                "possible = excluded.possible, alert_id = excluded.alert_id, at = excluded.at",
                (story_id, match.watchlist, int(match.possible), alert_id, _ts(now)),
            )
        # On a source's first poll its row is created later, by record_success.
        self.db.execute(
            "INSERT INTO sources (name) VALUES (?) ON CONFLICT DO NOTHING", (alert.source,)
        )
        self.db.execute("UPDATE sources SET alerts = alerts + 1 WHERE name = ?", (alert.source,))
        return alert_id

    def enqueue(
        self,
        *,
        channel: str,
        now: datetime,
        due: datetime,
        alert_id: int | None = None,
        watchlists: Sequence[str] = (),
        notice_title: str | None = None,
        notice_body: str | None = None,
    ) -> int:
        """Put one delivery in the outbox; nothing is sent before this row exists."""
        cur = self.db.execute(
            "INSERT INTO outbox (alert_id, channel, watchlists, notice_title, notice_body, "
            "state, due, next_attempt, created) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?) "
            "ON CONFLICT(alert_id, channel) DO NOTHING RETURNING id",
            (alert_id, channel, json.dumps(list(watchlists), ensure_ascii=False), notice_title,
             notice_body, _ts(due), _ts(due), _ts(now)),
        )  # fmt: skip
        row = cur.fetchone()
        return int(row[0]) if row else 0

    def digest_held_until(self, channel: str) -> datetime | None:
        """When the digest a channel is gathering goes out, if it holds anything."""
        row = self.db.execute(
            "SELECT MIN(due) FROM outbox WHERE channel = ? AND state = 'pending' "
            "AND alert_id IS NOT NULL AND due > created",
            (channel,),
        ).fetchone()
        return _dt(row[0]) if row and row[0] is not None else None

    def due_deliveries(self, now: datetime, *, skip_backoff: bool = False) -> list[Delivery]:
        """Pending deliveries whose time has come, oldest first.

        `skip_backoff` ignores retry delays (not digest times): `watcher once`,
        run by hand or from cron, retries everything that is pending now.
        """
        column = "due" if skip_backoff else "next_attempt"
        rows = self.db.execute(
            f"SELECT * FROM outbox WHERE state = 'pending' AND {column} <= ? ORDER BY created, id",
            (_ts(now),),
        )
        return [self._delivery(r) for r in rows]

    def pending_deliveries(self, channel: str) -> list[Delivery]:
        """Every pending delivery of a channel (for digests), oldest first."""
        rows = self.db.execute(
            "SELECT * FROM outbox WHERE state = 'pending' AND channel = ? ORDER BY created, id",
            (channel,),
        )
        return [self._delivery(r) for r in rows]

    @staticmethod
    def _delivery(row: sqlite3.Row) -> Delivery:
        return Delivery(
            id=row["id"],
            channel=row["channel"],
            alert_id=row["alert_id"],
            watchlists=tuple(json.loads(row["watchlists"] or "[]")),
            attempts=row["attempts"],
            created=_dt(row["created"]) or datetime.now(UTC),
            due=_dt(row["due"]) or datetime.now(UTC),
            notice_title=row["notice_title"],
            notice_body=row["notice_body"],
        )

    def mark_sending(self, ids: Sequence[int]) -> bool:
        """Claim deliveries before sending: a crash leaves them `sending`, see recover().

        All or nothing: returns False, claiming none, when any of them is no longer
        pending — another process (`once` beside the daemon) claimed it first, and
        sending it again would be a duplicate.
        """
        with self.atomic():
            marks = ",".join("?" * len(ids))
            row = self.db.execute(
                f"SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND id IN ({marks})",
                tuple(ids),
            ).fetchone()
            if row[0] != len(set(ids)):
                return False
            self.db.executemany(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?",
                [(i,) for i in ids],
            )
            return True

    def mark_sent(self, ids: Sequence[int], now: datetime) -> None:
        """Deliveries that the channel accepted."""
        with self.atomic():
            self.db.executemany(
                "UPDATE outbox SET state = 'sent', sent_at = ?, last_error = NULL WHERE id = ?",
                [(_ts(now), i) for i in ids],
            )

    def mark_retry(self, ids: Sequence[int], next_attempt: datetime, error: str) -> None:
        """Deliveries that failed and will be tried again at `next_attempt`."""
        with self.atomic():
            self.db.executemany(
                "UPDATE outbox SET state = 'pending', next_attempt = ?, last_error = ? "
                "WHERE id = ?",
                [(_ts(next_attempt), error, i) for i in ids],
            )

    def mark_failed(self, ids: Sequence[int], error: str) -> None:
        """Deliveries given up on after `give_up`."""
        with self.atomic():
            self.db.executemany(
                "UPDATE outbox SET state = 'failed', last_error = ? WHERE id = ?",
                [(error, i) for i in ids],
            )

    def recover(self) -> int:
        """Put deliveries left `sending` by a crash back to pending; returns how many.

        Such a message may or may not have reached the channel: re-sending it is
        the one duplicate SPEC §7 allows, losing it is not allowed.
        """
        cur = self.db.execute("UPDATE outbox SET state = 'pending' WHERE state = 'sending'")
        return cur.rowcount

    def outbox_counts(self) -> dict[str, int]:
        """Number of outbox rows per state."""
        rows = self.db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        return {r[0]: r[1] for r in rows}

    def outbox_by_channel(self) -> dict[tuple[str, str], int]:
        """(channel, state) → rows, for `status`."""
        rows = self.db.execute("SELECT channel, state, COUNT(*) FROM outbox GROUP BY 1, 2")
        return {(r[0], r[1]): r[2] for r in rows}

    def failed_deliveries(self) -> list[tuple[int, str, str | None]]:
        """(id, channel, last error) of every delivery given up on."""
        rows = self.db.execute(
            "SELECT id, channel, last_error FROM outbox WHERE state = 'failed' ORDER BY id"
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def get_alert(self, alert_id: int) -> StoredAlert | None:
        """A recorded alert, with "also reported by" as known now."""
        row = self.db.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        return self._stored_alert(row) if row else None

    def _stored_alert(self, row: sqlite3.Row) -> StoredAlert:
        others: tuple[str, ...] = ()
        if row["story_id"] is not None:
            others = tuple(s for s in self.story_sources(row["story_id"]) if s != row["source"])
        alert = Alert(
            title=row["title"],
            link=row["link"],
            source=row["source"],
            matches=_matches_from_json(row["matches"]),
            published=_dt(row["published"]),
            also_reported_by=others,
        )
        return StoredAlert(
            id=row["id"],
            story_id=row["story_id"],
            alert=alert,
            created=_dt(row["created"]) or datetime.now(UTC),
        )

    def alerts_since(self, since: datetime | None) -> list[StoredAlert]:
        """Recorded alerts, oldest first, optionally only those created since a time."""
        rows = self.db.execute(
            "SELECT * FROM alerts WHERE created >= ? AND merged_into IS NULL ORDER BY created, id",
            (_ts(since) if since else 0.0,),
        )
        return [self._stored_alert(r) for r in rows]

    # -- outbox health (delivery, `status`) ---------------------------------

    def pending_by_channel(
        self,
    ) -> list[tuple[str, int, datetime | None, datetime | None, str | None]]:
        """Per channel with unsent deliveries: (channel, count, oldest created, next
        attempt, last error), for `status` to say how long a channel has been stuck."""
        rows = self.db.execute(
            "SELECT channel, COUNT(*), MIN(created), MIN(next_attempt), "
            "(SELECT last_error FROM outbox o2 WHERE o2.channel = outbox.channel "
            " AND o2.state IN ('pending', 'sending') AND o2.last_error IS NOT NULL "
            " ORDER BY o2.id DESC LIMIT 1) "
            "FROM outbox WHERE state IN ('pending', 'sending') GROUP BY channel ORDER BY channel"
        )
        return [(r[0], r[1], _dt(r[2]), _dt(r[3]), r[4]) for r in rows]

    # -- the daemon (`watcher run`, `status`) ---------------------------------

    def plan_poll(self, name: str, url: str, when: datetime | None) -> None:
        """When the daemon will poll a source next, remembered even before its first poll."""
        with self.atomic():
            self._ensure_source(name, url)
            self.set_next_poll(name, when)

    def record_daemon_start(self, pid: int, host: str, now: datetime) -> None:
        """`watcher run` started in process `pid` on `host`."""
        self.db.execute(
            "INSERT INTO daemon (id, pid, host, started, heartbeat, stopped) "
            "VALUES (1, ?, ?, ?, ?, NULL) ON CONFLICT(id) DO UPDATE SET pid = excluded.pid, "
            "host = excluded.host, started = excluded.started, "
            "heartbeat = excluded.heartbeat, stopped = NULL",
            (pid, host, _ts(now), _ts(now)),
        )

    def record_heartbeat(self, now: datetime) -> None:
        """The daemon is alive and its scheduler is running jobs."""
        self.db.execute("UPDATE daemon SET heartbeat = ? WHERE id = 1", (_ts(now),))

    def record_daemon_stop(self, now: datetime) -> None:
        """The daemon stopped cleanly."""
        self.db.execute(
            "UPDATE daemon SET heartbeat = ?, stopped = ? WHERE id = 1", (_ts(now), _ts(now))
        )

    def daemon_state(self) -> DaemonState | None:
        """The last daemon's pid, host and times; None if `run` never ran on this state."""
        row = self.db.execute("SELECT * FROM daemon WHERE id = 1").fetchone()
        return None if row is None else _daemon_state(row, "heartbeat")

    # -- fetching and evidence (SPEC §8, §10) -------------------------------

    def rehearsing(self) -> bool:
        """True inside `once --dry-run`'s rollback block (`atomic(rollback=True)`):
        the pipeline writes no evidence files then, as a dry run records nothing."""
        return self._rehearsal

    def set_moved_to(self, name: str, url: str, moved_to: str | None) -> None:
        """Where the source's URL now permanently redirects (None: it no longer does)."""
        with self.atomic():
            self._ensure_source(name, url)
            self.db.execute("UPDATE sources SET moved_to = ? WHERE name = ?", (moved_to, name))

    def record_warning(self, name: str, url: str, now: datetime, warning: str) -> None:
        """A problem that is not a failed poll (an item page refused or unreachable)."""
        with self.atomic():
            self._ensure_source(name, url)
            self.db.execute(
                "UPDATE sources SET last_warning = ?, last_warning_at = ? WHERE name = ?",
                (warning, _ts(now), name),
            )

    def source_warning(self, name: str) -> tuple[str, datetime] | None:
        """The source's last warning and when it happened, if any."""
        row = self.db.execute(
            "SELECT last_warning, last_warning_at FROM sources WHERE name = ?", (name,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return row[0], _dt(row[1]) or datetime.now(UTC)

    def add_evidence(self, alert_id: int, evidence: Evidence) -> None:
        """Link an alert to its evidence files (paths relative to the state directory)."""
        self.db.execute(
            "INSERT INTO evidence (alert_id, path, sha256, text_path, text_sha256, "
            "url, fetched_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(alert_id) DO UPDATE SET path = excluded.path, "
            "sha256 = excluded.sha256, text_path = excluded.text_path, "
            "text_sha256 = excluded.text_sha256, url = excluded.url, "
            "fetched_at = excluded.fetched_at, kind = excluded.kind",
            (alert_id, evidence.path, evidence.sha256, evidence.text_path,
             evidence.text_sha256, evidence.url, _ts(evidence.fetched_at), evidence.kind),
        )  # fmt: skip

    def evidence_for(self, alert_id: int) -> Evidence | None:
        """The evidence recorded for an alert, if any."""
        row = self.db.execute("SELECT * FROM evidence WHERE alert_id = ?", (alert_id,)).fetchone()
        if row is None:
            return None
        return Evidence(
            path=row["path"],
            sha256=row["sha256"],
            text_path=row["text_path"],
            text_sha256=row["text_sha256"],
            url=row["url"],
            fetched_at=_dt(row["fetched_at"]),
            kind=row["kind"],
        )

    # -- story identity and retention (SPEC §6; watcher/identity/) -------------

    def items_by_canonical(
        self, source: str, canonicals: Iterable[str]
    ) -> dict[str, list[tuple[KnownItem, str]]]:
        """The stored items of `source` with each canonical link, with their titles.

        How an item is recognised when its guid changed (guid churn) or its guid is
        shared with other items (see identity.resolve_known).
        """
        found: dict[str, list[tuple[KnownItem, str]]] = {}
        for row in self._source_items_in(source, "canonical", canonicals):
            found.setdefault(row["canonical"], []).append((_known_item(row), row["title"] or ""))
        return found

    def story_by_link(self, canonical: str) -> int | None:
        """The story of any item, from any source, whose canonical link is `canonical`."""
        row = self.db.execute(
            "SELECT story_id FROM items WHERE canonical = ? AND story_id IS NOT NULL "
            "ORDER BY id LIMIT 1",
            (canonical,),
        ).fetchone()
        if row is not None:
            return int(row[0])
        return self.story_by_canonical(canonical)

    def link_titles(self, source: str, canonical: str) -> list[str]:
        """Titles of the source's stored items that carry this canonical link."""
        rows = self.db.execute(
            "SELECT title FROM items WHERE source = ? AND canonical = ?", (source, canonical)
        )
        return [r[0] or "" for r in rows]

    def save_fingerprint(
        self, *, item_id: int, story_id: int, source: str, at: datetime, fingerprint: Fingerprint
    ) -> None:
        """Keep an item's fingerprint and its band keys (replacing an older one)."""
        self.save_fingerprints([SavedFingerprint(item_id, story_id, source, at, fingerprint)])

    def save_fingerprints(self, saved: Sequence[SavedFingerprint]) -> None:
        """Keep several items' fingerprints and band keys (replacing older ones).

        One statement per table for a whole poll, band rows in key order: each band
        key lands in a random place of the index, and in key order the inserts walk
        it once instead of jumping about it once per item.
        """
        replaced = self._fingerprint_rows([s.item_id for s in saved])
        self.db.executemany(
            "DELETE FROM story_bands WHERE band_key = ? AND item_id = ?",
            _band_rows(replaced),
        )
        self.db.executemany(
            "INSERT INTO item_fingerprints (item_id, story_id, source, at, method, "
            "size, numbers, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(item_id) DO UPDATE SET story_id = excluded.story_id, "
            "source = excluded.source, at = excluded.at, method = excluded.method, "
            "size = excluded.size, numbers = excluded.numbers, signature = excluded.signature",
            [
                (s.item_id, s.story_id, s.source, _ts(s.at), FINGERPRINT_METHOD,
                 s.fingerprint.size, " ".join(str(n) for n in s.fingerprint.numbers),
                 s.fingerprint.signature)
                for s in saved
            ],
        )  # fmt: skip
        self.db.executemany(
            "INSERT INTO story_bands (band_key, item_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            sorted((key, s.item_id) for s in saved for key in s.fingerprint.bands),
        )

    def _fingerprint_rows(self, item_ids: Sequence[int]) -> list[tuple[int, bytes]]:
        """(item_id, signature) of the stored fingerprints of these items."""
        found = []
        for chunk in _chunks(item_ids):
            marks = ",".join("?" * len(chunk))
            found += [
                (int(r[0]), bytes(r[1]))
                for r in self.db.execute(
                    f"SELECT item_id, signature FROM item_fingerprints WHERE item_id IN ({marks})",
                    chunk,
                )
            ]
        return found

    def _rebuild_bands(self) -> None:
        """Make every band key again from the stored signatures, if they were made
        another way (watcher.identity.stories.BANDING changed; a new database has none)."""
        banding = f"{BANDING} {FINGERPRINT_METHOD}"  # band rows of another METHOD go too
        row = self.db.execute("SELECT value FROM store_meta WHERE key = 'banding'").fetchone()
        if row is not None and row[0] == banding:
            return
        with self.atomic():
            self.db.execute("DELETE FROM story_bands")
            rows = self.db.execute(
                "SELECT item_id, signature FROM item_fingerprints WHERE method = ?",
                (FINGERPRINT_METHOD,),
            )
            self.db.executemany(
                "INSERT INTO story_bands (band_key, item_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                _band_rows((item_id, bytes(signature)) for item_id, signature in rows),
            )
            self.db.execute(
                "INSERT INTO store_meta (key, value) VALUES ('banding', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (banding,),
            )

    def story_candidates(
        self, fingerprint: Fingerprint, since: datetime, until: datetime
    ) -> list[Candidate]:
        """Stored copies dated within [since, until] that share a band with `fingerprint`.

        A lookup in the (band_key, item_id) primary key: its cost follows the number of copies
        that collide, not the number of stories in the store.
        """
        marks = ",".join("?" * len(fingerprint.bands))
        rows = self.db.execute(
            f"SELECT story_id, source, at, numbers, signature FROM item_fingerprints "
            f"WHERE item_id IN (SELECT item_id FROM story_bands WHERE band_key IN ({marks})) "
            f"AND method = ? AND at BETWEEN ? AND ?",
            (*fingerprint.bands, FINGERPRINT_METHOD, _ts(since), _ts(until)),
        )
        return [
            Candidate(
                story_id=row["story_id"],
                source=row["source"],
                at=_dt(row["at"]) or since,
                signature=bytes(row["signature"]),
                numbers=tuple(int(n) for n in row["numbers"].split()),
            )
            for row in rows
        ]

    def touch_items(self, ids: Iterable[int], now: datetime) -> None:
        """Mark items as still carried by their feed, so that pruning keeps their identity."""
        with self.atomic():
            self.db.executemany(
                "UPDATE items SET last_seen = ? WHERE id = ?", [(_ts(now), i) for i in ids]
            )

    def prune(self, now: datetime, retention: float) -> dict[str, int]:
        """Drop what is no longer needed; returns how many rows each step touched.

        - Item text not seen for `retention` seconds (settings.retention, default 90 days).
        - Fingerprints older than FINGERPRINT_KEEP: near-duplicates only count within
          7 days (SPEC §6); the margin covers copies that arrive late.
        - Item identities (key, canonical link, story) not seen in a feed for
          max(4 × retention, 365 days), and stories left with no item: an item still
          in its feed is touched on every poll, so it can never come back as new; items
          and stories that were alerted are kept for good (alerts and exports refer to
          them), so an alerted story never alerts again.
        """
        text_cut = _ts(now - timedelta(seconds=retention))
        fingerprint_cut = _ts(now - FINGERPRINT_KEEP)
        forget_cut = _ts(now - max(timedelta(seconds=4 * retention), timedelta(days=365)))
        counts: dict[str, int] = {}
        with self.atomic():
            counts["texts"] = self.db.execute(
                "UPDATE items SET text = NULL WHERE last_seen < ? AND text IS NOT NULL",
                (text_cut,),
            ).rowcount
            counts["identities"] = self.db.execute(
                "DELETE FROM items WHERE last_seen < ? AND id NOT IN "
                "(SELECT item_id FROM alerts WHERE item_id IS NOT NULL)",
                (forget_cut,),
            ).rowcount
            # Band rows go by their keys, made again from the signatures: the band
            # index is keyed by band, and a scan of it (a million rows at 1,000
            # sources) would cost seconds on every `watcher once`.
            doomed = [
                (int(r[0]), bytes(r[1]))
                for r in self.db.execute(
                    "SELECT item_id, signature FROM item_fingerprints WHERE at < ? OR "
                    "item_id NOT IN (SELECT id FROM items)",
                    (fingerprint_cut,),
                )
            ]
            self.db.executemany(
                "DELETE FROM story_bands WHERE band_key = ? AND item_id = ?",
                _band_rows(doomed),
            )
            self.db.executemany(
                "DELETE FROM item_fingerprints WHERE item_id = ?", [(i,) for i, _ in doomed]
            )
            counts["fingerprints"] = len(doomed)
            counts["stories"] = self.db.execute(
                "DELETE FROM stories WHERE last_seen < ? "
                "AND id NOT IN (SELECT story_id FROM items WHERE story_id IS NOT NULL) "
                "AND id NOT IN (SELECT story_id FROM alerts WHERE story_id IS NOT NULL) "
                "AND id NOT IN (SELECT story_id FROM story_alerts)",
                (forget_cut,),
            ).rowcount
        return counts


def _daemon_state(row: Any, heartbeat: str) -> DaemonState:
    """A daemon's row (SQLite's `daemon`, PostgreSQL's `instances`, whose heartbeat
    column is `heartbeat` or `last_seen`) as a DaemonState."""
    return DaemonState(
        pid=row["pid"],
        host=row["host"],
        started=_dt(row["started"]) or datetime.now(UTC),
        heartbeat=_dt(row[heartbeat]) or datetime.now(UTC),
        stopped=_dt(row["stopped"]),
    )


def _storied_by_text(known: KnownItem) -> bool:
    """Whether a stored item's story already took its text copies into account: it has a
    story and a fingerprint (an item first fingerprinted now, because it newly matches, is
    looked up like a new one; watcher.pipeline.plan)."""
    return known.story_id is not None and known.fingerprinted


def _known_item(row: sqlite3.Row) -> KnownItem:
    return KnownItem(
        row["id"],
        row["content_hash"],
        row["story_id"],
        bool(row["first_poll"]),
        bool(row["fingerprinted"]),
    )
