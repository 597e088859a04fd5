"""`watcher migrate --to postgresql://…`: a SQLite state into an empty PostgreSQL database.

Items, stories, alerts, the outbox (pending sends stay pending), evidence rows and their
files, fingerprints and band keys, and per-source state are copied with their ids, in one
transaction: a failure leaves the target as empty as it was. The identity sequences then
move past the copied ids. Refused when the target already holds any state, so a second run
(or a typo in the URL) can never mix two teams' histories.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from watcher.store.pgschema import COPIED, IDENTITIES
from watcher.store.postgres import PostgresStore
from watcher.store.sqlite import Store

BATCH = 2000  # rows per executemany


class NotEmpty(Exception):
    """The target database already holds a state."""


@dataclass(frozen=True)
class Copied:
    """How many rows of each table (and evidence files) went across."""

    rows: dict[str, int]
    files: int


def migrate(source: Store, target: PostgresStore, state_dir: str | Path) -> Copied:
    """Copy `source` into `target` (see the module's docstring); raises NotEmpty."""
    rows: dict[str, int] = {}
    files = 0
    with target.atomic():
        for table in ("sources", "items", "alerts", "outbox", "stories"):
            if target.db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
                raise NotEmpty(f"the target database already holds {table}")
        # The target's band rows were made from its (empty) fingerprints: none to clash.
        for table, columns in COPIED:
            names = ", ".join(columns)
            marks = ", ".join("?" * len(columns))
            insert = f"INSERT INTO {table} ({names}) VALUES ({marks})"
            cursor = source.db.execute(f"SELECT {names} FROM {table}")
            count = 0
            while batch := cursor.fetchmany(BATCH):
                target.db.executemany(insert, [_portable(tuple(r)) for r in batch])
                count += len(batch)
            rows[table] = count
        for table in IDENTITIES:
            target.db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM {table}), 1), "
                f"(SELECT COUNT(*) > 0 FROM {table}))"
            )
        root = Path(state_dir)
        for path, digest, text_path, text_digest in source.db.execute(
            "SELECT path, sha256, text_path, text_sha256 FROM evidence"
        ):
            for rel, sha in ((path, digest), (text_path, text_digest)):
                file = root / rel
                if file.exists():
                    target.keep_evidence_file(rel, sha, file.read_bytes())
                    files += 1
    return Copied(rows, files)


def _portable(row: tuple[object, ...]) -> tuple[object, ...]:
    # SQLite hands BLOBs back as bytes already; memoryview from other drivers.
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
