"""Several `watcher run` instances on one PostgreSQL against 1,000 feeds, and SQLite beside
them (issue 16, SPEC §11).

Run: .venv/bin/python bench/instances.py [--feeds 1000] [--instances 1 2 3] [--interval 120]
Needs the `bench` extra (psutil) and PostgreSQL's server binaries (Debian's `postgresql`;
the server is started here, in a temp folder, as tests/pgserver.py does for the tests).

Per setup (SQLite with one instance, then PostgreSQL with 1, 2, 3 instances), on loopback,
against one bench/feedserver.py process (1,000 feeds of 50 items, a third in Khmer):

- first cycle: from starting the instances until every source's first poll is recorded
  (the daemon spreads due sources over the first minute, so this is at least that);
- steady cycle: after one more interval (so that the first cycle's catch-up is over), the
  server changes 10% of the feeds (5 new articles each) and the figures are taken over the
  next `--interval` seconds, one poll of every source when the instances keep up: the polls
  the server answered (200 and 304; 1,000 means every source was polled once), polls of one
  feed by two instances less than half an interval apart (should be none), the CPU seconds
  of the instances (their process trees) and of the database server (its process tree;
  none for SQLite, whose work is inside the instance).

Prints one line per setup. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from feedgen import feed_specs, write_config  # noqa: E402  (bench/ is not a package)
from pgserver import PostgresServer, start_server  # noqa: E402
from poll import FeedServer  # noqa: E402


def _tree_cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            members = [proc, *proc.children(recursive=True)]
        except psutil.Error:
            continue
        for member in members:
            try:
                times = member.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
    return total


def _postmaster(server: PostgresServer) -> psutil.Process:
    pid = int((server.data / "postmaster.pid").read_text().split()[0])
    return psutil.Process(pid)


def _recorded(url: str | None, state: Path) -> int:
    """Sources whose first poll is recorded."""
    if url:
        import psycopg

        with psycopg.connect(url) as conn:
            try:
                row = conn.execute("SELECT COUNT(*) FROM sources WHERE polls > 0").fetchone()
            except psycopg.errors.UndefinedTable:  # the first instance is still migrating
                return 0
            return int(row[0]) if row else 0
    import sqlite3

    path = state / "watcher.sqlite3"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return int(db.execute("SELECT COUNT(*) FROM sources WHERE polls > 0").fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        db.close()


def one_setup(
    args: argparse.Namespace, folder: Path, instances: int, server: PostgresServer | None
) -> str:
    specs = feed_specs(args.feeds)
    url = server.create_db("bench") if server is not None else None
    label = f"postgresql x{instances}" if url else "sqlite x1"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with FeedServer(args.feeds, args.items) as feeds:
        procs: list[subprocess.Popen[bytes]] = []
        configs = []
        for index in range(instances):
            config = write_config(
                folder / f"i{index}", specs, feeds.port, interval=f"{args.interval}s"
            )
            if url:
                text = config.read_text(encoding="utf-8")
                text = text.replace("[settings]\n", f'[settings]\ndatabase = "{url}"\n', 1)
                text = text.replace(
                    'user_agent = "watcher-bench"', f'user_agent = "watcher-bench-{index}"'
                )
                config.write_text(text, encoding="utf-8")
            configs.append(config)
        database = [_postmaster(server)] if server is not None else []
        started = time.monotonic()
        db_cpu0 = _tree_cpu(database)
        for index, config in enumerate(configs):
            log = (folder / f"i{index}" / "run.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "watcher", "-c", str(config), "run"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        watched = [psutil.Process(p.pid) for p in procs]
        cpu0 = 0.0
        state = folder / "i0" / "state"
        while _recorded(url, state) < args.feeds:
            if time.monotonic() - started > 900:
                raise RuntimeError(f"{label}: first cycle not done in 15 min; see {folder}")
            time.sleep(1.0)
        first = time.monotonic() - started
        first_cpu = _tree_cpu(watched) - cpu0
        first_db = _tree_cpu(database) - db_cpu0
        time.sleep(args.interval)  # settle: the first cycle's late polls are done
        feeds.control("change?fraction=0.1&round=1")
        feeds.control("stats?reset=1")
        log_before = len(feeds.control("log"))  # type: ignore[arg-type]
        cpu1, db1 = _tree_cpu(watched), _tree_cpu(database)
        time.sleep(args.interval)
        steady_cpu = _tree_cpu(watched) - cpu1
        steady_db = _tree_cpu(database) - db1
        stats = feeds.control("stats")
        requests = feeds.control("log")
        assert isinstance(stats, dict) and isinstance(requests, list)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    by_feed: dict[int, list[float]] = {}
    for at, index, _status in requests[log_before:]:
        by_feed.setdefault(int(index), []).append(float(at))
    doubled = sum(
        1
        for times in by_feed.values()
        for a, b in zip(sorted(times), sorted(times)[1:], strict=False)
        if b - a < args.interval / 2
    )
    return (
        f"{label:16} first cycle {first:6.1f} s (instances cpu {first_cpu:6.1f} s, "
        f"database cpu {first_db:5.1f} s) | steady {args.interval} s: polls "
        f"{stats['ok'] + stats['not_modified']:5} (200s {stats['ok']:4}), "
        f"twice within half an interval {doubled}, instances cpu {steady_cpu:5.1f} s, "
        f"database cpu {steady_db:5.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--interval", type=int, default=120, help="poll interval, seconds")
    parser.add_argument("--instances", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    server = start_server()
    if isinstance(server, str):
        raise SystemExit(server)
    try:
        with tempfile.TemporaryDirectory(prefix="watcher-instances-bench-") as tmp:
            if not args.no_sqlite:
                folder = Path(tmp) / "sqlite"
                print(one_setup(args, folder, 1, None), flush=True)
            for count in args.instances:
                folder = Path(tmp) / f"pg{count}"
                print(one_setup(args, folder, count, server), flush=True)
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
