"""The CPU work of a poll in worker processes, so it uses every core and never blocks the loop.

At a national desk's scale (1,000 feeds, 50 items each) parsing, matching and story
fingerprints are nearly all of a first cycle's CPU (docs/performance.md). In a thread
they hold the GIL that fetching and recording need: every SQLite call then waits for
the GIL on its way back, so the main process spends more time waiting than working.
A small pool of processes does that work instead, in two jobs per poll:

- `parse`: a fetched feed body → its items;
- `analyse`: the new or changed items (the pipeline decides which, with the store) →
  their watchlist matches and fingerprints (watcher.pipeline.analysis). Each worker compiles
  the watchlists once, when it starts; new watchlists (a reloaded config) start new
  workers, and the old ones finish the jobs they were given first.

The pool is the project's own, not multiprocessing's: each worker is
`python -m watcher.pipeline.worker`, started with `subprocess` (a fresh interpreter,
exec'd at once, so nothing runs in a forked copy of a process with threads), and
talks to the pool over its stdin and stdout only, in length-prefixed pickles (the
protocol is in watcher.pipeline.worker). That saves multiprocessing's resource
tracker (one more interpreter, ~13 MB, that only sits there), its `__main__`
re-import under a console script, and the fork server's AF_UNIX socket path that
broke under a deep TMPDIR (issue 17). One thread of the main process per worker
sends it a job, waits for the answer and pickles and unpickles off the event loop;
the loop only awaits a future.

Workers are bound to the main process by their stdin: when the pool closes it, or
the main process dies (even by SIGKILL), the worker reads end of file and exits.
They get only the environment variables an interpreter needs (`WORKER_ENVIRONMENT`),
never the channel secrets the main process holds.

Hostile input stays contained: a body that kills a worker (a crash or the kernel's
OOM killer) costs only that job, which then runs in a thread as before, where the
parser's own guarantees (tests/test_hostile.py) hold; the worker is replaced. Where
no worker can start (no process may be created, no interpreter to run), everything
runs in threads from then on, slower but complete.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import pickle
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import watcher
from watcher.matching import Matcher
from watcher.models import FetchResult, Source, Watchlist
from watcher.pipeline.analysis import Analysis, Job, analyse
from watcher.pipeline.worker import READY, read_frame, write_frame
from watcher.sources import Parsed, parse_document

log = logging.getLogger("watcher.parallel")

# One worker per core but one, at most 4: the main process (fetching, SQLite) keeps a
# core busy itself, and workers beyond the other cores only compete with it for CPU
# while each costs ~70 MB (issue 17: on 2 cores, one worker polled 200 feeds as fast
# as two, 70 MB lighter).
MAX_WORKERS = 4
# Bodies smaller than this parse faster than they travel to a worker and back.
MIN_POOL_BYTES = 16 * 1024
# Items per analyse job: a feed's usual 10–100 items stay one job; a 50,000-item feed
# becomes 100, spread over the workers and never pickled whole.
ANALYSE_BATCH = 500
# How long a closed worker may take to exit before it is killed (it has no job then).
STOP_SECONDS = 5.0

# What a worker keeps of the main process's environment: what the interpreter, the
# C libraries and the locale read. Nothing else: the main process holds channel
# secrets in its environment (systemd's EnvironmentFile) that a parser never needs.
WORKER_ENVIRONMENT = re.compile(
    r"PATH|HOME|LANG|LANGUAGE|LC_\w+|TZ|TZDIR|TMPDIR|LD_LIBRARY_PATH"
    r"|PYTHON\w*|OPENBLAS_\w+|OMP_\w+|MKL_\w+"
)
# The folder that holds the `watcher` package: a worker imports the same copy.
PACKAGE_ROOT = Path(watcher.__file__).resolve().parent.parent

T = TypeVar("T")


class WorkerLost(Exception):
    """The worker running a job ended before it answered (a crash, SIGKILL, the OOM killer)."""


class PoolUnusable(Exception):
    """No worker can start here; the reason is the message."""


def default_workers() -> int:
    """Workers for this machine: the usable cores but one, between 1 and MAX_WORKERS."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores - 1))


def worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of `environ` a worker gets (WORKER_ENVIRONMENT)."""
    return {name: value for name, value in environ.items() if WORKER_ENVIRONMENT.fullmatch(name)}


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End a worker: close its stdin (it exits at end of file), kill it if it lingers."""
    for stream in (process.stdin, process.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass  # a broken pipe: the worker is gone already
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _refuse(future: concurrent.futures.Future[Any], reason: str) -> None:
    if future.set_running_or_notify_cancel():  # not cancelled by its caller meanwhile
        future.set_exception(PoolUnusable(reason))


# A job in the queue: its kind, its arguments and the future that gets its answer.
_Task = tuple[str, tuple[Any, ...], concurrent.futures.Future[Any]]


class _Crew:
    """The workers for one set of watchlists, each served by one thread of the main process."""

    def __init__(
        self, watchlists: tuple[Watchlist, ...], size: int, give_up: Callable[[str], None]
    ) -> None:
        self.watchlists = watchlists
        self._give_up = give_up
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._stopping = False
        self._broken: str | None = None
        self._processes: dict[int, subprocess.Popen[bytes]] = {}
        self._threads = [
            threading.Thread(target=self._serve, args=(slot,), name=f"pool-{slot}", daemon=True)
            for slot in range(size)
        ]
        started = []
        try:
            for thread in self._threads:
                thread.start()
                started.append(thread)
        finally:
            self._threads = started

    def serves(self, watchlists: tuple[Watchlist, ...]) -> bool:
        return watchlists is self.watchlists or watchlists == self.watchlists

    def pids(self) -> list[int]:
        """The process ids of the workers running now."""
        with self._lock:
            return [process.pid for process in self._processes.values()]

    def submit(self, kind: str, args: tuple[Any, ...]) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._broken is not None:
                raise PoolUnusable(self._broken)
            self._tasks.put((kind, args, future))
        return future

    def close(self, *, wait: bool, cancel: bool) -> None:
        """No more jobs; the workers stop after theirs (and, unless `cancel`, the queued ones)."""
        with self._lock:
            self._stopping = True
            if cancel:
                self._drain(lambda future: future.cancel())
            for _ in self._threads:
                self._tasks.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _drain(self, end: Callable[[concurrent.futures.Future[Any]], object]) -> None:
        while True:
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                return
            if task is not None:
                end(task[2])

    def _fail(self, reason: str) -> None:
        """No worker can start: every job waiting now, and every later one, runs in a thread."""
        with self._lock:
            if self._broken is None:
                self._broken = reason
            self._drain(lambda future: _refuse(future, reason))
            for _ in self._threads:
                self._tasks.put(None)  # the other workers stop after their job
        self._give_up(reason)

    def _start(self, slot: int) -> subprocess.Popen[bytes] | None:
        """A new worker with the watchlists compiled, or None when none can start (then
        `_fail` has been told why)."""
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "watcher.pipeline.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=worker_environment(os.environ),
                cwd=PACKAGE_ROOT,
            )
        except OSError as exc:
            self._fail(f"{type(exc).__name__}: {exc}")
            return None
        with self._lock:
            self._processes[slot] = process
        assert process.stdin is not None and process.stdout is not None
        try:
            write_frame(process.stdin, pickle.dumps(self.watchlists, pickle.HIGHEST_PROTOCOL))
            if read_frame(process.stdout) == READY:
                return process
        except OSError:
            pass  # the worker is gone: a broken pipe
        self._forget(slot, process)
        # Not a job's fault (it has none yet): this interpreter cannot serve.
        self._fail(f"a worker exited with code {process.returncode} before it was ready")
        return None

    def _forget(self, slot: int, process: subprocess.Popen[bytes]) -> None:
        _stop(process)
        with self._lock:
            if self._processes.get(slot) is process:
                del self._processes[slot]

    def _serve(self, slot: int) -> None:
        process: subprocess.Popen[bytes] | None = None
        try:
            while True:
                # A worker is started (or replaced) before a job needs it, so the
                # job does not wait for an interpreter to start, unless the crew stops.
                if process is None and not self._stopping:
                    process = self._start(slot)
                    if process is None:
                        return
                task = self._tasks.get()
                if task is None:
                    return
                if process is None:  # a job queued before the crew was told to stop
                    process = self._start(slot)
                    if process is None:
                        _refuse(task[2], self._broken or "no worker")
                        return
                if not self._run(process, *task):
                    self._forget(slot, process)
                    process = None  # replaced before the next job
        finally:
            if process is not None:
                self._forget(slot, process)

    def _run(
        self,
        process: subprocess.Popen[bytes],
        kind: str,
        args: tuple[Any, ...],
        future: concurrent.futures.Future[Any],
    ) -> bool:
        """Give one job to `process` and its answer to `future`; False if the worker died."""
        if not future.set_running_or_notify_cancel():
            return True
        assert process.stdin is not None and process.stdout is not None
        try:
            request = pickle.dumps((kind, args), pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # the caller's error, as in a thread
            future.set_exception(exc)
            return True
        try:
            write_frame(process.stdin, request)
            del request  # a big batch need not stay while the worker works
            answer = read_frame(process.stdout)
        except OSError:
            answer = None
        except Exception as exc:  # an answer that does not unpickle
            future.set_exception(exc)
            return True
        if answer is None:
            try:  # its stdout closed: it has exited or is about to
                code: int | None = process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                code = None
            future.set_exception(WorkerLost(f"worker {process.pid} ended (code {code})"))
            return False
        ok, value = answer
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
        return True


class ParsePool:
    """Parses and analyses in worker processes; each method has its in-thread twin's
    contract (`parse_document`, `watcher.pipeline.analysis.analyse`)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._crew: _Crew | None = None
        self._unusable: str | None = None  # why workers cannot run here, once seen
        self._lock = threading.Lock()
        # For the in-thread fallback: the watchlists and their compiled matcher.
        self._matcher: tuple[tuple[Watchlist, ...], Matcher] | None = None

    def _give_up(self, reason: str) -> None:
        with self._lock:
            if self._unusable is not None:
                return
            self._unusable = reason
        log.warning("event=pool-unusable reason=%r", reason)

    def _crew_for(self, watchlists: tuple[Watchlist, ...]) -> _Crew:
        crew = self._crew
        if crew is not None and not crew.serves(watchlists):
            crew.close(wait=False, cancel=False)  # jobs in progress finish with the old ones
            crew = self._crew = None
        if crew is None:
            try:
                crew = _Crew(watchlists, self.workers, self._give_up)
            except RuntimeError as exc:  # no thread may be started either
                self._give_up(f"{type(exc).__name__}: {exc}")
                raise PoolUnusable(str(exc)) from exc
            self._crew = crew
        return crew

    def _thread_matcher(self, watchlists: tuple[Watchlist, ...]) -> Matcher:
        held = self._matcher
        if held is None or (held[0] is not watchlists and held[0] != watchlists):
            held = self._matcher = (watchlists, Matcher(watchlists))
        return held[1]

    async def _run(
        self,
        watchlists: tuple[Watchlist, ...],
        kind: str,
        source: str,
        fallback: Callable[[], T],
        *args: Any,
    ) -> T:
        if self._unusable is None:
            try:
                future = self._crew_for(watchlists).submit(kind, args)
                result: T = await asyncio.wrap_future(future)
                return result
            except WorkerLost as exc:
                log.warning("event=pool-broken job=%s source=%s reason=%r", kind, source, str(exc))
            except PoolUnusable:
                pass  # logged once, by _give_up
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
        """What a fetched body holds (`parse_document`, items dated before `since`
        dropped); raises SourceError with a readable reason."""
        parse = functools.partial(parse_document, source, result, tz, since=since)
        if source.kind != "feed" or len(result.body or b"") < MIN_POOL_BYTES:
            return await asyncio.to_thread(parse)
        return await self._run(watchlists, "parse", source.name, parse, source, result, tz, since)

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
            lambda: analyse(self._thread_matcher(watchlists), source, jobs),
            source,
            list(jobs),
        )

    def close(self, *, wait: bool = True) -> None:
        """Stop the workers; with `wait`, after the jobs in progress end and the
        workers have exited. Jobs not yet started are cancelled."""
        crew, self._crew = self._crew, None
        if crew is not None:
            crew.close(wait=wait, cancel=True)
