"""Feed parsing in worker processes (watcher.pipeline.pool) gives what parsing in a thread gives."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from watcher.matching import Matcher
from watcher.models import FetchResult, Item, Severity, Source, Watchlist
from watcher.pipeline import pool as parallel
from watcher.pipeline.analysis import Job, analyse
from watcher.pipeline.pool import ParsePool
from watcher.sources import SourceError, parse_items

DATA = Path(__file__).parent / "data" / "feeds"
SOURCE = Source(name="Feed", url="https://news.example/feed/")


def _result(body: bytes) -> FetchResult:
    return FetchResult(SOURCE.url, status=200, body=body, content_type="application/rss+xml")


def _parse(pool: ParsePool, body: bytes) -> list[Item]:
    parsed = asyncio.run(pool.parse(SOURCE, _result(body), "Asia/Phnom_Penh"))
    assert parsed.children == ()  # a feed lists no further documents
    return parsed.items


@pytest.mark.parametrize("name", ["english.xml", "khmer.xml", "undated.xml"])
def test_the_pool_parses_as_a_thread_does(pool: ParsePool, name: str) -> None:
    body = (DATA / name).read_bytes()
    assert _parse(pool, body) == parse_items(SOURCE, _result(body), "Asia/Phnom_Penh")


def test_a_source_error_in_a_worker_reaches_the_pipeline(pool: ParsePool) -> None:
    with pytest.raises(SourceError, match="HTML page"):
        _parse(pool, b"<!doctype html><html><body>login</body></html>")


def test_a_dead_worker_costs_no_items(pool: ParsePool) -> None:
    body = (DATA / "english.xml").read_bytes()
    expected = _parse(pool, body)  # starts the worker
    crew = pool._crew
    assert crew is not None
    killed = crew.pids()
    assert killed
    for pid in killed:  # as the OOM killer would
        os.kill(pid, signal.SIGKILL)
    assert _parse(pool, body) == expected  # parsed in a thread; the worker is replaced
    assert _parse(pool, body) == expected  # and the new worker works
    assert pool._crew is crew and pool._unusable is None
    assert crew.pids() and not set(crew.pids()) & set(killed)


# -- analysis (matching and fingerprints) in the workers ------------------------------

WATCHLISTS = (
    Watchlist(name="Decrees", severity=Severity.HIGH, any=("sub-decree",)),
    Watchlist(name="Arrests", severity=Severity.HIGH, any=("arrested",)),
)


def _jobs() -> list[Job]:
    items = parse_items(SOURCE, _result((DATA / "english.xml").read_bytes()), "UTC")
    items.append(Item(source="Feed", guid="x", link=None, title="A sub-decree", summary="x"))
    return [Job(item) for item in items]


def test_the_pool_analyses_as_a_thread_does(pool: ParsePool) -> None:
    jobs = _jobs()
    found = asyncio.run(pool.analyse(WATCHLISTS, "Feed", jobs))
    assert found == analyse(Matcher(WATCHLISTS), "Feed", jobs)
    assert any(a.matches for a in found)  # the fixture does match something


def test_a_long_list_is_analysed_in_batches_in_order(
    pool: ParsePool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 17: a 50,000-item feed goes to the workers in batches; the answer is the
    # same list, in the same order, as one job in a thread gives.
    monkeypatch.setattr(parallel, "ANALYSE_BATCH", 2)
    jobs = _jobs() * 3
    assert len(jobs) > 4 * parallel.ANALYSE_BATCH
    found = asyncio.run(pool.analyse(WATCHLISTS, "Feed", jobs))
    assert found == analyse(Matcher(WATCHLISTS), "Feed", jobs)
    once = [bool(a.matches) for a in found[: len(jobs) // 3]]
    assert True in once and False in once  # so the order is visible


def test_new_watchlists_start_new_workers(pool: ParsePool) -> None:
    jobs = _jobs()
    asyncio.run(pool.analyse(WATCHLISTS, "Feed", jobs))
    first = pool._crew
    fewer = WATCHLISTS[1:]
    found = asyncio.run(pool.analyse(fewer, "Feed", jobs))
    assert pool._crew is not first
    assert found == analyse(Matcher(fewer), "Feed", jobs)
    assert all(m.watchlist == "Arrests" for a in found for m in a.matches)


def test_workers_that_cannot_start_leave_the_work_to_threads(tmp_path: Path) -> None:
    # No process may be created (fork() failing with EAGAIN, as under a process limit):
    # simulated, since a test cannot take that right from itself alone.
    script = (
        "import asyncio, errno, subprocess, sys\n"
        "sys.path.insert(0, 'tests')\n"
        "def refuse(*args):\n"
        "    raise BlockingIOError(errno.EAGAIN, 'Resource temporarily unavailable')\n"
        "subprocess._fork_exec = refuse\n"
        "from test_parallel import WATCHLISTS, _jobs\n"
        "from watcher.pipeline.pool import ParsePool\n"
        "pool = ParsePool(workers=1)\n"
        "found = asyncio.run(pool.analyse(WATCHLISTS, 'Feed', _jobs()))\n"
        "print(sum(len(a.matches) for a in found), pool._unusable)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
        timeout=120,
        check=True,
    )
    count, reason = done.stdout.split(" ", 1)
    assert int(count) > 0
    assert "BlockingIOError" in reason and "Resource temporarily unavailable" in reason


def test_a_deep_tmpdir_does_not_stop_the_workers(tmp_path: Path) -> None:
    # With a fork server, a TMPDIR this deep made its AF_UNIX socket path too long
    # (108 bytes) and left the work to threads; spawned workers need no socket.
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    script = (
        "import asyncio, sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from test_parallel import WATCHLISTS, _jobs\n"
        "from watcher.pipeline.pool import ParsePool\n"
        "pool = ParsePool(workers=1)\n"
        "found = asyncio.run(pool.analyse(WATCHLISTS, 'Feed', _jobs()))\n"
        "print(sum(len(a.matches) for a in found), pool._unusable)\n"
        "pool.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "TMPDIR": str(deep)},
        cwd=Path(__file__).parent.parent,
        timeout=120,
        check=True,
    )
    count, reason = done.stdout.split(" ", 1)
    assert int(count) > 0
    assert reason.strip() == "None", done.stdout + done.stderr


def test_workers_do_not_rerun_the_main_script(tmp_path: Path) -> None:
    """Under a console script (`watcher`), workers must not import the whole command
    line again: the script's top level runs in the parent only."""
    marker = tmp_path / "imported"
    script = tmp_path / "console.py"
    script.write_text(
        "import asyncio, sys\n"
        f"open({str(marker)!r}, 'a').write('imported\\n')\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_parallel import WATCHLISTS, _jobs\n"
        "from watcher.pipeline.pool import ParsePool\n"
        "if __name__ == '__main__':\n"
        "    pool = ParsePool(workers=2)\n"
        "    found = asyncio.run(pool.analyse(WATCHLISTS, 'Feed', _jobs()))\n"
        "    pool.close()\n"
        "    print(sum(len(a.matches) for a in found), pool._unusable)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    )
    count, reason = done.stdout.split(" ", 1)
    assert int(count) > 0 and reason.strip() == "None", done.stdout + done.stderr
    assert marker.read_text() == "imported\n"
