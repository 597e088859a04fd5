"""`watcher run`: the long-running service (SPEC §9).

APScheduler 3 (AsyncIOScheduler) runs one job per source on its own interval,
plus delivery. Its two known traps are guarded here: every poll has a hard
deadline (a hung poll under `max_instances=1` would otherwise make APScheduler
skip that source forever), and misfires coalesce with no grace limit (the
default 1-second grace silently drops runs after any stall).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
from datetime import datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from watcher.config import ConfigError, load_config
from watcher.delivery import Deliverer, secrets_of
from watcher.fetch import Fetcher
from watcher.logs import redaction_filter
from watcher.matching import Matcher
from watcher.models import Config, Source
from watcher.pipeline import Pipeline, utcnow
from watcher.store import Store

log = logging.getLogger("watcher.daemon")

DELIVERY_EVERY = 10.0  # seconds between outbox checks
STOP_WITHIN = 8.0  # seconds SIGTERM may take before in-flight work is abandoned


def sd_notify(message: str) -> None:
    """Send a message to systemd's notify socket, if there is one (sd_notify(3))."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode())


class Daemon:
    """Scheduler, signal handling and reload around one Pipeline."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.config: Config = load_config(config_path)
        self.store = Store.in_dir(self.config.settings.state_dir)
        self.fetcher = self._new_fetcher()
        self.matcher = Matcher(self.config.watchlists)
        self.scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )
        self.stopping = asyncio.Event()
        self.in_flight: set[asyncio.Task[object]] = set()
        self._protect()

    def _protect(self) -> None:
        for channel in self.config.channels:
            redaction_filter().update(secrets_of(channel))

    def _new_fetcher(self) -> Fetcher:
        s = self.config.settings
        return Fetcher(
            user_agent=s.user_agent, timeout=s.timeout, max_size=s.max_size, proxy=s.proxy
        )

    def _pipeline(self) -> Pipeline:
        return Pipeline(self.config, self.store, self.fetcher, self.matcher)

    # -- jobs -------------------------------------------------------------------

    async def poll_job(self, name: str) -> None:
        """Poll one source under a hard deadline, so a hang cannot wedge its job."""
        source = self.config.source(name)
        if source is None or self.stopping.is_set():
            return
        deadline = self.config.settings.timeout * 2 + 30
        task = asyncio.ensure_future(self._pipeline().poll(source))
        self.in_flight.add(task)
        try:
            report = await asyncio.wait_for(task, deadline)
            if report.alerts:
                await self.deliver_job()
        except TimeoutError:
            log.error("event=poll-deadline source=%s after=%ss", name, deadline)
            self.store.record_failure(
                name, source.url, utcnow(), f"poll did not finish within {deadline:g} s", None
            )
        finally:
            self.in_flight.discard(task)
            job = self.scheduler.get_job(f"poll:{name}")
            if job is not None and job.next_run_time is not None:
                self.store.set_next_poll(name, job.next_run_time)

    async def deliver_job(self) -> None:
        """Send what is due in the outbox."""
        if self.stopping.is_set():
            return
        await Deliverer(self.config, self.store, utcnow).deliver_due()

    # -- schedule -----------------------------------------------------------------

    def _schedule_source(self, source: Source, now: datetime) -> None:
        # Spread first polls over the first interval (at most a minute) so a
        # restart does not hit every source at once; jitter keeps them apart.
        first = now + timedelta(seconds=random.uniform(0, min(source.interval, 60.0)))
        self.scheduler.add_job(
            self.poll_job,
            "interval",
            seconds=source.interval,
            jitter=min(source.interval * 0.1, 60.0),
            next_run_time=first,
            args=[source.name],
            id=f"poll:{source.name}",
            replace_existing=True,
        )

    def schedule_all(self) -> None:
        """(Re)create every job from the current config."""
        now = datetime.now().astimezone()
        wanted = {f"poll:{s.name}" for s in self.config.sources}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("poll:") and job.id not in wanted:
                job.remove()
        existing = {job.id for job in self.scheduler.get_jobs()}
        for source in self.config.sources:
            job_id = f"poll:{source.name}"
            job = self.scheduler.get_job(job_id)
            if job_id in existing and job is not None:
                # Keep the next run; only the interval may have changed.
                if job.trigger.interval.total_seconds() != source.interval:  # type: ignore[attr-defined]
                    self._schedule_source(source, now)
                continue
            self._schedule_source(source, now)
        self.scheduler.add_job(
            self.deliver_job,
            "interval",
            seconds=DELIVERY_EVERY,
            id="deliver",
            replace_existing=True,
            next_run_time=now,
        )

    def reload(self) -> None:
        """SIGHUP: load the config again; keep the old one when the new one is invalid."""
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("event=reload-refused errors=%d", len(exc.issues))
            for issue in exc.issues:
                log.error("event=config-error detail=%r", str(issue))
            self._tell_admin(
                "watcher: config reload refused",
                "The new config has errors; the previous config keeps running.\n"
                + "\n".join(str(i) for i in exc.issues[:20]),
            )
            return
        self.config = new
        self.matcher = Matcher(new.watchlists)
        self._protect()
        self.schedule_all()
        log.info("event=reloaded sources=%d watchlists=%d", len(new.sources), len(new.watchlists))

    def _tell_admin(self, title: str, body: str) -> None:
        admin = self.config.settings.admin_channel
        if admin and self.config.channel(admin) is not None:
            now = utcnow()
            self.store.enqueue(
                channel=admin, now=now, due=now, notice_title=title, notice_body=body
            )

    # -- main loop ------------------------------------------------------------------

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stopping.set)
        loop.add_signal_handler(signal.SIGINT, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        recovered = self.store.recover()
        if recovered:
            log.warning("event=recovered deliveries=%d", recovered)
        self.scheduler.start()
        self.schedule_all()
        sd_notify(f"READY=1\nSTATUS=watching {len(self.config.sources)} sources")
        log.info("event=started sources=%d", len(self.config.sources))
        watchdog = float(os.environ.get("WATCHDOG_USEC", "0")) / 1e6
        beat = max(1.0, watchdog / 3) if watchdog else 5.0
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), beat)
            if watchdog:
                sd_notify("WATCHDOG=1")
        sd_notify("STOPPING=1")
        log.info("event=stopping")
        self.scheduler.shutdown(wait=False)
        if self.in_flight:
            _done, pending = await asyncio.wait(self.in_flight, timeout=STOP_WITHIN)
            for task in pending:
                task.cancel()
        await self.fetcher.aclose()
        self.store.close()
        log.info("event=stopped")
        return 0


def run_daemon(config_path: Path, verbose: int = 0) -> int:
    """Run until SIGTERM; exit status per SPEC §3."""
    try:
        daemon_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(daemon_loop)
        daemon = Daemon(config_path)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue)
        return 2
    try:
        return daemon_loop.run_until_complete(daemon.main())
    finally:
        daemon_loop.close()
