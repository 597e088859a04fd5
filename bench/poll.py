"""Poll-cycle benchmark at a national desk's scale, side by side with a peer (issue #8).

Run: .venv/bin/python bench/poll.py [--feeds 1000] [--items 50] [--runs 3]
Needs the `bench` extra: .venv/bin/pip install -e '.[bench]'

Per run, on loopback only:
1. bench/feedserver.py starts in its own process and renders N feeds of `items`
   items each (20–200 KiB, a third in Khmer, 40% gzip-compressed, RSS and Atom),
   with ETag / Last-Modified and 304 answers.
2. First cycle: `watcher once` (a subprocess, fresh state, a generated config with
   3 watchlists and 500 people) polls every feed; then the peer, the `reader`
   library (`update_feeds(workers=10)`, fresh database), updates the same feeds.
3. The server publishes 5 new articles in 10% of the feeds (--changed).
4. Steady cycle: both again; 90% of the feeds answer 304.
Which peer goes first alternates between runs, so neither always gets a warm cache.

Prints, per cycle, the median over runs of wall time, items/s (items in the
bodies the server sent during that cycle, divided by wall time), CPU seconds
(the process and its children) and peak RSS (the process tree, sampled), and
watcher's time as a ratio to reader's, against issue 17's goals (first cycle at most a
third of reader's time, steady cycle a quarter, peak RSS 150 MB). Not a test: nothing here
asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from feedgen import feed_specs, write_config  # noqa: E402  (bench/ is not a package)
from measure import Run, measure  # noqa: E402

PEERS = ("watcher", "reader")
CYCLES = ("first", "steady")
# Goals of issue 17 on a 2-core machine: watcher's wall time as a share of reader's in the
# same run (first and steady cycle), and the peak RSS of watcher's whole process tree.
TARGETS = {"first": 1 / 3, "steady": 1 / 4, "rss_mb": 150.0}


@dataclass(frozen=True)
class Cycle:
    """One peer's figures for one cycle of one run."""

    run: Run
    items: int  # items in the 200 responses the server sent during the cycle
    ok: int  # 200 responses
    not_modified: int  # 304 responses


class FeedServer:
    """bench/feedserver.py in its own process, for the lifetime of a `with` block."""

    def __init__(self, feeds: int, items: int, extra: list[str] | None = None) -> None:
        argv = [sys.executable, str(HERE / "feedserver.py"), "--feeds", str(feeds)]
        argv += ["--items", str(items), *(extra or [])]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until every feed is rendered
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError(f"feed server did not start: {line!r}")
        self.port = int(line.split()[1])

    def control(self, what: str) -> object:
        """GET a /_control/ endpoint and return its JSON."""
        url = f"http://127.0.0.1:{self.port}/_control/{what}"
        with urllib.request.urlopen(url, timeout=60) as response:
            return json.loads(response.read())

    def __enter__(self) -> FeedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _cycle(server: FeedServer, argv: list[str], log: Path, env: dict[str, str]) -> Cycle:
    server.control("stats?reset=1")
    run = measure(argv, log=log, env=env)
    if run.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {run.returncode}; see {log}")
    stats = server.control("stats")
    assert isinstance(stats, dict)
    return Cycle(run, stats["items"], stats["ok"], stats["not_modified"])


def one_run(args: argparse.Namespace, number: int, folder: Path) -> dict[str, dict[str, Cycle]]:
    """Both cycles for both peers against one fresh server; returns figures[peer][cycle]."""
    specs = feed_specs(args.feeds)
    results: dict[str, dict[str, Cycle]] = {p: {} for p in PEERS}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with FeedServer(args.feeds, args.items) as server:
        config = write_config(folder / "watcher", specs, server.port)
        urls = folder / "urls.txt"
        urls.write_text("".join(f"http://{s.host}:{server.port}{s.path}\n" for s in specs))
        commands = {
            "watcher": [sys.executable, "-m", "watcher", "-c", str(config), "once"],
            "reader": [
                sys.executable,
                str(HERE / "peer_reader.py"),
                str(folder / "reader.sqlite"),
                str(urls),
                "--workers",
                str(args.workers),
            ],
        }
        order = PEERS if number % 2 == 0 else tuple(reversed(PEERS))
        for cycle in CYCLES:
            if cycle == "steady":
                server.control(f"change?fraction={args.changed}&round={number + 1}")
            for peer in order:
                log = folder / f"{peer}-{cycle}.log"
                results[peer][cycle] = _cycle(server, commands[peer], log, env)
                c = results[peer][cycle]
                print(
                    f"  run {number + 1} {cycle:6} {peer:7} {c.run.wall:6.2f} s  "
                    f"cpu {c.run.cpu:6.2f} s  rss {c.run.peak_rss / 2**20:5.0f} MB  "
                    f"200s {c.ok:4}  304s {c.not_modified:4}",
                    flush=True,
                )
    return results


def _median(values: list[float]) -> float:
    return statistics.median(values)


def report(all_runs: list[dict[str, dict[str, Cycle]]], args: argparse.Namespace) -> str:
    """The side-by-side table of medians."""

    def med(peer: str, cycle: str, field: str) -> float:
        values = []
        for r in all_runs:
            c = r[peer][cycle]
            values.append(
                {
                    "wall": c.run.wall,
                    "cpu": c.run.cpu,
                    "rss": c.run.peak_rss / 2**20,
                    "items_s": c.items / c.run.wall if c.run.wall else 0.0,
                }[field]
            )
        return _median(values)

    lines = [
        f"{args.feeds} feeds x {args.items} items, {args.changed:.0%} changed in the steady "
        f"cycle; median of {len(all_runs)} run(s); reader with workers={args.workers}",
        f"{'':24}{'watcher':>10}{'reader':>10}{'ratio w/r':>11}  goal (issue 17)",
    ]
    for cycle in CYCLES:
        for field, label, fmt in (
            ("wall", "wall s", "{:10.2f}"),
            ("items_s", "items/s", "{:10.0f}"),
            ("cpu", "CPU s", "{:10.2f}"),
            ("rss", "peak RSS MB", "{:10.0f}"),
        ):
            w, r = med("watcher", cycle, field), med("reader", cycle, field)
            ratio = f"{w / r:11.2f}" if r else f"{'-':>11}"
            target = ""
            if field == "wall":
                # The median of each run's own ratio: both peers ran back to back, so a
                # change of load between runs cancels out.
                share = _median(
                    [x["watcher"][cycle].run.wall / x["reader"][cycle].run.wall for x in all_runs]
                )
                limit = TARGETS[cycle]
                target = (
                    f"  <= {limit:.2f} of reader's: {'met' if share <= limit else 'MISSED'} "
                    f"(median of the runs' ratios {share:.2f})"
                )
            elif field == "rss":
                limit = TARGETS["rss_mb"]
                target = f"  <= {limit:g} MB: {'met' if w <= limit else 'MISSED'}"
            lines.append(f"{cycle + ' ' + label:24}{fmt.format(w)}{fmt.format(r)}{ratio}{target}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--changed", type=float, default=0.1, help="fraction of feeds changed")
    parser.add_argument("--workers", type=int, default=10, help="reader's update_feeds(workers=)")
    parser.add_argument("--keep", metavar="DIR", help="keep configs, state and logs in DIR")
    args = parser.parse_args()
    started = time.perf_counter()
    all_runs = []
    for number in range(args.runs):
        if args.keep:
            folder = Path(args.keep) / f"run{number + 1}"
            folder.mkdir(parents=True, exist_ok=False)
            all_runs.append(one_run(args, number, folder))
        else:
            with tempfile.TemporaryDirectory(prefix="watcher-bench-") as tmp:
                all_runs.append(one_run(args, number, Path(tmp)))
    print()
    print(report(all_runs, args))
    print(f"(benchmark took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
