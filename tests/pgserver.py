"""A real PostgreSQL server for the tests, started by the test suite itself (SPEC §11).

`initdb` into a temporary folder, the server on a free loopback port with its unix socket
in that folder, stopped (and the folder removed) at the end. No mock database: the
binaries are Debian's `postgresql` package (`.ci/run` installs it) or whatever
`WATCHER_PG_BIN` / `pg_config --bindir` / `PATH` name. PostgreSQL refuses to run as root,
so when the tests run as root the server runs as the `postgres` user (`runuser`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

USER = "watcher"  # the database superuser initdb makes (trust on loopback: tests only)
DATABASE = "watcher_tests"


def find_bindir() -> Path | None:
    """Where `initdb`, `pg_ctl` and `postgres` are, or None when this machine has none."""
    candidates = [os.environ.get("WATCHER_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    which = shutil.which("initdb")
    if which:
        candidates.append(str(Path(which).parent))
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """One throw-away PostgreSQL cluster: `start()`, `stop()`, `url(db)`, `create_db()`."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="watcher-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self._owner: str | None = None
        if os.geteuid() == 0:
            self._owner = "postgres"
            entry = pwd.getpwnam(self._owner)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._counter = 0

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._owner is not None:
            command = ["runuser", "-u", self._owner, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        """initdb: a cluster with a `watcher` superuser, trusted on loopback only."""
        self._run(
            "initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Start (or start again) the server on its port; returns when it accepts."""
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200 -c shared_buffers=32MB"
        )
        log = self.folder / "server.log"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(log), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: disconnect every client now)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def cleanup(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_db(self, prefix: str = "t") -> str:
        """A new empty state; returns its URL. A schema of its own in one database (its
        `search_path` in the URL), not a database each: a database is 7 MB of files to
        copy and delete, and at dozens of tests that alone took longer than the tests."""
        import psycopg

        self._counter += 1
        name = f"{prefix}_{self._counter}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            if self._counter == 1:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        with psycopg.connect(self.url(DATABASE), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url(DATABASE)}?options=-csearch_path%3D{name}"


def start_server() -> PostgresServer | str:
    """A running server, or the reason there can be none here (for a skip)."""
    bindir = find_bindir()
    if bindir is None:
        return (
            "no PostgreSQL server binaries (initdb, pg_ctl) on this machine: "
            "apt-get install postgresql, or set WATCHER_PG_BIN"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    try:
        server = PostgresServer(bindir)
    except KeyError:
        return "running as root and there is no `postgres` user to run the server as"
    try:
        server.init()
        server.start()
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        server.cleanup()
        return f"could not start PostgreSQL from {bindir}: {detail.strip()[:300]}"
    return server
