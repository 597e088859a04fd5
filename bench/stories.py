"""Cost of story lookup per item with 1,000 vs 100,000 stories in the store (issue #4).

Run: .venv/bin/python bench/stories.py [--sizes 1000 100000] [--runs 5] [--dense]

Fills a fresh SQLite store with synthetic stories (texts drawn from the vocabulary of the
seed articles in shared/seeds, so unrelated stories share common shingles as real news
does), each fingerprinted and indexed as the pipeline does, then times resolving new items:
the band lookup in SQLite plus the decision (Store.story_candidates + stories.choose_story).
Half the probes are copies of stored stories, half new texts. The fingerprint of the probe
itself is timed apart: it does not depend on the store's size.

Stories arrive at a steady rate (`--per-day`, default 270: a year's worth at 100,000), the
newest now, as a store that has simply run longer; `watcher once` prunes after each run,
and so does the bench (`--no-prune` keeps every fingerprint). `--dense` puts every story
within the 7-day window instead, a worst case no real deployment reaches.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watcher.identity import stories
from watcher.models import Item
from watcher.store.sqlite import Store

SEEDS = [
    Path(__file__).resolve().parent.parent.parent / "shared" / "seeds",
    Path("/work/shared/seeds"),
]
NOW = datetime(2026, 11, 25, tzinfo=UTC)


def vocabulary() -> list[str]:
    """Words of the seed articles, with their natural frequencies (a list with repeats)."""
    for folder in SEEDS:
        if folder.is_dir():
            text = " ".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.txt")))
            return re.findall(r"[A-Za-z’']+", text)
    raise SystemExit("bench/stories.py needs shared/seeds/*.txt for its vocabulary")


def article(rng: random.Random, words: list[str]) -> Item:
    title = " ".join(rng.choice(words) for _ in range(rng.randint(6, 12)))
    body = " ".join(rng.choice(words) for _ in range(rng.randint(60, 120)))
    return Item(source="bench", guid=None, link=None, title=title.capitalize(), content=body)


def fill(
    store: Store, n: int, rng: random.Random, words: list[str], per_day: float, dense: bool
) -> list[Item]:
    """Store n stories, newest first; returns the newest 100, to probe with copies."""
    kept: list[Item] = []
    with store.atomic():
        for i in range(n):
            item = article(rng, words)
            fp = stories.fingerprint(item)
            if fp is None:
                continue
            age = stories.WINDOW * rng.random() if dense else timedelta(days=i / per_day)
            at = NOW - age
            story = store.new_story(None, item.title, at)
            item_id = store.save_item(
                known=None, source=f"outlet-{i % 40}", key=f"k{i}", guid=None, link=None,
                canonical=None, title=item.title, text=None or "", published=at,
                content_hash="", story_id=story, now=at,
            )  # fmt: skip
            store.save_fingerprint(
                item_id=item_id, story_id=story, source=f"outlet-{i % 40}", at=at, fingerprint=fp
            )
            if i < 100:
                kept.append(item)
    return kept


def probe(store: Store, probes: list[Item]) -> tuple[float, float, int, float]:
    """Median seconds per item for lookup+decision and for fingerprinting; merges found;
    mean candidates per item."""
    lookups, prints, merged, candidates = [], [], 0, 0
    for item in probes:
        t0 = time.perf_counter()
        fp = stories.fingerprint(item)
        t1 = time.perf_counter()
        assert fp is not None
        found = store.story_candidates(fp, NOW - stories.WINDOW, NOW + stories.WINDOW)
        story = stories.choose_story(fp, "probe", NOW, found)
        t2 = time.perf_counter()
        merged += story is not None
        candidates += len(found)
        prints.append(t1 - t0)
        lookups.append(t2 - t1)
    return statistics.median(lookups), statistics.median(prints), merged, candidates / len(probes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--per-day", type=float, default=270.0, help="stories a day")
    parser.add_argument("--dense", action="store_true", help="all stories within 7 days")
    parser.add_argument(
        "--no-prune", action="store_true", help="keep every fingerprint (skip Store.prune)"
    )
    args = parser.parse_args()
    words = vocabulary()
    results: dict[int, float] = {}
    totals: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            rng = random.Random(size)
            store = Store(Path(tmp) / f"bench-{size}.sqlite3")
            started = time.perf_counter()
            stored = fill(store, size, rng, words, args.per_day, args.dense)
            if not args.no_prune:
                # What `watcher once` (and the daemon) do after polling: fingerprints older
                # than FINGERPRINT_KEEP go, stories and item identities stay.
                store.prune(NOW, 90 * 86400.0)
            built = time.perf_counter() - started
            copies = [
                Item(source="probe", guid=None, link=None, title=i.title, content=i.content)
                for i in stored[:100]
            ]
            fresh = [article(rng, words) for _ in range(100)]
            runs = [probe(store, copies + fresh) for _ in range(args.runs)]
            lookup = statistics.median(r[0] for r in runs)
            printing = statistics.median(r[1] for r in runs)
            results[size] = lookup
            totals[size] = lookup + printing
            print(
                f"{size:>7} stories: lookup+decision {lookup * 1e3:.3f} ms/item, "
                f"fingerprint {printing * 1e3:.3f} ms/item, copies found "
                f"{runs[0][2]}/{len(copies) + len(fresh)} (expected {len(copies)}), "
                f"candidates {runs[0][3]:.1f}/item, "
                f"store built in {built:.0f} s"
            )
            store.close()
    if len(results) >= 2:
        small, large = results[min(results)], results[max(results)]
        print(f"ratio {max(results)}/{min(results)}: {large / small:.2f}x (must stay within 2x)")
        whole = totals[max(totals)] / totals[min(totals)]
        print(f"ratio with the item's fingerprint (all story resolution costs): {whole:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
