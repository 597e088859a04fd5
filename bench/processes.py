"""Peak RSS of each process of one `watcher once`, first and steady cycle.

bench/poll.py measures the whole process tree; this names its members: the main
process, the child that checks the channel URLs with Apprise and the parse worker
(and, before issue 17's own pool, multiprocessing's resource tracker), each sampled
with psutil every 20 ms. Same feeds
and config as bench/poll.py (feedgen), 10% of the feeds changed before the steady cycle.

    .venv/bin/python bench/processes.py [--feeds 1000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from feedgen import feed_specs, write_config  # noqa: E402  (bench/ is not a package)
from poll import FeedServer  # noqa: E402


def _role(proc: psutil.Process, main_pid: int) -> str:
    if proc.pid == main_pid:
        return "main"
    command = " ".join(proc.cmdline())
    if "channel_check" in command:
        return "check"
    return "tracker" if "resource_tracker" in command else "worker"


def sample(argv: list[str]) -> tuple[dict[str, int], int]:
    """Run `argv`; (peak RSS MB of each process role, peak of their sum MB)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    main = psutil.Process(proc.pid)
    peaks: dict[str, int] = {}
    tree_peak = 0
    while proc.poll() is None:
        total = 0
        try:
            members = [main, *main.children(recursive=True)]
        except psutil.Error:
            break
        for member in members:
            try:
                rss, role = member.memory_info().rss, _role(member, proc.pid)
            except psutil.Error:
                continue
            peaks[role] = max(peaks.get(role, 0), rss)
            total += rss
        tree_peak = max(tree_peak, total)
        time.sleep(0.02)
    if proc.returncode:
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}")
    return {k: round(v / 2**20) for k, v in peaks.items()}, round(tree_peak / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FeedServer(args.feeds, args.items) as server:
        config = write_config(Path(tmp) / "watcher", feed_specs(args.feeds), server.port)
        argv = [sys.executable, "-m", "watcher", "-c", str(config), "once"]
        for cycle in ("first", "steady"):
            if cycle == "steady":
                server.control("change?fraction=0.1&round=1")
            peaks, tree = sample(argv)
            each = ", ".join(f"{role} {mb} MB" for role, mb in sorted(peaks.items()))
            print(f"{cycle:6} peak of each: {each}; of their sum: {tree} MB", flush=True)


if __name__ == "__main__":
    main()
