"""Read-only queries for the staff pages, feeds and `watcher search` (SPEC §12).

`StateReader` is a `Store` on a connection that refuses every write (`PRAGMA
query_only`): the pages reuse the store's own reads (`get_alert`, `evidence_for`,
`all_source_states`, the outbox counts) and add the queries below, and a bug in a page
can never change the state. It never migrates: `watcher web` and `watcher run` open the
state with a `Store` first, which does. The SQL stays here, on the store's side.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from watcher.models import Severity
from watcher.store.sqlite import DB_NAME, Store, StoredAlert, _dt, _ts

#: What the search index reads of an item: id, content hash, date (published, else first
#: seen; epoch seconds), text.
IndexedText = tuple[int, str | None, float, str]

#: Alerts on one page of the alerts list (and at most in one feed).
PAGE_SIZE = 50


@dataclass(frozen=True)
class AlertFilter:
    """What the alerts page, its feeds and downloads show: every field optional.

    `severity` is the alert's own severity (its highest watchlist's); `since`/`until`
    bound the time the alert was recorded (aware datetimes); `kind` is "certain" or
    "possible" (SPEC §5).
    """

    watchlist: str | None = None
    severity: Severity | None = None
    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None

    def where(self) -> tuple[str, list[object]]:
        """The SQL condition on `alerts` and its parameters."""
        clauses = ["merged_into IS NULL"]
        params: list[object] = []
        if self.watchlist:
            clauses.append(
                "EXISTS (SELECT 1 FROM json_each(alerts.matches) "
                "WHERE json_extract(value, '$.watchlist') = ?)"
            )
            params.append(self.watchlist)
        if self.severity is not None:
            # An alert's severity is its highest match's (watcher.models.Alert.severity).
            ranks = " ".join(f"WHEN '{s.label}' THEN {s.value}" for s in Severity)
            clauses.append(
                "(SELECT MAX(CASE json_extract(value, '$.severity') "
                f"{ranks} ELSE 0 END) FROM json_each(alerts.matches)) = ?"
            )
            params.append(self.severity.value)
        if self.source:
            clauses.append("source = ?")
            params.append(self.source)
        if self.since is not None:
            clauses.append("created >= ?")
            params.append(_ts(self.since))
        if self.until is not None:
            clauses.append("created < ?")
            params.append(_ts(self.until))
        if self.kind in ("certain", "possible"):
            clauses.append("possible = ?")
            params.append(1 if self.kind == "possible" else 0)
        return " AND ".join(clauses), params


@dataclass(frozen=True)
class OutboxRow:
    """One unsent or failed outbox row, for the outbox page."""

    id: int
    channel: str
    state: str
    alert_id: int | None
    title: str
    attempts: int
    created: datetime | None
    next_attempt: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class RetainedItem:
    """An item whose text is still kept (SPEC §4 `retention`): what search reads."""

    id: int
    source: str
    title: str
    link: str | None
    published: datetime | None
    first_seen: datetime | None
    text: str


class StateReader(Store):
    """The state database opened for reading only (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        # Used from one event loop at a time, whichever thread runs it (the daemon's web
        # thread, a test client's portal): never from two threads at once.
        self.db = sqlite3.connect(
            self.path, isolation_level=None, timeout=30.0, check_same_thread=False
        )
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA query_only = ON")
        self.db.execute("PRAGMA cache_size=-16384")
        self._depth = 0
        self._rehearsal = False
        self._group = None
        self._group_began = 0.0

    @classmethod
    def in_dir(cls, state_dir: str | Path) -> StateReader:
        """The reader of a state directory's database (which must exist)."""
        return cls(Path(state_dir) / DB_NAME)

    # -- alerts -------------------------------------------------------------

    def alerts_page(
        self, flt: AlertFilter, *, limit: int = PAGE_SIZE, offset: int = 0, count: bool = True
    ) -> tuple[list[StoredAlert], int]:
        """One page of alerts that pass `flt`, newest first, and how many pass in all
        (with `count=False`, only how many are on the page: a feed needs no total, and
        counting reads every alert the filter passes)."""
        where, params = flt.where()
        total = -1
        if count:
            total = int(
                self.db.execute(f"SELECT COUNT(*) FROM alerts WHERE {where}", params).fetchone()[0]
            )
        rows = self.db.execute(
            f"SELECT * FROM alerts WHERE {where} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        alerts = [self._stored_alert(r) for r in rows]
        return alerts, total if count else len(alerts)

    def last_alert_id(self) -> int:
        """The newest alert's id (0: none): what the filter choices are cached by."""
        return int(self.db.execute("SELECT COALESCE(MAX(id), 0) FROM alerts").fetchone()[0])

    def alert_watchlists(self) -> list[str]:
        """Every watchlist name recorded in an alert (the filter offers configured ones too)."""
        rows = self.db.execute(
            "SELECT DISTINCT json_extract(value, '$.watchlist') FROM alerts, "
            "json_each(alerts.matches) ORDER BY 1"
        )
        return [r[0] for r in rows if r[0]]

    def alert_sources(self) -> list[str]:
        """Every source name that has an alert."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT source FROM alerts ORDER BY 1")]

    def alert_item(self, alert_id: int) -> tuple[str, str] | None:
        """(source, kept text) of the item behind an alert, while its text is retained."""
        row = self.db.execute(
            "SELECT items.source, items.text FROM alerts JOIN items ON items.id = alerts.item_id "
            "WHERE alerts.id = ? AND items.text IS NOT NULL",
            (alert_id,),
        ).fetchone()
        return (row[0], row[1]) if row else None

    # -- outbox -------------------------------------------------------------

    def outbox_rows(self, limit: int = 200) -> list[OutboxRow]:
        """Unsent (pending, sending) and failed outbox rows, newest first."""
        rows = self.db.execute(
            "SELECT outbox.id, outbox.channel, outbox.state, outbox.alert_id, "
            "COALESCE(alerts.title, outbox.notice_title, '') AS title, outbox.attempts, "
            "outbox.created, outbox.next_attempt, outbox.last_error FROM outbox "
            "LEFT JOIN alerts ON alerts.id = outbox.alert_id "
            "WHERE outbox.state IN ('pending', 'sending', 'failed') "
            "ORDER BY outbox.id DESC LIMIT ?",
            (limit,),
        )
        return [
            OutboxRow(
                id=r[0],
                channel=r[1],
                state=r[2],
                alert_id=r[3],
                title=r[4],
                attempts=r[5],
                created=_dt(r[6]),
                next_attempt=_dt(r[7]) if r[2] != "failed" else None,
                last_error=r[8],
            )
            for r in rows
        ]

    # -- search (watcher.web.search) ------------------------------------------

    def retained_count(self) -> int:
        """How many items have their text retained."""
        return int(
            self.db.execute("SELECT COUNT(*) FROM items WHERE text IS NOT NULL").fetchone()[0]
        )

    def retained_ids(self) -> list[tuple[int, str | None]]:
        """(id, content hash) of every item whose text is retained."""
        rows = self.db.execute("SELECT id, content_hash FROM items WHERE text IS NOT NULL")
        return [(r[0], r[1]) for r in rows]

    def retained_items(self, ids: Iterable[int] | None = None) -> Iterator[RetainedItem]:
        """Retained items: all of them newest first, or those of `ids` in that order.
        Read a few hundred at a time (and `ids` taken as needed): a search that stops at
        its first hits reads no more."""
        if ids is None:
            dated = sorted(
                (
                    (r[0], r[1])
                    for r in self.db.execute(
                        "SELECT COALESCE(published, first_seen, 0), id FROM items "
                        "WHERE text IS NOT NULL"
                    )
                ),
                reverse=True,
            )
            ids = [i for _, i in dated]
        pending = iter(ids)
        while chunk := list(itertools.islice(pending, 200)):
            marks = ",".join("?" * len(chunk))
            rows = {
                r[0]: r
                for r in self.db.execute(
                    "SELECT id, source, title, link, published, first_seen, text FROM items "
                    f"WHERE id IN ({marks}) AND text IS NOT NULL",
                    chunk,
                )
            }
            for item_id in chunk:
                r = rows.get(item_id)
                if r is not None:
                    yield RetainedItem(r[0], r[1], r[2] or "", r[3], _dt(r[4]), _dt(r[5]), r[6])

    def item_texts_after(self, after_id: int, limit: int = -1) -> list[IndexedText]:
        """(id, content hash, date, text) of retained items with an id above `after_id`,
        in id order, at most `limit` of them (-1: all)."""
        rows = self.db.execute(
            "SELECT id, content_hash, COALESCE(published, first_seen, 0), text FROM items "
            "WHERE id > ? AND text IS NOT NULL ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def item_texts(self, ids: Sequence[int]) -> list[IndexedText]:
        """(id, content hash, date, text) of the given retained items."""
        out: list[IndexedText] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.extend(
                (r[0], r[1], r[2], r[3])
                for r in self.db.execute(
                    "SELECT id, content_hash, COALESCE(published, first_seen, 0), text "
                    f"FROM items WHERE id IN ({marks}) AND text IS NOT NULL",
                    list(chunk),
                )
            )
        return out

    # -- web logins (watcher.web.auth) ----------------------------------------

    def user_hash(self, name: str) -> str | None:
        """The stored password hash of a web login, if the name exists."""
        row = self.db.execute("SELECT hash FROM web_users WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None


def save_user(store: Store, name: str, password_hash: str, now: datetime) -> bool:
    """Create or reset a web login (`watcher user add`); True when it is new."""
    with store.atomic():
        known = store.db.execute("SELECT 1 FROM web_users WHERE name = ?", (name,)).fetchone()
        store.db.execute(
            "INSERT INTO web_users (name, hash, created, updated) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET hash = excluded.hash, updated = excluded.updated",
            (name, password_hash, _ts(now), _ts(now)),
        )
    return known is None
