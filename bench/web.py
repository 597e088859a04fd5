"""Staff pages at scale (issue 18, SPEC §12): alerts page, search and feeds over a state
of 100,000 retained items (1,000 sources, 90 days) and 10,000 alerts.

Run: .venv/bin/python bench/web.py [--items 100000] [--alerts 10000] [--runs 15] [--keep DIR]

Builds the state with the store's own operations (items with the synthetic article text
of bench/feedgen.py: a third Khmer, ~2 kB an item; 4% carry a watched sentence, 2% an
arrested listed person), then serves it with the real server (`WebThread`, uvicorn on
loopback) and times requests from an httpx client: the median of `--runs` after one
warm-up, logged in with the session cookie for pages and HTTP Basic for feeds.

Search is timed three ways: the first search (waits for the FTS5 trigram index of normal
forms that the server builds when it starts, once per state: watcher.store.search_index), then
warm; and the same query without the index (the matcher over every retained item) to
show why the index is there.
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from feedgen import FeedSpec, _paragraphs, people

from watcher.models import (
    Alert,
    Config,
    Match,
    Person,
    Settings,
    Severity,
    Source,
    Watchlist,
)
from watcher.store.reads import StateReader
from watcher.store.sqlite import Store
from watcher.web.commands import user_add
from watcher.web.search import parse_query, search
from watcher.web.server import WebThread

SOURCES = 1000
PASSWORD = "bench password"
WATCHLISTS = ("Sub-decrees", "Monitoring bodies", "Arrests of named defenders", "Licensing")


def make_config(state_dir: Path, names: list[tuple[str, str]]) -> Config:
    people_list = tuple(
        Person(name=n, aliases=(a,) if a else ()) for n, a in names
    )  # 500 people, as bench/feedgen's config
    return Config(
        path=str(state_dir / "watcher.toml"),
        settings=Settings(state_dir=str(state_dir), timezone="Asia/Phnom_Penh"),
        sources=tuple(
            Source(name=f"Source {i}", url=f"https://news{i}.example.org/feed")
            for i in range(SOURCES)
        ),
        watchlists=(
            Watchlist(name="Sub-decrees", severity=Severity.HIGH, any=("@decree",)),
            Watchlist(name="Monitoring bodies", severity=Severity.NORMAL, any=("@monitoring",)),
            Watchlist(
                name="Arrests of named defenders",
                severity=Severity.URGENT,
                people=people_list,
                near=("@arrest",),
            ),
            Watchlist(name="Licensing", severity=Severity.LOW, any=("licens*", "prakas")),
        ),
    )


def build_state(state_dir: Path, items: int, alerts: int, names: list[str]) -> None:
    """`items` items over 90 days and 1,000 sources, `alerts` of them alerted."""
    rng = random.Random(18)
    now = datetime.now(UTC)
    specs = [
        FeedSpec(i, "127.0.0.1", rng.random() < 0.33, False, False, int(rng.uniform(400, 3700)))
        for i in range(SOURCES)
    ]
    alerted = set(rng.sample(range(items), alerts))
    store = Store.in_dir(state_dir)
    started = time.perf_counter()
    with store.atomic():
        for n in range(items):
            spec = specs[n % SOURCES]
            person = rng.choice(names) if rng.random() < 0.02 else None
            paras = _paragraphs(rng, spec, person, rng.random() < 0.04)
            title = (paras[0].split("។")[0] if spec.khmer else paras[0].split(". ")[0])[:90]
            text = "\n\n".join([title, *paras])
            when = now - timedelta(seconds=90 * 86400 * (items - n) / items)
            link = f"https://news{spec.index}.example.org/2026/{n}/"
            story = store.new_story(link, title, when)
            item_id = store.save_item(
                known=None, source=f"Source {spec.index}", key=link, guid=None, link=link,
                canonical=link, title=title, text=text, published=when,
                content_hash=f"{n:x}", story_id=story, now=when,
            )  # fmt: skip
            if n in alerted:
                wl = WATCHLISTS[n % len(WATCHLISTS)]
                severity = (Severity.HIGH, Severity.NORMAL, Severity.URGENT, Severity.LOW)[
                    n % len(WATCHLISTS)
                ]
                match = Match(wl, severity, terms=("sub-decree",), snippet=paras[0][:200])
                alert = Alert(title, link, f"Source {spec.index}", (match,), published=when)
                store.add_alert(story_id=story, item_id=item_id, alert=alert, now=when)
    store.close()
    print(
        f"state: {items:,} items, {alerts:,} alerts built in {time.perf_counter() - started:.0f} s"
    )


def timed(client: httpx.Client, url: str, runs: int, **kwargs: object) -> tuple[float, int]:
    """Median milliseconds of `runs` GETs after one warm-up, and the last body size."""
    client.get(url, **kwargs).raise_for_status()  # type: ignore[arg-type]
    times = []
    size = 0
    for _ in range(runs):
        started = time.perf_counter()
        r = client.get(url, **kwargs)  # type: ignore[arg-type]
        times.append((time.perf_counter() - started) * 1000)
        r.raise_for_status()
        size = len(r.content)
    return statistics.median(times), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", help="build (or reuse) the state in this folder")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="watcher-web-bench-"))
    named = people(500)
    config = make_config(folder, named)
    if not (folder / "watcher.sqlite3").exists():
        build_state(folder, args.items, args.alerts, [n for n, _ in named])
    user_add(config, "bench", io.StringIO(PASSWORD + "\n"), io.StringIO(), sys.stderr)

    listen = "127.0.0.1:18718"
    web = WebThread(lambda: config, listen)
    web.start()
    base = f"http://{listen}"
    client = httpx.Client(base_url=base, timeout=600)
    for _ in range(100):
        try:
            client.get("/login")
            break
        except httpx.TransportError:
            time.sleep(0.1)
    client.post("/login", data={"username": "bench", "password": PASSWORD})
    rows: list[tuple[str, float, int]] = []

    def measure(label: str, url: str, **kwargs: object) -> None:
        ms, size = timed(client, url, args.runs, **kwargs)
        rows.append((label, ms, size))
        print(f"  {label:<48} median {ms:7.1f} ms  ({size / 1024:.0f} KiB)", flush=True)

    print(f"median of {args.runs} requests after one warm-up:")
    measure("alerts page", "/")
    measure("alerts page, page 100", "/?page=100")
    measure("alerts page, watchlist + severity", "/?watchlist=Sub-decrees&severity=high")
    measure("alerts page, source + dates", "/?source=Source%207&since=2000-01-01")
    first = time.perf_counter()
    client.get("/search?q=sub-decree").raise_for_status()
    print(f"  first search (waits for the index build): {time.perf_counter() - first:.1f} s")
    for label, query in (
        ("search sub-decree", "sub-decree"),
        ("search Khmer អនុក្រឹត្យ (sub-decree)", "អនុក្រឹត្យ"),
        ("search Khmer ចាប់ខ្លួន (arrest; no hit)", "ចាប់ខ្លួន"),
        ("search @monitoring", "@monitoring"),
        (f'search person:"{named[3][0]}" near:@arrest', f'person:"{named[3][0]}" near:@arrest'),
        ("search watchlist (500 people, @arrest)", 'watchlist:"Arrests of named defenders"'),
    ):
        measure(label, f"/search?q={quote(query)}")
    basic = httpx.BasicAuth("bench", PASSWORD)
    feeds = httpx.Client(base_url=base, timeout=600)
    for label, url, runs in (
        ("feed, all (HTTP Basic)", "/feed.atom", args.runs),
        ("feed, one watchlist (HTTP Basic)", "/feed.atom?watchlist=Licensing", args.runs),
        ("CSV download, one watchlist (all its alerts)", "/alerts.csv?watchlist=Licensing", 3),
    ):
        ms, size = timed(feeds, url, runs, auth=basic)
        print(f"  {label:<48} median {ms:7.1f} ms  ({size / 1024:.0f} KiB)", flush=True)
    web.stop()

    reader = StateReader.in_dir(folder)
    query = parse_query("sub-decree", config)
    started = time.perf_counter()
    result = search(reader, query)
    print(
        f"without the index: search sub-decree reads {result.read:,} items in "
        f"{time.perf_counter() - started:.1f} s ({result.total:,} match)"
    )
    print(f"state in {folder}")


if __name__ == "__main__":
    main()
