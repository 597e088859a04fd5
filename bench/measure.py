"""Measure one benchmark subprocess: wall time, CPU seconds and peak RSS of its tree.

CPU comes from wait4(2), where the kernel adds the CPU of every descendant the child
reaped to the child's own, or, when larger, from summing the last sampled CPU of the
child and each descendant: a process the child does not reap (multiprocessing's fork
server did that, before issue 17's own pool) never adds its CPU to wait4's.
Peak RSS is sampled every 100 ms as the sum over the process and all its descendants
(a pool's workers hold memory of their own that ru_maxrss, a per-process maximum,
would not add).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_EVERY = 0.1


@dataclass(frozen=True)
class Run:
    """Figures of one measured subprocess."""

    wall: float  # seconds
    cpu: float  # user + system seconds, the process and all its descendants
    peak_rss: int  # bytes, the tree's sampled maximum (at least the child's ru_maxrss)
    returncode: int


def tree_rss(proc: psutil.Process) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue  # exited between listing and reading
    return total


def _tree_cpu(proc: psutil.Process, seen: dict[int, float]) -> None:
    """Record the CPU seconds so far of a process and each of its descendants."""
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return
    for member in members:
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue
        seen[member.pid] = times.user + times.system


def measure(argv: list[str], *, log: Path, env: dict[str, str] | None = None) -> Run:
    """Run `argv` to completion with stdout+stderr in `log`; return its figures."""
    with log.open("wb") as out:
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        watched = psutil.Process(child.pid)
        peak = 0
        cpu_seen: dict[int, float] = {}
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, tree_rss(watched))
            _tree_cpu(watched, cpu_seen)
            time.sleep(SAMPLE_EVERY)
        wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return Run(
        wall=wall,
        cpu=max(usage.ru_utime + usage.ru_stime, sum(cpu_seen.values())),
        peak_rss=max(peak, usage.ru_maxrss * 1024),
        returncode=child.returncode,
    )
