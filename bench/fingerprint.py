"""Cost of `watcher.identity.stories.fingerprint` per item on generated news items (issue #8).

Run: .venv/bin/python bench/fingerprint.py [--feeds 40] [--items 50] [--runs 5] [--profile]

At 1,000 feeds × 50 items every new item is fingerprinted once, so its cost is paid
tens of thousands of times a poll round. The items are what the scale benchmarks serve
(bench/feedgen.py: a third Khmer, headline-only to full-text feeds), rendered and read
back with watcher's own feed parser as the pipeline would. Prints the median of `--runs`
passes in ms/item, and a sha256 over every output (signature, band keys, size, numbers),
which changes only with METHOD or BANDING: stored fingerprints must stay comparable
(tests/test_fingerprint_speed.py holds the expected values, signatures and bands apart).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import statistics
import struct
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from feedgen import feed_specs, feed_xml, people

from watcher.identity import minhash, stories
from watcher.models import FetchResult, Item, Source
from watcher.sources.feed import parse_feed

EPOCH = datetime(2026, 11, 1, tzinfo=UTC)


def generated_items(feeds: int = 40, per_feed: int = 50) -> list[Item]:
    """`feeds` × `per_feed` items of bench/feedgen.py, parsed as the pipeline parses them."""
    names = [name for name, _ in people()]
    items: list[Item] = []
    for spec in feed_specs(feeds):
        body = feed_xml(spec, 0, per_feed, EPOCH, names)
        source = Source(name=f"feed {spec.index}", url=f"http://{spec.host}{spec.path}")
        items += parse_feed(source, FetchResult(url=source.url, status=200, body=body))
    return items


def outputs_digest(items: Iterable[Item]) -> str:
    """sha256 over every fingerprint (signature, band keys, size, numbers; or None)."""
    digest = hashlib.sha256()
    for item in items:
        found = stories.fingerprint(item)
        if found is None:
            digest.update(b"none;")
            continue
        digest.update(found.signature)
        digest.update(struct.pack(f"<{len(found.bands)}q", *found.bands))
        digest.update(struct.pack("<q", found.size))
        digest.update(repr(found.numbers).encode() + b";")
    return digest.hexdigest()


def per_item(items: list[Item], work: Callable[[Item], object]) -> float:
    """Seconds per item of one pass of `work` over `items`."""
    started = time.perf_counter()
    for item in items:
        work(item)
    return (time.perf_counter() - started) / len(items)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=40)
    parser.add_argument("--items", type=int, default=50, help="items per feed")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one pass")
    args = parser.parse_args()
    items = generated_items(args.feeds, args.items)
    texts = [stories.story_text(item) for item in items]
    kept = sum(stories.fingerprint(item) is not None for item in items)
    print(f"{len(items)} items, {kept} fingerprinted (the rest too short to judge by text)")
    parts: dict[str, Callable[[Item], object]] = {
        "fingerprint": stories.fingerprint,
        "story_text": stories.story_text,
    }
    for name, work in parts.items():
        runs = [per_item(items, work) for _ in range(args.runs)]
        print(f"{name:>14}: {statistics.median(runs) * 1e3:.4f} ms/item (median of {args.runs})")
    runs = []
    for _ in range(args.runs):
        started = time.perf_counter()
        for text in texts:
            minhash.shingle_hashes(text)
        runs.append((time.perf_counter() - started) / len(texts))
    print(f"{'shingle_hashes':>14}: {statistics.median(runs) * 1e3:.4f} ms/item")
    print(f"outputs sha256 {outputs_digest(items)}")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(per_item, items, stories.fingerprint)
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
