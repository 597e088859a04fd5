"""`watcher run`: the long-running service (SPEC §9).

One APScheduler 3 `AsyncIOScheduler` runs these jobs:

- `poll:<source>`: every source on its own interval, with jitter. After a (re)start
  a source keeps its cadence (next poll = last poll + interval); the sources that
  are due are spread over their first interval (at most a minute), so a restart
  does not hit every source at once.
- `deliver`: the outbox. New alerts, retries (rows whose next attempt has come) and
  digests (rows held until the digest's time) are all rows with a due time, so one
  job sends them every `DELIVERY_EVERY` seconds; a poll that alerted, or a notice
  for the admin, starts a round at once. Rounds never overlap: two rounds could
  both claim and send the same row.
- `health`: stale-source reports to the admin channel (`watcher.runner.health.check_stale`).
- `heartbeat`: the row `watcher status` reads, and systemd's `STATUS=` line.
- `config-watch`: a changed config file (mtime) is reloaded, as SIGHUP does.

APScheduler's traps are guarded: every poll runs under a hard deadline (with
`max_instances=1` a poll that hangs would make APScheduler skip that source
forever, logging only a warning), and misfires coalesce with no grace limit (the
default one-second grace silently drops runs after any stall of the loop).
Parsing and matching run in worker threads (the pipeline's `asyncio.to_thread`);
the main loop measures its own lag and only pings systemd's watchdog while the
scheduler is still dispatching jobs.

SIGTERM/SIGINT: no new job starts and no new send begins; polls are cancelled
(nothing is half-recorded: each poll records in one transaction with no await
inside); sends already handed to a channel are awaited, up to `STOP_WITHIN`
seconds. A claimed send that did not finish stays `sending` in the outbox and
`Store.recover()` makes it due again at the next start. A second signal stops at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Coroutine, Sequence
from datetime import UTC, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]

from watcher.config import ConfigError, load_config
from watcher.delivery.messages import Rendered
from watcher.delivery.send import Deliverer, tell_admin
from watcher.delivery.transport import SendOutcome, apprise_send
from watcher.fetch.client import Fetcher, fetcher_settings, new_fetcher
from watcher.logs import redaction_filter, secrets_of
from watcher.matching import Matcher
from watcher.models import Channel, Config, Source
from watcher.pipeline.poll import Pipeline, utcnow
from watcher.pipeline.pool import ParsePool
from watcher.runner.health import check_stale
from watcher.runner.schedule import first_poll, jitter, poll_deadline
from watcher.runner.service import sd_notify, watchdog_seconds
from watcher.store.records import StoreUnavailable
from watcher.store.sqlite import Store

if TYPE_CHECKING:  # the web package is imported only when `[web]` is set
    from watcher.web.server import WebThread

log = logging.getLogger("watcher.daemon")

DELIVERY_EVERY = 10.0  # seconds between outbox rounds (retries and digests are due rows)
HEARTBEAT_EVERY = 5.0  # seconds between heartbeat rows (and STATUS= updates)
CONFIG_CHECK_EVERY = 5.0  # seconds between looks at the config file's mtime
HEALTH_EVERY = 60.0  # seconds between stale-source checks
# Seconds between prunes of old item text and fingerprints (Store.prune, as `once` does
# after each run): retention is counted in days, so once a day is enough.
PRUNE_EVERY = 86400.0
STOP_WITHIN = 7.5  # seconds after SIGTERM that in-flight sends may take (SPEC §9: 10 s)
LOOP_LAG_WARN = 1.0  # seconds the event loop may be late before it is logged
SCHEDULER_STALL = 60.0  # a heartbeat job overdue this long means the scheduler is wedged


class ShuttingDown(Exception):
    """Raised in a send worker after SIGTERM, so that no new send begins."""


# -- helpers ------------------------------------------------------------------------------


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


# -- the daemon ---------------------------------------------------------------------------


class Daemon:
    """Scheduler, signals, reload and systemd notification around one Pipeline."""

    def __init__(
        self,
        config_path: Path,
        config: Config,
        store: Store,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.config_path = config_path
        self.config = config
        self.store = store
        self.fetcher = new_fetcher(config.settings)
        # Matching runs in the pool's workers; the main process compiles the watchlists
        # only if it has to match itself (a pool that cannot start; watcher.pipeline.poll).
        self.parse_pool = ParsePool()  # feed parsing on every core (watcher.pipeline.pool)
        self.scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.stopping = asyncio.Event()
        self.abandoned_threads = False  # set when a send or parse thread outlived the stop
        self._halt = threading.Event()  # `stopping`, readable from send threads
        self._hurry = asyncio.Event()  # a second SIGTERM: stop without waiting
        self._polls: set[asyncio.Task[Any]] = set()
        self._work: set[asyncio.Task[Any]] = set()
        self._retired: list[Fetcher] = []
        self._deliver_lock = asyncio.Lock()
        self._deliver_again = False
        self._reload_lock = asyncio.Lock()
        self._config_mtime = _mtime(config_path)
        self._refused: str | None = None  # digest of the last config refused and reported
        self._rng = rng or random.Random()
        self._status = ""
        self._stop_started: float | None = None
        self._protect()

    def _protect(self) -> None:
        for channel in self.config.channels:
            redaction_filter().update(secrets_of(channel))
        redaction_filter().update(self.config.settings.database_secrets)

    def _pipeline(self) -> Pipeline:
        return Pipeline(
            self.config, self.store, self.fetcher, parse_pool=self.parse_pool, share=True
        )

    # -- task bookkeeping ---------------------------------------------------------------

    async def _guard(self, work: Coroutine[Any, Any, None], bucket: set[asyncio.Task[Any]]) -> None:
        """Run a job's work as a task of ours, so the shutdown decides its fate (wait or
        cancel), not APScheduler, whose shutdown cancels whatever it started."""
        task = asyncio.create_task(work)
        bucket.add(task)
        task.add_done_callback(bucket.discard)
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # An orderly stop cancelled it; without this APScheduler logs a traceback.
            if not self.stopping.is_set():
                raise

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(work)
        self._work.add(task)
        task.add_done_callback(self._work.discard)
        task.add_done_callback(_log_crash)

    # -- jobs -----------------------------------------------------------------------------

    async def poll_job(self, name: str) -> None:
        """Scheduler job: poll one source under its hard deadline."""
        await self._guard(self._poll(name), self._polls)

    async def _poll(self, name: str) -> None:
        source = self.config.source(name)
        if source is None or self.stopping.is_set():
            return
        deadline = poll_deadline(self.config.settings)
        try:
            report = await asyncio.wait_for(self._pipeline().poll(source), deadline)
        except TimeoutError:
            log.error("event=poll-deadline source=%s seconds=%g", name, deadline)
            self.store.record_failure(
                name, source.url, utcnow(), f"poll did not finish within {deadline:g} s", None
            )
        else:
            level = logging.INFO if report.new_items or report.alerts else logging.DEBUG
            log.log(
                level,
                "event=polled source=%s status=%s items=%d new=%d changed=%d alerts=%d",
                name,
                report.status,
                report.items,
                report.new_items,
                report.changed_items,
                len(report.alerts),
            )
            if report.alerts:
                self.kick_delivery()
        finally:
            self._remember_next_poll(source)

    def _remember_next_poll(self, source: Source) -> None:
        job = self.scheduler.get_job(f"poll:{source.name}")
        if job is not None:
            try:
                self.store.plan_poll(source.name, source.url, job.next_run_time)
            except Exception as exc:  # the database is unreachable: status only, retried
                log.warning("event=database-error job=poll error=%r", str(exc)[:200])

    def kick_delivery(self) -> None:
        """Start a delivery round now rather than at the next `deliver` run."""
        if not self.stopping.is_set():
            self._spawn(self._deliver())

    async def deliver_job(self) -> None:
        """Scheduler job: send what is due in the outbox (alerts, retries, digests, notices)."""
        await self._guard(self._deliver(), self._work)

    async def _deliver(self) -> None:
        self._deliver_again = True
        if self._deliver_lock.locked():
            return  # the running round goes again before it ends
        async with self._deliver_lock:
            while self._deliver_again and not self.stopping.is_set():
                self._deliver_again = False
                deliverer = Deliverer(self.config, self.store, utcnow, sender=self._send)
                try:
                    report = await deliverer.deliver_due()
                except ShuttingDown:
                    log.info("event=delivery-stopped reason=shutdown")
                    return
                except StoreUnavailable as exc:  # the outbox stays; the next round retries
                    log.warning("event=database-error job=deliver error=%r", str(exc)[:200])
                    return
                if report.sent or report.retrying or report.failed:
                    log.info(
                        "event=delivered sent=%d retrying=%d failed=%d",
                        report.sent,
                        report.retrying,
                        report.failed,
                    )

    def _send(self, channel: Channel, messages: Sequence[Rendered]) -> SendOutcome:
        # Runs in a worker thread. After SIGTERM no new send begins. Raising, rather than
        # returning a failure, leaves the claimed row `sending` instead of rescheduling it
        # with a backoff: Store.recover() makes it due at the next start, sent once.
        if self._halt.is_set():
            raise ShuttingDown
        return apprise_send(channel, messages)

    async def health_job(self) -> None:
        """Scheduler job: report sources failing longer than `stale_after` (and recoveries)."""
        try:
            stale = check_stale(self.config, self.store, utcnow())
        except StoreUnavailable as exc:
            log.warning("event=database-error job=health error=%r", str(exc)[:200])
            return
        if stale:
            self.kick_delivery()

    async def prune_job(self) -> None:
        """Scheduler job: drop item text past `retention` and fingerprints past their use."""
        counts = self.store.prune(utcnow(), self.config.settings.retention)
        log.info("event=pruned %s", " ".join(f"{k}={v}" for k, v in counts.items()))

    async def heartbeat_job(self) -> None:
        """Scheduler job: the heartbeat row for `status`, and systemd's STATUS= line;
        with several instances (SPEC §11) also the leases: ours renewed, lapsed ones
        (a dead instance's sends) returned to the queue."""
        now = utcnow()
        try:
            self.store.record_heartbeat(now)
            self.store.renew_leases(now)
            returned = self.store.expire_leases(now)
            status = self._status_line()
        except Exception as exc:  # the database is down: say so, keep going, retry
            log.warning("event=database-error job=heartbeat error=%r", str(exc)[:200])
            return
        if returned:
            log.warning("event=leases-lapsed deliveries=%d", returned)
            self.kick_delivery()
        if status != self._status:
            self._status = status
            sd_notify(f"STATUS={status}")

    def _status_line(self) -> str:
        states = self.store.all_source_states()
        failing = sum(1 for s in self.config.sources if (st := states.get(s.name)) and st.failures)
        counts = self.store.outbox_counts()
        pending = counts.get("pending", 0) + counts.get("sending", 0)
        return (
            f"{len(self.config.sources)} sources ({failing} failing); "
            f"outbox {pending} pending, {counts.get('failed', 0)} failed"
        )

    async def config_watch_job(self) -> None:
        """Scheduler job: reload when the config file's mtime changed."""
        mtime = _mtime(self.config_path)
        if mtime is not None and mtime != self._config_mtime:
            await self.reload("file-changed")

    # -- schedule -------------------------------------------------------------------------

    def schedule_all(self) -> None:
        """Make the poll jobs match the config: add new sources, drop removed ones,
        reschedule those whose interval changed; the others keep their next run."""
        now = utcnow()
        wanted = {f"poll:{s.name}": s for s in self.config.sources}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("poll:") and job.id not in wanted:
                job.remove()
                name = job.id.removeprefix("poll:")
                self.store.set_next_poll(name, None)  # its state stays, for a comeback
                log.info("event=source-removed source=%s", name)
        states = self.store.all_source_states()
        for job_id, source in wanted.items():
            job = self.scheduler.get_job(job_id)
            # A job already on the source's interval keeps its cadence.
            if job is not None and job.trigger.interval == timedelta(seconds=source.interval):
                continue
            state = states.get(source.name)
            when = first_poll(source.interval, state.last_poll if state else None, now, self._rng)
            self.scheduler.add_job(
                self.poll_job,
                "interval",
                seconds=source.interval,
                jitter=jitter(source.interval),
                next_run_time=when,
                args=[source.name],
                id=job_id,
                name=job_id,
                replace_existing=True,
            )
            self.store.plan_poll(source.name, source.url, when)
            if job is None:
                log.info(
                    "event=source-scheduled source=%s interval=%g first=%s",
                    source.name,
                    source.interval,
                    when.isoformat(timespec="seconds"),
                )

    def _add_service_jobs(self) -> None:
        now = utcnow()
        jobs = (
            ("deliver", self.deliver_job, DELIVERY_EVERY, now),
            ("heartbeat", self.heartbeat_job, HEARTBEAT_EVERY, now),
            ("config-watch", self.config_watch_job, CONFIG_CHECK_EVERY, None),
            ("health", self.health_job, HEALTH_EVERY, None),
            ("prune", self.prune_job, PRUNE_EVERY, None),
        )
        for job_id, func, every, first in jobs:
            self.scheduler.add_job(
                func,
                "interval",
                seconds=every,
                id=job_id,
                name=job_id,
                replace_existing=True,
                **({"next_run_time": first} if first is not None else {}),
            )

    # -- reload ---------------------------------------------------------------------------

    def _on_hup(self) -> None:
        log.info("event=reload-requested signal=SIGHUP")
        self._spawn(self.reload("SIGHUP"))

    async def reload(self, why: str) -> bool:
        """Load the config file again and apply it; True when applied.

        A config that fails validation is refused: logged, reported once to the admin
        channel, and the running config stays. Sources added or removed take effect
        at once; the state of every source (seen items, validators, failures) is kept.
        """
        async with self._reload_lock:
            if self.stopping.is_set():
                return False
            self._config_mtime = _mtime(self.config_path)
            sd_notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
            try:
                return await self._reload(why)
            finally:
                sd_notify(f"READY=1\nSTATUS={self._status_line()}")

    async def _reload(self, why: str) -> bool:
        try:
            text = await asyncio.to_thread(self.config_path.read_bytes)
        except OSError as exc:
            problem = f"{self.config_path}: cannot read: {exc.strerror or exc}"
            self._refuse(why, problem, [problem])
            return False
        digest = hashlib.sha256(text).hexdigest()
        try:
            # Off the loop: validation reads people lists, and a matcher over thousands
            # of names takes a while to build. It is built only to prove that it can be:
            # the pool's workers build their own from the new watchlists.
            new = await asyncio.to_thread(load_config, self.config_path)
            await asyncio.to_thread(Matcher, new.watchlists)
        except ConfigError as exc:
            self._refuse(why, digest, [str(issue) for issue in exc.issues])
            return False
        except Exception as exc:  # a bug must not take the running config down with it
            log.exception("event=reload-crash")
            self._refuse(why, digest, [f"internal error: {type(exc).__name__}: {exc}"])
            return False
        self._apply(new, why)
        return True

    def _refuse(self, why: str, digest: str, problems: list[str]) -> None:
        log.error("event=reload-refused why=%s errors=%d", why, len(problems))
        for problem in problems:
            log.error("event=config-error detail=%r", problem)
        if digest == self._refused:
            return  # this very file was already reported; the log has it again
        self._refused = digest
        shown = problems[:20] + ([f"… and {len(problems) - 20} more"] if len(problems) > 20 else [])
        body = (
            f"The config file {self.config_path} was changed but has errors, so it was "
            "NOT loaded; watcher keeps running with the previous config.\n"
            "Run `watcher check` to see them again.\n\n" + "\n".join(shown)
        )
        self._tell_admin("watcher: config reload refused", body)

    def _apply(self, new: Config, why: str) -> None:
        old = self.config
        if new.settings.state_dir != old.settings.state_dir:
            log.warning(
                "event=reload-partial reason=%r",
                "state_dir changes take effect on restart; the old state is still used",
            )
        if fetcher_settings(new.settings) != fetcher_settings(old.settings):
            self._retired.append(self.fetcher)
            self.fetcher = new_fetcher(new.settings)
        self.config = new
        self._refused = None
        self._protect()
        self.schedule_all()
        before = {s.name for s in old.sources}
        after = {s.name for s in new.sources}
        log.info(
            "event=reloaded why=%s sources=%d watchlists=%d channels=%d added=%r removed=%r",
            why,
            len(new.sources),
            len(new.watchlists),
            len(new.channels),
            sorted(after - before),
            sorted(before - after),
        )
        self.kick_delivery()  # a channel added or fixed may have rows waiting

    def _tell_admin(self, title: str, body: str) -> None:
        # The one admin-notice function (it redacts); then send it without waiting.
        if tell_admin(self.config, self.store, utcnow(), title, body):
            self.kick_delivery()

    # -- main loop --------------------------------------------------------------------------

    def request_stop(self, signame: str) -> None:
        """SIGTERM/SIGINT: stop taking new work; a second one stops without waiting."""
        if self.stopping.is_set():
            log.warning("event=stop-now signal=%s", signame)
            self._hurry.set()
            return
        log.info("event=stop-requested signal=%s", signame)
        self._stop_started = time.monotonic()
        self.stopping.set()
        self._halt.set()

    async def main(self) -> int:
        """Run until SIGTERM or SIGINT; returns the exit status (0)."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self._on_hup)
        recovered = self.store.recover()
        if recovered:
            log.warning("event=recovered deliveries=%d", recovered)
        self.store.record_daemon_start(os.getpid(), socket.gethostname(), utcnow())
        self.scheduler.start()
        self.schedule_all()
        self._add_service_jobs()
        self._status = self._status_line()
        web = self._start_web()
        sd_notify(f"READY=1\nSTATUS={self._status}")
        log.info(
            "event=started pid=%d sources=%d config=%s",
            os.getpid(),
            len(self.config.sources),
            self.config_path,
        )
        await self._watch()
        if web is not None:
            await asyncio.to_thread(web.stop)  # at most 3 s, inside the 10 s stop
        await self._shutdown()
        return 0

    def _start_web(self) -> WebThread | None:
        """The staff pages (SPEC §12) in their own thread when `[web] listen` is set;
        they read the config the daemon holds now, reloads included."""
        if self.config.web is None:
            return None
        if self.config.settings.database:
            # The pages read a SQLite state; on a shared PostgreSQL one they would show
            # an empty state (docs/ha.md): say so rather than serve it.
            log.warning("event=web-unavailable reason=%r", "settings.database is PostgreSQL")
            return None
        from watcher.web.server import WebThread

        web = WebThread(lambda: self.config, self.config.web.listen)
        web.start()
        return web

    async def _watch(self) -> None:
        """The main loop: watchdog pings, and a check that the loop is not blocked."""
        loop = asyncio.get_running_loop()
        watchdog = watchdog_seconds(os.environ, os.getpid())
        beat = min(1.0, watchdog / 3) if watchdog else 1.0
        expected = loop.time() + beat
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), beat)
            now = loop.time()
            lag = now - expected
            expected = now + beat
            if lag > LOOP_LAG_WARN and not self.stopping.is_set():
                log.warning("event=loop-lag seconds=%.1f", lag)
            if watchdog and self._scheduler_alive():
                sd_notify("WATCHDOG=1")

    def _scheduler_alive(self) -> bool:
        # A scheduler that stopped dispatching leaves its heartbeat job overdue: then the
        # watchdog pings stop and systemd restarts the service.
        job = self.scheduler.get_job("heartbeat") if self.scheduler.running else None
        if job is None or job.next_run_time is None:
            return False
        return (utcnow() - job.next_run_time).total_seconds() < SCHEDULER_STALL

    async def _shutdown(self) -> None:
        started = self._stop_started or time.monotonic()
        sd_notify("STOPPING=1")
        self.scheduler.pause()  # no new job starts; the jobs stay for an orderly shutdown
        for task in list(self._polls):
            task.cancel()  # a poll records in one transaction: cancelling loses nothing
        log.info("event=stopping polls=%d other=%d", len(self._polls), len(self._work))
        left = await self._drain(started + STOP_WITHIN)
        if left:
            # Sends still in a channel's hands: their rows stay `sending` and are sent
            # again after the next start (the one duplicate SPEC §7 allows, never a loss).
            log.warning("event=abandoned tasks=%d", len(left))
            for task in left:
                task.cancel()
            await asyncio.wait(left, timeout=1.0)
        self.scheduler.shutdown(wait=False)
        for fetcher in [*self._retired, self.fetcher]:
            await fetcher.aclose()
        self.parse_pool.close(wait=False)  # a parse in progress must not delay the stop
        loop = asyncio.get_running_loop()
        try:
            # Idle worker threads end at once; a send or parse still running holds its
            # thread, and waiting for it could break the 10-second promise.
            await asyncio.wait_for(loop.shutdown_default_executor(), 1.0)
        except TimeoutError:
            self.abandoned_threads = True
        try:
            self.store.record_daemon_stop(utcnow())
        except Exception as exc:  # the database is down: our leases lapse by themselves
            log.warning("event=database-error job=stop error=%r", str(exc)[:200])
        log.info("event=stopped seconds=%.1f", time.monotonic() - started)

    async def _drain(self, until: float) -> set[asyncio.Task[Any]]:
        """Wait for every other task of the loop (sends in flight, the delivery round's
        per-channel tasks, cancelled polls) until `until` or a second signal."""
        current = asyncio.current_task()
        hurry = asyncio.create_task(self._hurry.wait())
        try:
            while True:
                pending = {t for t in asyncio.all_tasks() if t is not current and t is not hurry}
                remaining = until - time.monotonic()
                if not pending or remaining <= 0 or self._hurry.is_set():
                    return pending
                await asyncio.wait(
                    pending | {hurry}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            hurry.cancel()


def _log_crash(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("event=task-crash task=%s", task.get_coro(), exc_info=exc)
