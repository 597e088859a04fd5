"""The CPU work of a poll in worker processes, so it uses every core and never blocks the loop.

At a national desk's scale (1,000 feeds, 50 items each) parsing, matching and story
fingerprints are nearly all of a first cycle's CPU (docs/performance.md). In a thread
they hold the GIL that fetching and recording need: every SQLite call then waits for
the GIL on its way back, so the main process spends more time waiting than working.
A small pool of processes does that work instead, in two jobs per poll:

- `parse`: a fetched feed body → its items;
- `analyse`: the new or changed items (the pipeline decides which, with the store) →
  their watchlist matches and fingerprints (watcher.pipeline.analysis). Each worker compiles
  the watchlists once, when it starts; new watchlists (a reloaded config) start a
  new pool.

The main process keeps the event loop, the store and every decision that needs it.
Workers are spawned (a fresh interpreter each), so nothing is forked from a process
running threads. Not a fork server: that is one more interpreter (~14 MB resident)
that only sits there, and its AF_UNIX socket path breaks under a deep TMPDIR (issue 17).

Hostile input stays contained: a body that kills a worker (a crash or the kernel's
OOM killer) breaks the pool; the pool is replaced and that job runs in a thread as
before, where the parser's own guarantees (tests/test_hostile.py) hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime
from importlib.machinery import ModuleSpec
from typing import TypeVar

from watcher.matching import Matcher
from watcher.models import FetchResult, Source, Watchlist
from watcher.pipeline.analysis import Analysis, Job, analyse
from watcher.sources import Parsed, parse_document

log = logging.getLogger("watcher.parallel")

# One worker per core but one, at most 4: the main process (fetching, SQLite) keeps a
# core busy itself, and workers beyond the other cores only compete with it for CPU
# while each costs ~65 MB (issue 17: on 2 cores, one worker polled 200 feeds as fast
# as two, 70 MB lighter).
MAX_WORKERS = 4
# Bodies smaller than this parse faster than they travel to a worker and back.
MIN_POOL_BYTES = 16 * 1024
# Items per analyse job: a feed's usual 10–100 items stay one job; a 50,000-item feed
# becomes 100, spread over the workers and never pickled whole.
ANALYSE_BATCH = 500

T = TypeVar("T")

# A worker's compiled watchlists, built once by _start_worker.
_matcher: Matcher | None = None


def default_workers() -> int:
    """Workers for this machine: the usable cores but one, between 1 and MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores - 1))


@contextlib.contextmanager
def _main_module_not_rerun() -> Iterator[None]:
    """Workers started in this block do not import the parent's main script.

    multiprocessing makes each new process import the parent's `__main__` by path,
    unless `__main__` belongs to a package (`python -m watcher`). Under the `watcher`
    console script that would load the whole command line (config validation,
    HTTP, scheduler) into every worker: ~12 MB each, for nothing. Workers need
    only the modules their jobs name, which unpickling imports.
    """
    main = sys.modules["__main__"]
    saved = main.__dict__.get("__spec__")
    if saved is None:
        main.__spec__ = ModuleSpec("watcher.__main__", None)
    try:
        yield
    finally:
        if saved is None:
            main.__spec__ = None


def _ready() -> None:
    """A no-op job: submitting it makes the pool start a worker."""


def _start_worker(watchlists: tuple[Watchlist, ...]) -> None:
    global _matcher
    _matcher = Matcher(watchlists)


def _analyse_in_worker(source: str, jobs: Sequence[Job]) -> list[Analysis]:
    assert _matcher is not None, "the pool initialiser compiles the watchlists"
    return analyse(_matcher, source, jobs)


class ParsePool:
    """Parses and analyses in worker processes; each method has its in-thread twin's
    contract (`parse_document`, `watcher.pipeline.analysis.analyse`)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._executor: ProcessPoolExecutor | None = None
        self._watchlists: tuple[Watchlist, ...] | None = None
        self._unusable: str | None = None  # why workers cannot run here, once seen
        # For the in-thread fallback: the watchlists and their compiled matcher.
        self._matcher: tuple[tuple[Watchlist, ...], Matcher] | None = None

    def _same(self, watchlists: tuple[Watchlist, ...]) -> bool:
        return watchlists is self._watchlists or watchlists == self._watchlists

    def _pool(self, watchlists: tuple[Watchlist, ...]) -> ProcessPoolExecutor:
        if self._executor is not None and not self._same(watchlists):
            self._executor.shutdown(wait=False)  # jobs in progress finish with the old ones
            self._executor = None
        if self._executor is None:
            context = multiprocessing.get_context("spawn")
            executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_start_worker,
                initargs=(watchlists,),
            )
            try:
                with _main_module_not_rerun():
                    # The pool starts a worker per job until it has them all: start
                    # them all now, while workers are told not to re-run the main module.
                    for _ in range(self.workers):
                        executor.submit(_ready)
            except BaseException:
                executor.shutdown(wait=False, cancel_futures=True)
                raise
            self._executor = executor
            self._watchlists = watchlists
        return self._executor

    def _thread_matcher(self, watchlists: tuple[Watchlist, ...]) -> Matcher:
        held = self._matcher
        if held is None or (held[0] is not watchlists and held[0] != watchlists):
            held = self._matcher = (watchlists, Matcher(watchlists))
        return held[1]

    async def _run(
        self,
        watchlists: tuple[Watchlist, ...],
        what: str,
        source: str,
        work: Callable[..., T],
        fallback: Callable[[], T],
        *args: object,
    ) -> T:
        if self._unusable is not None:
            return await asyncio.to_thread(fallback)
        loop = asyncio.get_running_loop()
        pool: ProcessPoolExecutor | None = None
        try:
            pool = self._pool(watchlists)
            return await loop.run_in_executor(pool, work, *args)
        except BrokenProcessPool:
            log.warning("event=pool-broken job=%s source=%s", what, source)
            if pool is not None and self._executor is pool:  # the first to notice replaces it
                self._executor = None
                pool.shutdown(wait=False, cancel_futures=True)
            return await asyncio.to_thread(fallback)
        except OSError as exc:
            # The workers cannot start here (no process may be created, or the
            # interpreter cannot be run again): the work runs in threads from now
            # on, slower but complete.
            if self._unusable is None:
                self._unusable = f"{type(exc).__name__}: {exc}"
                log.warning("event=pool-unusable reason=%r", self._unusable)
            if pool is not None and self._executor is pool:
                self._executor = None
                pool.shutdown(wait=False, cancel_futures=True)
            return await asyncio.to_thread(fallback)

    async def parse(
        self,
        source: Source,
        result: FetchResult,
        tz: str,
        watchlists: tuple[Watchlist, ...] = (),
        *,
        since: datetime | None = None,
    ) -> Parsed:
        """What a fetched body holds (`parse_document`); raises SourceError with a
        readable reason."""
        parse = functools.partial(parse_document, source, result, tz, since=since)
        if source.kind != "feed" or len(result.body or b"") < MIN_POOL_BYTES:
            return await asyncio.to_thread(parse)
        return await self._run(watchlists, "parse", source.name, parse, parse)

    async def analyse(
        self, watchlists: tuple[Watchlist, ...], source: str, jobs: Sequence[Job]
    ) -> list[Analysis]:
        """Matches and fingerprints of `jobs`, in order (watcher.pipeline.analysis.analyse).

        A long list goes in batches of ANALYSE_BATCH, on every worker at once: a
        50,000-item feed is then neither pickled whole (the pickler's memo holds every
        object it has written: ~40 MB in the main process, and as much in the worker
        unpickling it) nor analysed on one core while the others wait.
        """
        if not jobs:
            return []
        batches = [jobs[at : at + ANALYSE_BATCH] for at in range(0, len(jobs), ANALYSE_BATCH)]
        done = await asyncio.gather(*(self._analyse(watchlists, source, b) for b in batches))
        return [found for batch in done for found in batch]

    async def _analyse(
        self, watchlists: tuple[Watchlist, ...], source: str, jobs: Sequence[Job]
    ) -> list[Analysis]:
        return await self._run(
            watchlists,
            "analyse",
            source,
            _analyse_in_worker,
            lambda: analyse(self._thread_matcher(watchlists), source, jobs),
            source,
            list(jobs),
        )

    def close(self, *, wait: bool = True) -> None:
        """Stop the workers; with `wait`, after the jobs in progress end."""
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=True)
            self._executor = None
