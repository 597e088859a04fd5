"""Which store a config asks for: SQLite in `state_dir` (the default) or PostgreSQL
(`settings.database`, SPEC §11)."""

from __future__ import annotations

from pathlib import Path

from watcher.models import Settings
from watcher.store.sqlite import DB_NAME, Store


def open_store(settings: Settings, *, dry_run: bool = False) -> Store:
    """The state of this config (created if needed).

    SQLite: `state_dir/watcher.sqlite3`; a dry run works on a copy in memory, so a
    daemon on the same state is never blocked by it and not even an empty file is
    made. PostgreSQL: the shared database; a dry run rolls every unit back at once
    (watcher.store.postgres.PostgresStore.atomic).
    """
    if settings.database:
        from watcher.store.postgres import PostgresStore

        return PostgresStore(settings.database, settings.state_dir)
    path = Path(settings.state_dir) / DB_NAME
    if dry_run:
        return Store(":memory:", copy_of=path if path.exists() else None)
    return Store(path)


def state_exists(settings: Settings) -> bool:
    """Whether there is any state to read yet (a database server always has one)."""
    return bool(settings.database) or (Path(settings.state_dir) / DB_NAME).exists()
