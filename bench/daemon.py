"""`watcher run` against 1,000 feeds for a while: flat memory, no skipped poll (issue #8).

Run: .venv/bin/python bench/daemon.py [--feeds 1000] [--minutes 30] [--interval 60]
Needs the `bench` extra: .venv/bin/pip install -e '.[bench]'

Intervals are shortened (every source every `--interval` seconds instead of the
usual 10–60 minutes) so that half an hour holds as many polls per source as a
day of real running. The feed server (its own process) publishes new articles in
`--churn-fraction` of the feeds every `--churn-every` seconds, so polls find real
work, not only 304s.

Prints the resident memory of the daemon's process tree after the first round
of polls (start), at the middle and at the end, and, from the server's request
log, polls per source against the number expected: a source whose gap between
two polls exceeds 1.5 intervals (interval plus APScheduler's jitter is at most
1.1) had a poll skipped. Stops the daemon with SIGTERM and reports how long the
stop took. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from feedgen import feed_specs, write_config  # noqa: E402  (bench/ is not a package)
from measure import tree_rss  # noqa: E402
from poll import FeedServer  # noqa: E402

SAMPLE_EVERY = 5.0  # seconds between RSS samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=int, default=60, help="poll interval, seconds")
    parser.add_argument("--churn-every", type=float, default=30.0)
    parser.add_argument("--churn-fraction", type=float, default=0.02)
    parser.add_argument("--keep", metavar="DIR", help="keep config, state and log in DIR")
    args = parser.parse_args()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=False)
        run(args, Path(args.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="watcher-daemon-bench-") as tmp:
            run(args, Path(tmp))


def run(args: argparse.Namespace, folder: Path) -> None:
    """Serve, run the daemon for the duration, stop it, and print the figures."""
    specs = feed_specs(args.feeds)
    duration = args.minutes * 60
    extra = ["--churn-every", str(args.churn_every), "--churn-fraction", str(args.churn_fraction)]
    extra += ["--lifetime", str(duration + 600)]
    with FeedServer(args.feeds, args.items, extra) as server:
        config = write_config(folder, specs, server.port, interval=f"{args.interval}s")
        argv = [sys.executable, "-m", "watcher", "-c", str(config), "run"]
        with (folder / "daemon.log").open("wb") as log:
            daemon = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            started = time.monotonic()
            watched = psutil.Process(daemon.pid)
            samples: list[tuple[float, int]] = []
            cpu_before = _tree_cpu(watched)
            while time.monotonic() - started < duration and daemon.poll() is None:
                time.sleep(SAMPLE_EVERY)
                samples.append((time.monotonic() - started, tree_rss(watched)))
            cpu = _tree_cpu(watched) - cpu_before
            stop_at = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            try:
                code = daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                code = daemon.wait()
            stop_took = time.monotonic() - stop_at
        requests = server.control("log")
    assert isinstance(requests, list)
    report(args, samples, requests, duration, cpu, code, stop_took)


def _tree_cpu(proc: psutil.Process) -> float:
    total = 0.0
    for member in [proc, *proc.children(recursive=True)]:
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def report(
    args: argparse.Namespace,
    samples: list[tuple[float, int]],
    requests: list[list[float]],
    duration: float,
    cpu: float,
    code: int,
    stop_took: float,
) -> None:
    """Print memory over time and polls per source against the expected count."""
    interval = float(args.interval)
    by_feed: dict[int, list[float]] = {i: [] for i in range(args.feeds)}
    for at, index, _status in requests:
        by_feed[int(index)].append(float(at))
    # The server's clock starts before the daemon's; the first poll of all is the origin.
    first = min((t for ts in by_feed.values() for t in ts), default=0.0)
    end = first + duration
    counts, skipped, expected_all = [], 0, []
    worst_gap = 0.0
    for times in by_feed.values():
        times.sort()
        counts.append(len(times))
        if not times:
            skipped += 1
            continue
        # Polls a source should get from its own first poll to the end, one an interval.
        expected_all.append(1 + int((end - times[0]) // interval))
        gaps = [b - a for a, b in pairwise(times)]
        gaps.append(end - times[-1])  # a source that stopped being polled
        worst = max(gaps)
        worst_gap = max(worst_gap, worst)
        if worst > 1.5 * interval:
            skipped += 1
    mb = [(t, rss / 2**20) for t, rss in samples]
    warm = next((m for t, m in mb if t >= interval + 10), mb[0][1] if mb else 0.0)
    middle = mb[len(mb) // 2][1] if mb else 0.0
    last = mb[-1][1] if mb else 0.0
    print(
        f"watcher run: {args.feeds} feeds, every {args.interval:g} s, "
        f"{args.minutes:g} min; {args.churn_fraction:.0%} of feeds change every "
        f"{args.churn_every:g} s"
    )
    print(
        f"RSS of the process tree, MB: after the first round {warm:.0f}, middle {middle:.0f}, "
        f"end {last:.0f}, max {max((m for _, m in mb), default=0):.0f}"
    )
    statuses = [int(r[2]) for r in requests]
    print(
        f"polls: {len(requests)} ({statuses.count(200)} x 200, {statuses.count(304)} x 304); "
        f"per source min {min(counts)}, median {statistics.median(counts):g}, "
        f"max {max(counts)}; expected per source about "
        f"{statistics.median(expected_all) if expected_all else 0:g}"
    )
    print(
        f"sources with a skipped poll (gap > 1.5 intervals) or never polled: {skipped}; "
        f"longest gap {worst_gap:.1f} s"
    )
    print(
        f"CPU {cpu:.0f} s in {duration:.0f} s ({cpu / duration:.0%} of one core); "
        f"SIGTERM: exit {code} after {stop_took:.1f} s"
    )
    if os.environ.get("BENCH_VERBOSE"):
        for t, m in mb:
            print(f"  {t:7.0f} s {m:6.0f} MB")


if __name__ == "__main__":
    main()
