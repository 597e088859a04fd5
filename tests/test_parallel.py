"""Feed parsing in worker processes (watcher.parallel) gives what parsing in a thread gives."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from watcher import parallel
from watcher.models import FetchResult, Item, Source
from watcher.parallel import ParsePool
from watcher.sources import SourceError, parse_items

DATA = Path(__file__).parent / "data" / "feeds"
SOURCE = Source(name="Feed", url="https://news.example/feed/")


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[ParsePool]:
    monkeypatch.setattr(parallel, "MIN_POOL_BYTES", 0)  # the fixtures are small feeds
    pool = ParsePool(workers=1)
    yield pool
    pool.close()


def _result(body: bytes) -> FetchResult:
    return FetchResult(SOURCE.url, status=200, body=body, content_type="application/rss+xml")


def _parse(pool: ParsePool, body: bytes) -> list[Item]:
    return asyncio.run(pool.parse(SOURCE, _result(body), "Asia/Phnom_Penh"))


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
    executor = pool._executor
    assert executor is not None
    for process in list(executor._processes.values()):  # as the OOM killer would
        os.kill(process.pid, signal.SIGKILL)
        process.join(5)
    assert _parse(pool, body) == expected  # parsed in a thread; the pool is replaced
    assert pool._executor is not executor
    assert _parse(pool, body) == expected  # and the new pool works
