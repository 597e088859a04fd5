"""The pool's own worker processes (watcher.pipeline.pool, watcher.pipeline.worker), with real
processes: a worker killed mid-job, a parent gone, close, what a worker may see and write."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_parallel import SOURCE, WATCHLISTS, _jobs, _result

from watcher.matching import Matcher
from watcher.models import FetchResult
from watcher.pipeline import pool as parallel
from watcher.pipeline.analysis import Analysis, analyse
from watcher.pipeline.pool import ParsePool
from watcher.pipeline.worker import READY, read_frame, write_frame
from watcher.sources import parse_document, parse_items

ROOT = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data" / "feeds"


def _big_feed(items: int) -> bytes:
    entries = "".join(
        f"<item><title>Item {n} about a sub-decree</title><link>https://news.example/{n}</link>"
        f"<guid>g{n}</guid><description>Text of item {n}, long enough to matter.</description>"
        f"<pubDate>Mon, 01 Dec 2026 08:00:00 +0000</pubDate></item>"
        for n in range(items)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Big</title>'
        f"<link>https://news.example/</link>{entries}</channel></rss>"
    ).encode()


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _running(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _worker_children() -> set[int]:
    """Running children of this process that are pool workers."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        mine = ppid == os.getpid() and b"watcher.pipeline.worker" in cmdline
        if mine and _running(int(entry.name)):
            found.add(int(entry.name))
    return found


def _wait_until(test: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if test():
            return True
        time.sleep(0.01)
    return False


def test_a_worker_killed_mid_job_costs_that_job_nothing(
    pool: ParsePool, caplog: pytest.LogCaptureFixture
) -> None:
    body = _big_feed(20_000)
    expected = parse_items(SOURCE, _result(body), "UTC")
    asyncio.run(pool.parse(SOURCE, _result(_big_feed(10)), "UTC", WATCHLISTS))
    crew = pool._crew
    assert crew is not None
    (pid,) = crew.pids()
    idle = _cpu_ticks(pid)

    async def kill_mid_job() -> list[object]:
        job = asyncio.create_task(pool.parse(SOURCE, _result(body), "UTC", WATCHLISTS))
        # The worker sat blocked on its pipe: CPU it uses now is this job's.
        while _cpu_ticks(pid) == idle and not job.done():
            await asyncio.sleep(0.002)
        assert not job.done()
        os.kill(pid, signal.SIGKILL)  # as the OOM killer would
        return list((await job).items)

    with caplog.at_level(logging.WARNING, logger="watcher.parallel"):
        assert asyncio.run(kill_mid_job()) == expected  # parsed again, in a thread
    assert "event=pool-broken job=parse source=Feed" in caplog.text
    assert f"worker {pid} ended (code -9)" in caplog.text
    assert "pool-unusable" not in caplog.text
    # The dead worker was replaced, and the new one answers.
    assert asyncio.run(pool.analyse(WATCHLISTS, "Feed", _jobs())) == analyse(
        Matcher(WATCHLISTS), "Feed", _jobs()
    )
    assert crew.pids() and pid not in crew.pids() and not _running(pid)


def test_close_leaves_no_worker_running(pool: ParsePool) -> None:
    before = _worker_children()
    pool.workers = 2
    asyncio.run(pool.analyse(WATCHLISTS, "Feed", _jobs() * 3))
    crew = pool._crew
    assert crew is not None
    assert _wait_until(lambda: len(crew.pids()) == 2)
    pids = set(crew.pids())
    assert pids <= _worker_children()
    pool.close()
    assert not any(_running(pid) for pid in pids)
    assert not _worker_children() - before


def test_jobs_in_progress_finish_with_the_old_watchlists(pool: ParsePool) -> None:
    jobs = _jobs() * 20
    fewer = WATCHLISTS[1:]

    async def both() -> tuple[list[Analysis], list[Analysis]]:
        old = asyncio.create_task(pool.analyse(WATCHLISTS, "Feed", jobs))
        while pool._crew is None:  # the old job is queued to the old workers
            await asyncio.sleep(0)
        first = pool._crew
        assert first.serves(WATCHLISTS)
        new = await pool.analyse(fewer, "Feed", jobs)  # a reloaded config
        assert pool._crew is not first
        retired.append(first)
        return list(await old), list(new)

    retired: list[parallel._Crew] = []
    old, new = asyncio.run(both())
    # The old workers stop once their jobs are done.
    assert _wait_until(lambda: not retired[0].pids())
    assert old == analyse(Matcher(WATCHLISTS), "Feed", jobs)
    assert new == analyse(Matcher(fewer), "Feed", jobs)
    assert "Decrees" in {m.watchlist for a in old for m in a.matches}
    assert "Decrees" not in {m.watchlist for a in new for m in a.matches}


PARENT = """
import asyncio, sys
sys.path.insert(0, 'tests')
from test_parallel import WATCHLISTS, _jobs
from watcher.pipeline.pool import ParsePool
pool = ParsePool(workers=2)
asyncio.run(pool.analyse(WATCHLISTS, 'Feed', _jobs()))
while len(pool._crew.pids()) < 2:
    pass
print(*pool._crew.pids(), flush=True)
sys.stdin.read()
"""


def test_workers_exit_when_their_parent_is_killed() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(_running(pid) for pid in pids)
    finally:
        parent.kill()  # SIGKILL: no close(), no atexit
        parent.wait()
    assert _wait_until(lambda: not any(_running(pid) for pid in pids))


CHILDREN = """
import asyncio, os, sys
from pathlib import Path
sys.path.insert(0, 'tests')
from test_parallel import WATCHLISTS, _jobs
from watcher.pipeline.pool import ParsePool
pool = ParsePool(workers=1)
asyncio.run(pool.analyse(WATCHLISTS, 'Feed', _jobs()))
for entry in Path('/proc').iterdir():
    try:
        stat = (entry / 'stat').read_text() if entry.name.isdigit() else ')'
        if stat.rsplit(')', 1)[1].split()[1:2] == [str(os.getpid())]:
            print((entry / 'cmdline').read_bytes().replace(b'\\0', b' ').decode())
    except FileNotFoundError:
        pass
pool.close()
"""


def test_no_process_but_the_workers_is_started() -> None:
    # multiprocessing's resource tracker was one more interpreter (~13 MB) per run.
    done = subprocess.run(
        [sys.executable, "-c", CHILDREN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    children = done.stdout.splitlines()
    assert len(children) == 1, done.stdout
    assert "-m watcher.pipeline.worker" in children[0]
    assert "multiprocessing" not in done.stdout


UNUSABLE = """
import asyncio, logging, sys
sys.path.insert(0, 'tests')
logging.basicConfig(level=logging.WARNING)
sys.executable = {executable!r}
from test_parallel import WATCHLISTS, _jobs
from watcher.pipeline.pool import ParsePool
pool = ParsePool(workers=2)
for _ in range(3):
    found = asyncio.run(pool.analyse(WATCHLISTS, 'Feed', _jobs()))
print(sum(len(a.matches) for a in found), pool._unusable)
pool.close()
"""


@pytest.mark.parametrize(
    ("executable", "reason"),
    [
        ("/nonexistent/python3", "FileNotFoundError"),  # no interpreter to run
        ("/bin/false", "exited with code 1 before it was ready"),  # one that cannot serve
    ],
)
def test_a_bad_interpreter_leaves_the_work_to_threads(executable: str, reason: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", UNUSABLE.format(executable=executable)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    count, why = done.stdout.split(" ", 1)
    assert int(count) > 0  # the answers, from threads
    assert reason in why
    assert done.stderr.count("event=pool-unusable") == 1, done.stderr  # logged once


def test_a_worker_gets_no_secret_of_the_environment(
    pool: ParsePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "not-a-real-token")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    asyncio.run(pool.analyse(WATCHLISTS, "Feed", _jobs()))
    assert pool._crew is not None
    (pid,) = pool._crew.pids()
    names = {
        entry.split(b"=", 1)[0].decode()
        for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        if entry
    }
    assert "TELEGRAM_BOT_TOKEN" not in names
    assert {"LC_ALL", "PATH"} <= names


NOISY = """
import os
import watcher.sources
from watcher.pipeline import worker
parse = watcher.sources.parse_document
def noisy(*args, **kwargs):
    print('printed noise')
    os.write(1, b'raw noise on fd 1\\n')
    return parse(*args, **kwargs)
watcher.sources.parse_document = noisy
worker.main()
"""


def test_a_worker_writes_nothing_but_frames_to_its_stdout() -> None:
    # Whatever a job prints, or a library writes to fd 1, goes to stderr.
    body = (DATA / "english.xml").read_bytes()
    result = FetchResult(SOURCE.url, status=200, body=body, content_type="application/rss+xml")
    worker = subprocess.Popen(
        [sys.executable, "-c", NOISY],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert worker.stdin is not None and worker.stdout is not None
    write_frame(worker.stdin, pickle.dumps(WATCHLISTS))
    assert read_frame(worker.stdout) == READY
    write_frame(worker.stdin, pickle.dumps(("parse", (SOURCE, result, "UTC", None))))
    answer = read_frame(worker.stdout)
    assert answer is not None
    ok, parsed = answer
    assert ok and parsed == parse_document(SOURCE, result, "UTC")
    worker.stdin.close()  # end of stdin ends the worker
    assert worker.stdout.read() == b""
    assert worker.wait(30) == 0
    assert worker.stderr is not None
    stderr = worker.stderr.read().decode()
    assert "printed noise" in stderr and "raw noise on fd 1" in stderr
