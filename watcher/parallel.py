"""Feed parsing in worker processes, so it uses every core and never blocks the loop.

feedparser is pure Python: at a national desk's scale (1,000 feeds, 50 items each)
parsing is about a quarter of a first cycle's CPU (docs/performance.md), and in a
thread it holds the GIL that fetching, matching and recording need. A small pool
of processes parses feed bodies instead; the event loop only waits for the items.

Only `kind = "feed"` goes to the pool: HTML lists and sitemaps are cheap to parse,
and a sitemap index is signalled by an exception with extra state. Workers are
started by a fork server that imports only `watcher.sources` (not numpy,
datasketch or ICU, which the main process loads for matching and stories), so
each costs little memory, and nothing is forked from a process running threads.

Hostile input stays contained: a body that kills a worker (a crash or the kernel's
OOM killer) breaks the pool; the pool is replaced and that body is parsed in a
thread as before, where the parser's own guarantees (tests/test_hostile.py) hold.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from watcher.models import FetchResult, Item, Source
from watcher.sources import parse_items

log = logging.getLogger("watcher.parallel")

# One worker per core, at most 4: beyond that the main process (matching, SQLite)
# is the limit and more workers only cost memory.
MAX_WORKERS = 4
# Bodies smaller than this parse faster than they travel to a worker and back.
MIN_POOL_BYTES = 16 * 1024


def default_workers() -> int:
    """Workers for this machine: the usable cores, between 1 and MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


class ParsePool:
    """Parses feed bodies in worker processes; `parse` has parse_items' contract."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["watcher.sources"])
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._executor

    async def parse(self, source: Source, result: FetchResult, tz: str) -> list[Item]:
        """The items of a fetched body; raises SourceError with a readable reason."""
        if source.kind != "feed" or len(result.body or b"") < MIN_POOL_BYTES:
            return await asyncio.to_thread(parse_items, source, result, tz)
        loop = asyncio.get_running_loop()
        pool = self._pool()
        try:
            return await loop.run_in_executor(pool, parse_items, source, result, tz)
        except BrokenProcessPool:
            log.warning("event=parse-pool-broken source=%s", source.name)
            if self._executor is pool:  # the first of the waiters to notice replaces it
                self._executor = None
                pool.shutdown(wait=False, cancel_futures=True)
            return await asyncio.to_thread(parse_items, source, result, tz)

    def close(self, *, wait: bool = True) -> None:
        """Stop the workers; with `wait`, after the parses in progress end."""
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=True)
            self._executor = None
