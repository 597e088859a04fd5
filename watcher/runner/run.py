"""`watcher run` (SPEC §3, §9): the config, the one-daemon-per-state lock, the event loop
the daemon runs in, and the exit status."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from watcher.config import ConfigError, load_config
from watcher.logs import redaction_filter
from watcher.models import Config
from watcher.runner.daemon import Daemon
from watcher.runner.service import InstanceLock
from watcher.store.backend import open_store

log = logging.getLogger("watcher.daemon")


def run_daemon(config_path: Path, verbose: int = 0, config: Config | None = None) -> int:
    """`watcher run`: run until SIGTERM; exit status per SPEC §3 (2: bad config).

    `config`: the config at `config_path` as the command line already loaded and checked
    it (`watcher run` then reads and checks it once, not twice); loaded here when None.
    """
    del verbose  # the log level is set by the command line before this is called
    if config is None:
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            for issue in exc.issues:
                print(issue, file=sys.stderr)
            return 2
    redaction_filter().update(config.settings.database_secrets)
    lock = InstanceLock(config.settings.state_dir)
    if not lock.acquire():
        log.error("event=already-running state_dir=%s", config.settings.state_dir)
        print(
            f"watcher: another `watcher run` is using {config.settings.state_dir}",
            file=sys.stderr,
        )
        return 1
    try:
        store = open_store(config.settings)
    except Exception as exc:  # e.g. the database server cannot be reached
        log.error("event=store-unavailable error=%r", str(exc)[:300])
        lock.release()
        return 1
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        daemon = Daemon(config_path, config, store)
        code = loop.run_until_complete(daemon.main())
    finally:
        loop.close()
        store.close()
        lock.release()
    if daemon.abandoned_threads:
        # A worker thread is stuck in a send or a parse; the interpreter would wait for
        # it at exit. Everything is recorded and closed: leave now.
        log.warning("event=exit-with-busy-threads")
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    return code
