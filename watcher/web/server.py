"""Serving the staff pages with uvicorn: alone (`watcher web`) or beside the daemon.

Beside the daemon (`[web] listen` in `watcher run`) the server runs in a thread with
its own event loop: a slow page or search never delays a poll or a send on the
daemon's loop, and the daemon's SIGTERM handling stays its own (uvicorn installs
signal handlers only in the main thread). `stop()` asks it to finish and waits a
bounded time, inside the daemon's 10-second stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator

import uvicorn

from watcher.models import Config, WebSettings
from watcher.store.sqlite import Store
from watcher.web.app import create_app

log = logging.getLogger("watcher.web")


def split_listen(listen: str) -> tuple[str, int]:
    """("host", port) of "HOST:PORT" (an IPv6 host in brackets)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def listen_of(config: Config, override: str | None = None) -> str:
    """Where to listen: `--listen`, else `[web] listen`, else loopback:8080 (SPEC §3)."""
    return override or (config.web or WebSettings()).listen


def prepare_state(config: Config) -> None:
    """Create or migrate the state (a Store does), so the read-only pages find it."""
    Store.in_dir(config.settings.state_dir).close()


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: `serve` (and, beside it, the
    daemon) handles SIGTERM itself, so that a stop exits 0 (uvicorn re-raises the signal
    after shutting down, which would end the process by it: status 143)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(config: Callable[[], Config], listen: str) -> uvicorn.Server:
    """A uvicorn server of the staff pages at `listen`."""
    host, port = split_listen(listen)
    app = create_app(config)
    settings = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=True,  # X-Forwarded-Proto from a reverse proxy on loopback (docs/web.md)
        forwarded_allow_ips="127.0.0.1,::1",
        server_header=False,
        timeout_graceful_shutdown=2,
    )
    return _Server(settings)


def serve(config: Config, listen: str) -> int:
    """`watcher web`: serve until SIGTERM or SIGINT; exit status 0, or 1 if it cannot."""
    prepare_state(config)
    server = make_server(lambda: config, listen)
    log.warning("event=web-listening url=http://%s/", listen)
    print(f"watcher web: serving http://{listen}/ (stop with Ctrl-C or SIGTERM)", flush=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, setattr, server, "should_exit", True)
        await server.serve()

    asyncio.run(main())
    return 0 if server.started else 1


class WebThread:
    """The staff pages in a thread beside `watcher run`."""

    def __init__(self, config: Callable[[], Config], listen: str) -> None:
        self.listen = listen
        self.server = make_server(config, listen)
        self.thread = threading.Thread(target=self._run, name="watcher-web", daemon=True)

    def _run(self) -> None:
        try:
            self.server.run()
        except (OSError, SystemExit) as exc:  # a port in use: the daemon keeps running
            log.error("event=web-failed listen=%s error=%s", self.listen, exc)

    def start(self) -> None:
        """Start serving."""
        self.thread.start()
        log.info("event=web-listening url=http://%s/", self.listen)

    def stop(self, wait: float = 3.0) -> None:
        """Ask the server to stop, and wait at most `wait` seconds for it."""
        self.server.should_exit = True
        self.thread.join(wait)
