"""The peer: the `reader` feed library updating the same feeds (one cycle per call).

Run: .venv/bin/python bench/peer_reader.py DB URL-LIST-FILE [--workers 10]

Opens (or creates) reader's SQLite database, adds any feed not yet in it, and
updates every feed once with `update_feeds(workers=N)`; reader's guide gives
`workers=10` as its example for parallel retrieval, which is what we use.
`scheduled=False` updates every feed now rather than on reader's own hourly
schedule (reader >= 3.21 updates only "scheduled" feeds by default). Prints the
number of new and modified entries, like `watcher once` prints its summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import feedparser_sgmllib

# reader vendors feedparser 6, which imports `sgmllib` (the sgmllib3k sdist, which
# has no wheel); the wheel-only `feedparser-sgmllib` port that the installed
# feedparser itself uses provides the same module under another name.
sys.modules.setdefault("sgmllib", feedparser_sgmllib)

from reader import make_reader  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("urls", help="file with one feed URL a line")
    parser.add_argument("--workers", type=int, default=10)
    args = parser.parse_args()
    urls = Path(args.urls).read_text().split()
    with make_reader(args.db) as reader:
        known = {feed.url for feed in reader.get_feeds()}
        for url in urls:
            if url not in known:
                reader.add_feed(url)
        new = modified = errors = not_modified = 0
        for _url, value in reader.update_feeds_iter(workers=args.workers, scheduled=False):
            if value is None:
                not_modified += 1
            elif isinstance(value, Exception):
                errors += 1
            else:
                new += value.new
                modified += value.modified
    print(
        f"reader: {len(urls)} feeds, {new} new entries, {modified} modified, "
        f"{not_modified} not modified, {errors} errors"
    )


if __name__ == "__main__":
    main()
