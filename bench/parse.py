"""Feed parsing: today's feedparser path against the lxml fast path (issue #8).

Run: .venv/bin/python bench/parse.py [--feeds 100] [--items 50] [--runs 5]

Both columns are the whole of parse_feed, html_to_text included: "feedparser" is
the path every feed took before watcher.sources.fastfeed, "fast" is parse_feed as
it is now (it falls back to feedparser for what the fast path declines). The bodies
are bench/feedgen.py's, as bench/feedserver.py serves them: RSS 2.0 and Atom, a
third Khmer, 20–200 KiB. Figures are the median of `runs` passes over every feed.
It also prints what importing feedparser costs a fresh process, which every parse
worker paid before.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feedgen import FeedSpec, default_epoch, feed_specs, feed_xml, people

from watcher.models import FetchResult, Item, Source
from watcher.sources import feed
from watcher.sources.fastfeed import parse_fast

Parser = Callable[[Source, FetchResult, str], list[Item]]
TZ = "Asia/Phnom_Penh"


def _today(source: Source, result: FetchResult, tz: str) -> list[Item]:
    """parse_feed before the fast path: entity check, then feedparser."""
    feed._refuse_entities(result.body or b"")
    return feed._parse_with_feedparser(source, result, tz)


def _feeds(count: int, items: int) -> list[tuple[FeedSpec, Source, FetchResult]]:
    names = [name for name, _ in people()]
    epoch = default_epoch(items, datetime(2026, 11, 25, tzinfo=UTC))
    out = []
    for spec in feed_specs(count):
        url = f"http://{spec.host}:8080{spec.path}"
        source = Source(name=f"feed {spec.index:04d}", url=url)
        kind = "application/atom+xml" if spec.atom else "application/rss+xml; charset=UTF-8"
        body = feed_xml(spec, 0, items, epoch, names)
        out.append((spec, source, FetchResult(url, 200, body=body, content_type=kind)))
    return out


def _ms_per_item(parser: Parser, feeds: list[tuple[FeedSpec, Source, FetchResult]]) -> float:
    """CPU time of one pass over `feeds`, per item, in milliseconds.

    CPU time, not wall time: the benchmark machine is shared, and a neighbour's burst
    would otherwise land on whichever path happened to be running.
    """
    count = 0
    started = time.process_time()
    for _spec, source, result in feeds:
        count += len(parser(source, result, TZ))
    return (time.process_time() - started) * 1000 / count


def _compare(feeds: list[tuple[FeedSpec, Source, FetchResult]], runs: int) -> tuple[float, float]:
    """Median ms/item of each path over `runs` passes, the two paths taking turns."""
    for parser in (_today, feed.parse_feed):  # warm up: imports, caches
        _ms_per_item(parser, feeds[:5])
    slow, fast = [], []
    for _ in range(runs):
        slow.append(_ms_per_item(_today, feeds))
        fast.append(_ms_per_item(feed.parse_feed, feeds))
    return statistics.median(slow), statistics.median(fast)


def _import_cost() -> str:
    """What importing feedparser adds to the resident memory of a process that has
    imported watcher.sources (Linux: /proc/self/statm)."""
    probe = (
        "import os\n"
        "import watcher.sources\n"
        "def resident():\n"
        "    with open('/proc/self/statm') as f:\n"
        "        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')\n"
        "before = resident()\n"
        "import feedparser\n"
        "print(f'{(resident() - before) / 2**20:.1f} MB')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    feeds = _feeds(args.feeds, args.items)
    taken = sum(parse_fast(source, result, TZ) is not None for _, source, result in feeds)
    for spec, source, result in feeds:  # the same Items both ways, or the figures mean nothing
        assert parse_fast(source, result, TZ) in (None, _today(source, result, TZ)), spec
    size = sum(len(result.body or b"") for _, _, result in feeds) / len(feeds) / 1024
    print(f"{len(feeds)} feeds × {args.items} items, {size:.0f} KiB a feed on average")
    print(f"fast path took {taken} of {len(feeds)} feeds")
    groups = {
        "all": feeds,
        "rss": [f for f in feeds if not f[0].atom],
        "atom": [f for f in feeds if f[0].atom],
        "khmer": [f for f in feeds if f[0].khmer],
    }
    print(
        f"{'':8}{'feedparser':>14}{'fast':>12}{'ratio':>8}   (CPU ms/item, median of {args.runs})"
    )
    for label, group in groups.items():
        if not group:
            continue
        slow, fast = _compare(group, args.runs)
        print(f"{label:8}{slow:14.3f}{fast:12.3f}{fast / slow:8.2f}")
    print(f"importing feedparser: +{_import_cost()} resident")


if __name__ == "__main__":
    main()
