"""The shared state on PostgreSQL, for several `watcher run` instances (SPEC §11).

The same domain operations as the SQLite store, and for most of them the same SQL text
(watcher.store.sqlite writes it portably; `_Connection` turns its `?` marks into
psycopg's). What differs is what several instances need:

- **Write transactions are serialised** by one transaction-scoped advisory lock
  (`pg_advisory_xact_lock`), as SQLite serialises its writers. Recording a poll reads
  what the store knows of a story and writes its alert in one transaction, so two
  instances recording copies of one story at the same moment cannot both alert it
  (SPEC §11 "story identity"): the second sees the first's story and alert. Fetching,
  parsing and matching, nearly all of a poll's time, run in parallel on every instance.
- **Sources and deliveries are leased.** A claim locks the row with
  `FOR UPDATE SKIP LOCKED` (two instances claiming at once never wait on each other and
  never both win), sets `owner`, a lease end `LEASE_SECONDS` ahead, and increments a
  fencing token. Completions (`record_success`, `record_failure`, `mark_sent`,
  `mark_retry`, `mark_failed`) must match the token they were claimed with: an instance
  that was paused past its lease (GC, a frozen VM, a network partition) and whose work
  another instance took over finds its token stale and its result discarded (`LeaseLost`)
  instead of overwriting the newer one: the trap pg-boss, River and Oban fell into.
  Leases are renewed while the work runs (`renew_leases`, from the daemon's heartbeat);
  a dead instance's lapse within `LEASE_SECONDS` and any live instance returns its
  deliveries to the queue (`expire_leases`).
- **Evidence files go into the database** (`evidence_files`), so every instance can
  serve what another one kept.
- **A lost connection is re-opened** on the next statement outside a transaction:
  PostgreSQL restarting or unreachable for a while is logged by the callers as errors,
  the outbox stays in the database, and work resumes when it is back.

psycopg 3 is imported only here, so a SQLite installation never loads it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import pq

from watcher.store.evidence import Evidence
from watcher.store.pgschema import PG_MIGRATIONS
from watcher.store.records import DaemonState, InstanceState, LeaseLost, StoreUnavailable
from watcher.store.schema import split_sql
from watcher.store.sqlite import Store, _daemon_state, _dt, _ts

log = logging.getLogger("watcher.store")

# A lease not renewed for this long lapses (SPEC §11: within 2 minutes). The daemon
# renews every HEARTBEAT_EVERY (5 s). WATCHER_LEASE_SECONDS shortens it for drills and
# tests (tests/test_ha.py), never below 10 s: renewals must have room to be late.
LEASE_SECONDS = max(10.0, float(os.environ.get("WATCHER_LEASE_SECONDS") or 60.0))
# A delivery's lease is renewed for at most this long after its claim: a send that
# failed with an exception before it could be marked must not stay `sending` for ever.
MAX_SEND_SECONDS = 600.0
INSTANCE_LIVE = 60.0  # `status`: an instance seen within this many seconds is live
# The advisory lock every write transaction takes (any constant; "watcher" in ASCII).
WRITE_LOCK = 0x77617463686572
CONNECT_TIMEOUT = 10


class _Row(tuple):  # type: ignore[type-arg]
    """A result row readable by position and by column name, as sqlite3.Row is."""

    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor: Any) -> Any:
    description = cursor.description or ()
    index = {column.name: i for i, column in enumerate(description)}

    def make(values: Sequence[Any]) -> _Row:
        row = _Row(values)
        row._index = index
        return row

    return make


def _translate(sql: str) -> str:
    """SQLite's `?` marks as psycopg's `%s` (a literal `%` doubled first)."""
    if sql == "BEGIN IMMEDIATE":
        return "BEGIN"
    return sql.replace("%", "%%").replace("?", "%s")


class _Connection:
    """The slice of sqlite3.Connection the store uses, over one psycopg connection
    in autocommit mode (the store issues BEGIN/COMMIT itself), re-opened when lost."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None
        self._connect()

    def _connect(self) -> None:
        try:
            self._conn = psycopg.connect(
                self.url,
                autocommit=True,
                row_factory=_row_factory,
                connect_timeout=CONNECT_TIMEOUT,
                application_name="watcher",
            )
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"database unavailable: {exc}".splitlines()[0]) from exc

    @property
    def in_transaction(self) -> bool:
        conn = self._conn
        if conn is None or conn.closed:
            return False
        return conn.info.transaction_status != pq.TransactionStatus.IDLE

    def _live(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            self._conn = None
            self._connect()
            log.warning("event=database-reconnected")
            conn = self._conn
        assert conn is not None
        return conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self._execute(sql, params)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"database unavailable: {exc}".splitlines()[0]) from exc

    def _execute(self, sql: str, params: Sequence[Any]) -> Any:
        text = _translate(sql)
        if text in ("ROLLBACK", "COMMIT") and (
            self._conn is None or self._conn.closed or self._conn.broken
        ):
            if text == "COMMIT":
                raise psycopg.OperationalError("the database connection was lost")
            return None  # a lost connection has rolled its transaction back already
        conn = self._live()
        return conn.execute(text, tuple(params) if params else None)

    def executemany(self, sql: str, rows: Any) -> None:
        rows = list(rows)
        if not rows:
            return
        try:
            with self._live().cursor() as cursor:
                cursor.executemany(_translate(sql), rows)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"database unavailable: {exc}".splitlines()[0]) from exc

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class PostgresStore(Store):
    """The state of every instance of a team, in one PostgreSQL database."""

    def __init__(self, url: str, state_dir: str | Path | None = None) -> None:
        # Not Store.__init__: no file, no PRAGMAs; the rest of the machinery is shared.
        self.path = url
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.db = _Connection(url)  # type: ignore[assignment]
        self._depth = 0
        self._rehearsal = False
        self._group: float | None = None
        self._group_began = 0.0
        self.instance_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._source_tokens: dict[str, int] = {}  # sources this instance holds
        self._delivery_tokens: dict[int, int] = {}  # outbox rows this instance is sending
        self._migrate()
        self._rebuild_bands()

    # -- schema -------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        row = self.db.execute("SELECT to_regclass('store_meta') IS NOT NULL AS present").fetchone()
        if not row[0]:
            return 0
        row = self.db.execute("SELECT value FROM store_meta WHERE key = 'schema'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        # Several instances may start at once on a new database: one migrates, the
        # others wait on the lock and then find the schema current.
        with self.atomic():
            version = self.schema_version
            if version > len(PG_MIGRATIONS):
                raise RuntimeError(
                    f"database schema {version} is newer than this watcher "
                    f"({len(PG_MIGRATIONS)}); upgrade watcher"
                )
            for target in range(version, len(PG_MIGRATIONS)):
                for statement in split_sql(PG_MIGRATIONS[target]):
                    self.db.execute(statement)
                self.db.execute(
                    "INSERT INTO store_meta (key, value) VALUES ('schema', ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (str(target + 1),),
                )

    # -- transactions -------------------------------------------------------------------

    @contextlib.contextmanager
    def atomic(self, *, rollback: bool = False) -> Iterator[None]:
        """As Store.atomic; a rehearsal (`once --dry-run`) is one transaction that takes
        no write lock, and each unit inside it (a poll's record) is undone at once
        (a savepoint rolled back), which releases its row locks: a dry run never holds
        up the other instances for its whole run. So one unit never sees another's
        writes: copies of one story in two sources both show as "would alert"."""
        if rollback and self._depth == 0:
            self.db.execute("BEGIN")
            self._depth, self._rehearsal = 1, True
            try:
                yield
            finally:
                self.db.execute("ROLLBACK")
                self._depth, self._rehearsal = 0, False
            return
        if self._rehearsal and self._depth == 1:
            self.db.execute("SAVEPOINT unit")
            self._depth = 2
            try:
                yield
            finally:
                self.db.execute("ROLLBACK TO SAVEPOINT unit")
                self.db.execute("RELEASE SAVEPOINT unit")
                self._depth = 1
            return
        with super().atomic(rollback=rollback):
            yield

    def _begin(self, rollback: bool) -> None:
        self.db.execute("BEGIN")
        if not rollback:
            # A rehearsal (`once --dry-run`) commits nothing: it must not hold up the
            # other instances' writes for its whole run.
            self.db.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))

    @contextlib.contextmanager
    def grouped(self, seconds: float) -> Iterator[None]:
        """No group commits here: a group would hold the write lock, which every
        instance shares, for `seconds` at a time; each poll commits on its own."""
        del seconds
        yield

    # -- sources: leases with fencing tokens ----------------------------------------------

    def claim_source(self, name: str, url: str, now: datetime, *, fresh_within: float = 0) -> bool:
        if self._rehearsal:
            return True  # a dry run records nothing, so it needs no lease
        self.db.execute(
            "INSERT INTO source_leases (name) VALUES (?) ON CONFLICT DO NOTHING", (name,)
        )
        self.db.execute("BEGIN")
        try:
            row = self.db.execute(
                "SELECT l.owner, l.lease_until, s.last_poll FROM source_leases l "
                "LEFT JOIN sources s ON s.name = l.name WHERE l.name = ? "
                "FOR UPDATE OF l SKIP LOCKED",
                (name,),
            ).fetchone()
            stamp = _ts(now) or 0.0
            taken = row is None or (
                row["lease_until"] is not None
                and row["lease_until"] > stamp
                and row["owner"] != self.instance_id
            )
            recent = (
                row is not None
                and fresh_within > 0
                and row["last_poll"] is not None
                and row["last_poll"] > stamp - fresh_within
            )
            if taken or recent:
                self.db.execute("ROLLBACK")
                return False
            token = self.db.execute(
                "UPDATE source_leases SET owner = ?, token = token + 1, lease_until = ?, "
                "claimed_at = ? WHERE name = ? RETURNING token",
                (self.instance_id, stamp + LEASE_SECONDS, stamp, name),
            ).fetchone()[0]
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self._source_tokens[name] = int(token)
        return True

    def release_source(self, name: str) -> None:
        token = self._source_tokens.pop(name, None)
        if token is None or self._rehearsal:
            return
        with contextlib.suppress(psycopg.Error, StoreUnavailable):  # it lapses if this fails
            self.db.execute(
                "UPDATE source_leases SET owner = NULL, lease_until = NULL "
                "WHERE name = ? AND token = ?",
                (name, token),
            )

    def _fence_source(self, name: str) -> None:
        """Inside the completing transaction: is the lease on `name` still ours?

        The row is locked until the commit, so no other instance can claim it between
        this check and the write. Without a claim (a direct call, as tests make) there
        is nothing to fence.
        """
        token = self._source_tokens.get(name)
        if token is None or self._rehearsal:
            return
        row = self.db.execute(
            "SELECT token FROM source_leases WHERE name = ? FOR UPDATE", (name,)
        ).fetchone()
        if row is None or int(row[0]) != token:
            self._source_tokens.pop(name, None)
            raise LeaseLost(f"source {name}: lease lapsed and was taken over")

    def record_success(self, name: str, url: str, now: datetime, **kwargs: Any) -> None:
        with self.atomic():
            self._fence_source(name)
            super().record_success(name, url, now, **kwargs)

    def record_failure(
        self, name: str, url: str, now: datetime, error: str, retry_after: datetime | None
    ) -> None:
        with self.atomic():
            self._fence_source(name)
            super().record_failure(name, url, now, error, retry_after)

    # -- deliveries: leases with fencing tokens ------------------------------------------

    def mark_sending(self, ids: Sequence[int]) -> bool:
        """Claim deliveries for this instance: all or none, skipping rows another
        instance is claiming this instant (SKIP LOCKED) rather than waiting for it."""
        wanted = sorted(set(ids))
        if not wanted:
            return True
        now = _ts(datetime.now(UTC)) or 0.0
        with self.atomic():
            rows = self.db.execute(
                "SELECT id FROM outbox WHERE id = ANY(?) AND state = 'pending' "
                "FOR UPDATE SKIP LOCKED",
                (wanted,),
            ).fetchall()
            if len(rows) != len(wanted):
                return False
            claimed = self.db.execute(
                "UPDATE outbox SET state = 'sending', attempts = attempts + 1, "
                "lease_owner = ?, lease_token = lease_token + 1, lease_until = ?, "
                "claimed_at = ? WHERE id = ANY(?) RETURNING id, lease_token",
                (self.instance_id, now + LEASE_SECONDS, now, wanted),
            ).fetchall()
        for row in claimed:
            self._delivery_tokens[int(row[0])] = int(row[1])
        return True

    def _complete(self, ids: Sequence[int], assignments: str, values: Sequence[Any]) -> None:
        """Finish deliveries: claimed ones only while the claim is still ours (fencing
        token), unclaimed ones (a failing channel's later batches) only while pending."""
        lost = []
        with self.atomic():
            for delivery in ids:
                token = self._delivery_tokens.pop(delivery, None)
                if token is None:
                    guard, extra = "state = 'pending'", ()
                else:
                    guard, extra = "state = 'sending' AND lease_token = ?", (token,)
                done = self.db.execute(
                    f"UPDATE outbox SET {assignments}, lease_owner = NULL, lease_until = NULL "
                    f"WHERE id = ? AND {guard}",
                    (*values, delivery, *extra),
                ).rowcount
                if not done and token is not None:
                    lost.append(delivery)
        if lost:
            # Another instance took these over after our lease lapsed; it sends them
            # (the one duplicate SPEC §11 allows per death), we must not mark them.
            log.warning("event=lease-lost deliveries=%s", ",".join(map(str, lost)))

    def mark_sent(self, ids: Sequence[int], now: datetime) -> None:
        self._complete(ids, "state = 'sent', sent_at = ?, last_error = NULL", (_ts(now),))

    def mark_retry(self, ids: Sequence[int], next_attempt: datetime, error: str) -> None:
        self._complete(
            ids, "state = 'pending', next_attempt = ?, last_error = ?", (_ts(next_attempt), error)
        )

    def mark_failed(self, ids: Sequence[int], error: str) -> None:
        self._complete(ids, "state = 'failed', last_error = ?", (error,))

    def recover(self) -> int:
        """Deliveries left `sending` whose lease lapsed: due again. Never another live
        instance's: it is sending them right now."""
        return self.expire_leases(datetime.now(UTC))

    def renew_leases(self, now: datetime) -> None:
        stamp = _ts(now) or 0.0
        until = stamp + LEASE_SECONDS
        with self.atomic():
            if self._source_tokens:
                self.db.execute(
                    "UPDATE source_leases SET lease_until = ? WHERE owner = ? "
                    "AND lease_until > ? AND name = ANY(?)",
                    (until, self.instance_id, stamp, list(self._source_tokens)),
                )
            if self._delivery_tokens:
                self.db.execute(
                    "UPDATE outbox SET lease_until = ? WHERE lease_owner = ? "
                    "AND state = 'sending' AND lease_until > ? AND claimed_at > ? "
                    "AND id = ANY(?)",
                    (until, self.instance_id, stamp, stamp - MAX_SEND_SECONDS,
                     list(self._delivery_tokens)),
                )  # fmt: skip

    def expire_leases(self, now: datetime) -> int:
        with self.atomic():
            rows = self.db.execute(
                "UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_until = NULL "
                "WHERE state = 'sending' AND (lease_until IS NULL OR lease_until <= ?)",
                (_ts(now),),
            ).rowcount
        return int(rows or 0)

    # -- instances (`watcher status`) -----------------------------------------------------

    def record_daemon_start(self, pid: int, host: str, now: datetime) -> None:
        self.db.execute(
            "INSERT INTO instances (id, host, pid, started, last_seen) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET last_seen = excluded.last_seen, stopped = NULL",
            (self.instance_id, host, pid, _ts(now), _ts(now)),
        )

    def record_heartbeat(self, now: datetime) -> None:
        self.db.execute(
            "UPDATE instances SET last_seen = ? WHERE id = ?", (_ts(now), self.instance_id)
        )

    def record_daemon_stop(self, now: datetime) -> None:
        """A clean stop: this instance's unfinished sends go back to the queue at once
        (another instance sends them now rather than after the lease lapses)."""
        with self.atomic():
            self.db.execute(
                "UPDATE instances SET last_seen = ?, stopped = ? WHERE id = ?",
                (_ts(now), _ts(now), self.instance_id),
            )
            self.db.execute(
                "UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_until = NULL "
                "WHERE lease_owner = ? AND state = 'sending'",
                (self.instance_id,),
            )
            self.db.execute(
                "UPDATE source_leases SET owner = NULL, lease_until = NULL WHERE owner = ?",
                (self.instance_id,),
            )
        self._delivery_tokens.clear()
        self._source_tokens.clear()

    def daemon_state(self) -> DaemonState | None:
        row = self.db.execute(
            "SELECT * FROM instances WHERE id = ?", (self.instance_id,)
        ).fetchone()
        return None if row is None else _daemon_state(row, "last_seen")

    def instances(self, now: datetime) -> list[InstanceState]:
        """Instances seen within INSTANCE_LIVE seconds and not stopped, newest first."""
        rows = self.db.execute(
            "SELECT host, pid, started, last_seen, stopped FROM instances "
            "WHERE stopped IS NULL AND last_seen > ? ORDER BY started DESC, id",
            ((_ts(now) or 0.0) - INSTANCE_LIVE,),
        )
        return [
            InstanceState(
                r["host"], r["pid"], _dt(r["started"]) or now, _dt(r["last_seen"]) or now, None
            )
            for r in rows
        ]

    # -- evidence in the database ----------------------------------------------------------

    def add_evidence(self, alert_id: int, evidence: Evidence) -> None:
        """The evidence row, and the files themselves (read from where the evidence
        batch wrote them) so that every instance can serve them."""
        super().add_evidence(alert_id, evidence)
        if self.state_dir is None:
            return
        for path, digest in ((evidence.path, evidence.sha256),
                             (evidence.text_path, evidence.text_sha256)):  # fmt: skip
            self.keep_evidence_file(path, digest, (self.state_dir / path).read_bytes())

    def keep_evidence_file(self, path: str, digest: str, data: bytes) -> None:
        """Keep one evidence file (content-addressed: the same path is the same bytes)."""
        self.db.execute(
            "INSERT INTO evidence_files (path, sha256, data) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (path, digest, data),
        )

    def evidence_file(self, path: str) -> bytes | None:
        """The bytes of an evidence file kept in the database, if it is there."""
        row = self.db.execute("SELECT data FROM evidence_files WHERE path = ?", (path,)).fetchone()
        return bytes(row[0]) if row else None
