"""`watcher migrate --to URL` (SPEC §11): a config's SQLite state copied into an empty
PostgreSQL database, for a team moving to several instances (docs/ha.md)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from watcher.config.database import expand_database_url, redact_database_url
from watcher.logs import redaction_filter
from watcher.models import Config
from watcher.store.migrate import NotEmpty, migrate
from watcher.store.sqlite import DB_NAME, Store


def migrate_command(config: Config, to: str, environ: Mapping[str, str]) -> int:
    """Copy the state; the exit status (0 copied, 1 refused or failed, 2 a bad URL)."""
    url, problems, secrets = expand_database_url(to, environ)
    redaction_filter().update(secrets)
    if url is None:
        for problem in problems:
            if "password written" not in problem:  # on the command line it is the user's
                print(f"--to: {problem}", file=sys.stderr)
                return 2
        url = to
    path = Path(config.settings.state_dir) / DB_NAME
    if not path.exists():
        print(f"No SQLite state to copy ({path}).", file=sys.stderr)
        return 1
    from watcher.store.postgres import PostgresStore  # psycopg only when it is needed

    source = Store(path)
    try:
        target = PostgresStore(url, config.settings.state_dir)
    except Exception as exc:
        source.close()
        print(f"cannot open {redact_database_url(url)}: {exc}", file=sys.stderr)
        return 1
    try:
        copied = migrate(source, target, config.settings.state_dir)
    except NotEmpty as exc:
        print(f"refused: {exc}; migrate copies into an empty database only", file=sys.stderr)
        return 1
    finally:
        source.close()
        target.close()
    counts = ", ".join(f"{n} {table}" for table, n in copied.rows.items())
    print(f"copied {counts}, {copied.files} evidence files into {redact_database_url(url)}")
    print('Now set database = "postgresql://…${PGPASSWORD}…" in [settings] (docs/ha.md).')
    return 0
