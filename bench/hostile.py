"""Peak memory of `watcher once` on hostile feeds (issue 17: the whole tree ≤ 200 MB).

Run: .venv/bin/python bench/hostile.py [--runs 3]
Needs the `bench` extra (psutil) and the `dev` extra (brotli, for the bomb).

One config (bench/feedgen.py's 3 watchlists and 500 people, default `max_size` of
10 MB, `max_age` 7d) with, on one loopback server (tests/hostile.py plus the
routes below):

- a well-behaved feed;
- a 50,000-item RSS feed (~8.5 MB: an archive, one item every 10 minutes, so ~1,000
  are within max_age);
- a 50,000-item RSS feed whose items are all from the last day (nothing to drop);
- a feed whose one item has a 5 MB title;
- a gzip, a deflate and a brotli bomb (100–200 MB of zeros each).

Per run, fresh state: the first `watcher once` (every item new) and a second one
(nothing changed; the server sends the same bodies again, no ETag). Prints wall,
CPU and peak RSS of the whole process tree (bench/measure.py), medians over runs.
Not a test: nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from feedgen import write_config  # noqa: E402
from measure import Run, measure  # noqa: E402

import hostile  # noqa: E402  (tests/hostile.py: the bombs and their server)

ITEMS = 50_000


def _rss(items: list[bytes]) -> bytes:
    head = (
        b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
        b"<title>Bench</title><link>http://example.org/</link><description>d</description>"
    )
    return head + b"".join(items) + b"</channel></rss>"


def _item(n: int, when: datetime, title: str) -> bytes:
    return (
        f"<item><title>{title}</title><link>http://example.org/a/{n}</link>"
        f"<pubDate>{format_datetime(when)}</pubDate>"
        f"<description>Article {n} on the budget.</description></item>"
    ).encode()


@functools.cache
def big_feed(step_minutes: float) -> bytes:
    """ITEMS items, newest first, one every `step_minutes` (cached per process)."""
    now = datetime.now(UTC)
    return _rss(
        [_item(n, now - timedelta(minutes=step_minutes * n), f"Item {n}") for n in range(ITEMS)]
    )


@functools.cache
def long_title() -> bytes:
    title = ("sub-decree " * (5 * 2**20 // 11))[: 5 * 2**20]
    return _rss([_item(0, datetime.now(UTC), title)])


def _serve(body: bytes) -> hostile.Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        hostile._send(handler, 200, body, Content_Type="application/rss+xml; charset=utf-8")

    return route


SOURCES = {
    "good": "/good.xml",
    "archive 50,000 items": "/archive.xml",
    "recent 50,000 items": "/recent.xml",
    "5 MB title": "/long-title.xml",
    "gzip bomb": "/gzip-bomb",
    "deflate bomb": "/deflate-bomb",
    "brotli bomb": "/brotli-bomb",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="keep configs, state and logs in DIR")
    args = parser.parse_args()
    hostile.ROUTES["/archive.xml"] = _serve(big_feed(10.0))
    hostile.ROUTES["/recent.xml"] = _serve(big_feed(24 * 60 / ITEMS))
    hostile.ROUTES["/long-title.xml"] = _serve(long_title())
    server = hostile.HostileServer()
    # A bomb's client hangs up mid-body, as it should: not worth a traceback.
    server.server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    runs: dict[str, list[Run]] = {"first": [], "second": []}
    try:
        for number in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="watcher-hostile-") as tmp:
                folder = Path(args.keep) / f"run{number + 1}" if args.keep else Path(tmp)
                config = write_config(folder, [], server.port)
                lines = [config.read_text("utf-8")]
                for name, path in SOURCES.items():
                    lines.append(f'\n[[sources]]\nname = "{name}"\nurl = "{server.url(path)}"\n')
                config.write_text("".join(lines), "utf-8")
                argv = [sys.executable, "-m", "watcher", "-c", str(config), "once"]
                for cycle in runs:
                    run = measure(argv, log=folder / f"{cycle}.log")
                    if run.returncode not in (0, 1):  # 1: some sources failed, as they should
                        log = (folder / f"{cycle}.log").read_text("utf-8", "replace")
                        raise RuntimeError(f"watcher once exited {run.returncode}:\n{log[-2000:]}")
                    runs[cycle].append(run)
                    print(
                        f"  run {number + 1} {cycle:6} {run.wall:6.2f} s  cpu {run.cpu:6.2f} s  "
                        f"peak rss {run.peak_rss / 2**20:5.0f} MB  exit {run.returncode}",
                        flush=True,
                    )
    finally:
        server.close()
    print(f"\nhostile feeds ({', '.join(SOURCES)}); median of {args.runs} run(s)")
    for cycle, figures in runs.items():
        wall = statistics.median(r.wall for r in figures)
        cpu = statistics.median(r.cpu for r in figures)
        rss = statistics.median(r.peak_rss / 2**20 for r in figures)
        verdict = "met" if rss <= 200 else "MISSED"
        print(
            f"{cycle:7} cycle: wall {wall:6.2f} s  CPU {cpu:6.2f} s  "
            f"peak RSS {rss:5.0f} MB (<= 200 MB: {verdict})"
        )


if __name__ == "__main__":
    try:
        main()
    except subprocess.SubprocessError as exc:
        sys.exit(str(exc))
