"""The daemon's plumbing towards the system (SPEC §9): systemd's notify socket and
watchdog, the lock that keeps one daemon per state directory, and the `Daemon:` line of
`watcher status` that reads them."""

from __future__ import annotations

import fcntl
import os
import socket
import time
from collections.abc import Mapping
from datetime import datetime, tzinfo
from pathlib import Path

from watcher.delivery.messages import format_time
from watcher.store.sqlite import DaemonState, InstanceState

HEARTBEAT_STALE = 30.0  # `status`: a heartbeat older than this is a daemon not responding
LOCK_NAME = "watcher.lock"


# -- systemd (sd_notify(3), sd_watchdog_enabled(3)) -------------------------------------


def sd_notify(message: str) -> bool:
    """Send one message (`READY=1`, `WATCHDOG=1`, `STATUS=…`) to systemd's notify
    socket; False when there is none or it cannot be reached."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket, as systemd writes it
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True


def watchdog_seconds(environ: Mapping[str, str], pid: int) -> float | None:
    """systemd's watchdog period from `WATCHDOG_USEC`, or None when it is not asked of this
    process (unset, not a positive number, or `WATCHDOG_PID` names another process)."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = environ.get("WATCHDOG_PID", "")
    if owner and owner != str(pid):
        return None
    return usec / 1_000_000


# -- one daemon per state directory -------------------------------------------------------


class InstanceLock:
    """An exclusive `flock` on `LOCK_NAME` in the state directory.

    Two daemons on one database would both claim and send the same outbox rows. The
    kernel drops the lock when the process dies, even by SIGKILL, so a crash never
    leaves a stale lock behind (a pid file would).
    """

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, wait: float = 3.0) -> bool:
        """Take the lock, retrying for `wait` seconds (`status` holds it for an instant)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        end = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= end:
                    os.close(fd)
                    return False
                time.sleep(0.1)
                continue
            self._fd = fd
            return True

    def release(self) -> None:
        """Drop the lock (closing the file does)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def daemon_running(state_dir: str | Path) -> bool | None:
    """Whether a `watcher run` holds this state directory's lock; None when this
    process cannot tell (the lock file is not readable to it)."""
    path = Path(state_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{max(0, round(seconds))} s ago"
    if seconds < 7200:
        return f"{round(seconds / 60)} min ago"
    return f"{seconds / 3600:.1f} h ago"


def describe_daemon(
    running: bool | None, state: DaemonState | None, now: datetime, tz: tzinfo
) -> str:
    """The `Daemon: …` line of `watcher status`, from the lock and the heartbeat row."""
    if state is None:
        return "Daemon: running" if running else "Daemon: not running (never started here)"
    age = (now - state.heartbeat).total_seconds()
    who = f"pid {state.pid} on {state.host}, since {format_time(state.started, tz)}"
    if running is None:  # no access to the lock: judge by the heartbeat alone
        running = state.stopped is None and age < HEARTBEAT_STALE
    if running:
        if age >= HEARTBEAT_STALE:
            return f"Daemon: running but NOT RESPONDING, last heartbeat {_ago(age)} ({who})"
        return f"Daemon: running ({who}; last heartbeat {_ago(age)})"
    if state.stopped is not None:
        return f"Daemon: not running (stopped {format_time(state.stopped, tz)})"
    return (
        f"Daemon: not running (last heartbeat {format_time(state.heartbeat, tz)}; "
        "it did not stop cleanly)"
    )


def describe_instances(live: list[InstanceState], now: datetime, tz: tzinfo) -> str:
    """The `Instances:` lines of `watcher status` on a shared database (SPEC §11): each
    live instance by host name and process id, with when it was last seen."""
    if not live:
        return "Instances: none running (no instance seen in the last minute)"
    lines = [f"Instances: {len(live)} running"]
    for one in live:
        age = (now - one.last_seen).total_seconds()
        lines.append(
            f"  {one.host} pid {one.pid}: last seen {_ago(age)}, "
            f"since {format_time(one.started, tz)}"
        )
    return "\n".join(lines)
