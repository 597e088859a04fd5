"""`watcher run` as a service (SPEC §9): the daemon runs as a real subprocess against
loopback feeds and a Signal stand-in, and is driven with signals, config edits and a
fake systemd notify socket. Waits poll with generous timeouts; nothing sleeps blindly."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import watcher.runner.daemon as daemon_module
from watcher.cli import main
from watcher.config import load_config
from watcher.models import Source
from watcher.pipeline.poll import Pipeline, PollReport
from watcher.runner.daemon import Daemon
from watcher.runner.schedule import first_poll
from watcher.runner.service import describe_daemon, watchdog_seconds
from watcher.store.sqlite import DB_NAME, DaemonState, Store

from standins import FeedServer, RecordedRequest, SignalStandIn, wait_until

DATA = Path(__file__).parent / "data" / "daemon"
STAFF = "+10000000001"
OPS = "+10000000999"  # the admin channel's recipient in tests/data/daemon/watcher.toml
INTERVAL = 2.0  # the config's interval


def rss(*titles: str) -> str:
    """A feed whose items are dated an hour ago (recent enough to alert)."""
    when = email.utils.format_datetime(datetime.now(UTC) - timedelta(hours=1))
    items = "".join(
        f"<item><title>{t}</title><link>https://civic.example/{t.replace(' ', '-')}</link>"
        f'<guid isPermaLink="false">{t}</guid><pubDate>{when}</pubDate>'
        f"<description>{t}.</description></item>"
        for t in titles
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Test</title><link>https://civic.example/</link>{items}</channel></rss>"
    )


def source(name: str, path: str, interval: str | None = None) -> str:
    extra = f'\ninterval = "{interval}"' if interval else ""
    return f'[[sources]]\nname = "{name}"\nurl = "http://{{{{HOST}}}}{path}"{extra}\n'


class SlowSignal(SignalStandIn):
    """The Signal stand-in, answering each send only after `hold` seconds."""

    hold = 0.0

    def _respond(self, request: RecordedRequest) -> Any:
        if request.path == "/v2/send" and self.hold:
            self._closing.wait(self.hold)
        return super()._respond(request)


@dataclass
class Running:
    """One `watcher run` subprocess, logging to a file."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    offset: int = 0  # where this run's log starts

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[self.offset :]

    def wait_log(self, text: str, timeout: float = 15.0) -> None:
        wait_until(f"{text!r} in the daemon's log", lambda: text in self.log(), timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> tuple[int, float]:
        """Send `sig`; return the exit status and the seconds it took to exit."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - start


@dataclass
class Rig:
    tmp: Path
    feeds: FeedServer
    signal: SlowSignal
    env: dict[str, str]
    config: Path
    runs: list[Running] = field(default_factory=list)

    def render(self, sources: str = "", timeout: str = "5s") -> str:
        template = (DATA / "watcher.toml").read_text(encoding="utf-8")
        return (
            template.replace("{{SOURCES}}", sources)
            .replace("{{HOST}}", self.feeds.netloc)
            .replace("{{SIGNAL}}", self.signal.netloc)
            .replace("{{TIMEOUT}}", timeout)
        )

    def write_config(self, text: str, *, keep_mtime: bool = False) -> None:
        """Replace the config atomically; `keep_mtime` hides the edit from the mtime
        watch, so that only SIGHUP can make the daemon notice it."""
        before = self.config.stat().st_mtime_ns if self.config.exists() else None
        temp = self.config.with_suffix(".new")
        temp.write_text(text, encoding="utf-8")
        if keep_mtime and before is not None:
            os.utime(temp, ns=(before, before))
        os.replace(temp, self.config)

    def start(self, env: dict[str, str] | None = None) -> Running:
        log_path = self.tmp / "daemon.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        out = open(log_path, "ab")  # noqa: SIM115 - the child writes to it; closed below
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "watcher", "-c", str(self.config), "run"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**self.env, **(env or {})},
            )
        finally:
            out.close()
        running = Running(proc, log_path, offset)
        self.runs.append(running)
        running.wait_log("event=started")
        return running

    def sent_to(self, recipient: str) -> list[str]:
        return [m["message"] for m in self.signal.messages if recipient in m["recipients"]]

    def store(self) -> Store:
        return Store(self.tmp / "state" / DB_NAME)


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    feeds = FeedServer()
    feeds.put("/civic.xml", rss("Weather is fine"), content_type="application/rss+xml")
    stand_in = SlowSignal()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    env.update(SIGNAL_TO=STAFF, PYTHONUNBUFFERED="1")
    monkeypatch.setenv("SIGNAL_TO", STAFF)  # for `watcher status` run in this process
    config = tmp_path / "watcher.toml"
    rig = Rig(tmp_path, feeds, stand_in, env, config)
    rig.write_config(rig.render())
    try:
        yield rig
    finally:
        for run in rig.runs:
            if run.proc.poll() is None:
                run.proc.kill()
                run.proc.wait(10)
        feeds.close()
        stand_in.close()


def put_feed(rig: Rig, path: str, *titles: str) -> None:
    rig.feeds.put(path, rss(*titles), content_type="application/rss+xml")


# -- the pipeline, scheduled ------------------------------------------------------------


def test_a_new_item_is_delivered_within_the_interval_and_status_shows_the_daemon(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    run = rig.start()
    run.wait_log("event=polled source=Civic News")  # the first poll recorded the back catalogue
    capsys.readouterr()
    assert main(["-c", str(rig.config), "status"]) == 0
    status = capsys.readouterr().out
    assert "Daemon: running (pid" in status
    assert "Civic News: last success" in status and ", next poll " in status

    put_feed(rig, "/civic.xml", "Government adopts sub-decree on the Internet", "Weather is fine")
    added = time.monotonic()
    messages = rig.signal.wait_for(1, timeout=INTERVAL + 5)
    assert time.monotonic() - added <= INTERVAL + 5
    assert "Government adopts sub-decree on the Internet" in messages[0]["message"]
    assert messages[0]["recipients"] == [STAFF]

    code, _seconds = run.stop()
    assert code == 0
    assert main(["-c", str(rig.config), "status"]) == 0
    status = capsys.readouterr().out
    assert "Daemon: not running (stopped" in status
    assert "next poll" not in status


def test_sigterm_mid_delivery_exits_promptly_and_a_restart_sends_the_rest_once(rig: Rig) -> None:
    titles = [f"Sub-decree number {n} adopted" for n in (1, 2, 3)]
    put_feed(rig, "/civic.xml", *titles)
    rig.signal.hold = 2.5  # each send takes 2.5 s: SIGTERM lands while one is in flight
    run = rig.start()
    rig.signal.wait_for_requests(1, path="/v2/send", timeout=15)
    code, seconds = run.stop(signal.SIGTERM)
    assert code == 0
    assert seconds < 10, f"stopped in {seconds:.1f} s"
    assert "event=stopped" in run.log()
    first = rig.sent_to(STAFF)
    assert len(first) == 1  # the send in flight finished; no new one began

    rig.signal.hold = 0.0
    rig.start()

    def drained() -> bool:
        store = rig.store()
        try:
            counts = store.outbox_counts()
        finally:
            store.close()
        return (
            counts.get("sent", 0) == 3 and not counts.get("pending") and not counts.get("sending")
        )

    wait_until("the outbox to drain", drained)
    sent = rig.sent_to(STAFF)
    assert sorted(sum(t in m for m in sent) for t in titles) == [1, 1, 1], sent
    assert len(sent) == 3


def test_sighup_with_a_broken_config_keeps_the_old_one_and_a_fixed_file_is_picked_up(
    rig: Rig,
) -> None:
    run = rig.start()
    run.wait_log("event=polled source=Civic News")
    good = rig.render()
    rig.write_config(good.replace("[settings]", "[settings]\nno_such_key = 1"), keep_mtime=True)
    run.proc.send_signal(signal.SIGHUP)
    run.wait_log("event=reload-refused why=SIGHUP")
    assert "no_such_key" in run.log()
    notices = wait_until("the admin notice", lambda: rig.sent_to(OPS))
    assert "reload refused" in notices[0]
    assert "no_such_key" in notices[0]

    # The old config still runs: a new item is still polled, matched and sent.
    put_feed(rig, "/civic.xml", "Sub-decree on gatherings", "Weather is fine")
    staff = wait_until("the staff alert", lambda: rig.sent_to(STAFF), INTERVAL + 5)
    assert "Sub-decree on gatherings" in staff[0]

    # An ordinary edit (the mtime changes) is reloaded without a signal.
    put_feed(rig, "/added.xml", "Weather")
    rig.write_config(rig.render(source("Added", "/added.xml")))
    run.wait_log("event=reloaded why=file-changed", timeout=20)
    rig.feeds.wait_for_requests(1, path="/added.xml", timeout=INTERVAL + 5)
    assert len(rig.sent_to(OPS)) == 1  # the refused file was reported once
    assert run.stop()[0] == 0


def test_sighup_adds_and_removes_sources_and_keeps_their_state(rig: Rig) -> None:
    run = rig.start()
    run.wait_log("event=polled source=Civic News")
    put_feed(rig, "/b.xml", "Weather")
    # Civic News removed, B added.
    text = rig.render(source("B", "/b.xml"))
    text = text.replace('name = "Civic News"\nurl = "http://', 'name = "B2"\nurl = "http://')
    text = text.replace("/civic.xml", "/b2.xml")
    put_feed(rig, "/b2.xml", "Weather")
    rig.write_config(text, keep_mtime=True)
    run.proc.send_signal(signal.SIGHUP)
    run.wait_log("event=reloaded why=SIGHUP")
    rig.feeds.wait_for_requests(2, path="/b.xml", timeout=2 * INTERVAL + 5)
    civic = len(rig.feeds.requests_for("/civic.xml"))
    # Two more polls of B: a poll of Civic News would have come in that time.
    seen = len(rig.feeds.requests_for("/b.xml"))
    rig.feeds.wait_for_requests(seen + 2, path="/b.xml", timeout=2 * INTERVAL + 5)
    assert len(rig.feeds.requests_for("/civic.xml")) <= civic + 1  # at most one in flight
    assert run.stop()[0] == 0
    store = rig.store()
    try:
        kept = store.source_state("Civic News")
        assert kept.polls >= 1 and kept.items_seen == 1
        assert kept.next_poll is None  # not planned any more
        assert store.source_state("B").polls >= 2
    finally:
        store.close()


# -- systemd --------------------------------------------------------------------------------


def test_notify_socket_gets_ready_status_and_regular_watchdog_pings(rig: Rig) -> None:
    # A big feed: parsing and matching it must not stall the loop that pings the watchdog.
    many = [f"Report {n} on roads, schools and the weather in the provinces" for n in range(3000)]
    put_feed(rig, "/big.xml", *many)
    rig.write_config(rig.render(source("Big", "/big.xml")))
    name = f"watcher-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(0.2)
    received: list[tuple[float, str]] = []

    def collect_until(done: Callable[[], bool], timeout: float) -> None:
        end = time.monotonic() + timeout
        while not done():
            if time.monotonic() > end:
                pytest.fail(f"notify socket: not in time; got {[m for _, m in received]}")
            with contextlib.suppress(TimeoutError):
                received.append((time.monotonic(), sock.recv(4096).decode()))

    try:
        run = rig.start(env={"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "1500000"})
        collect_until(lambda: any("READY=1" in m for _, m in received), 15)
        ready = next(m for _, m in received if "READY=1" in m)
        assert "STATUS=2 sources" in ready
        collect_until(lambda: "event=polled source=Big" in run.log(), 30)
        pings_before = sum(1 for _, m in received if m == "WATCHDOG=1")
        collect_until(
            lambda: sum(1 for _, m in received if m == "WATCHDOG=1") >= pings_before + 3, 10
        )
        assert run.stop()[0] == 0
        collect_until(lambda: any("STOPPING=1" in m for _, m in received), 5)
    finally:
        sock.close()
    start = next(i for i, (_, m) in enumerate(received) if "READY=1" in m)
    pings = [at for at, m in received[start:] if m == "WATCHDOG=1"]
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert len(pings) >= 4
    # WATCHDOG_USEC is 1.5 s: a gap that long would have got the service killed.
    assert max(gaps) < 1.5, gaps
    assert "event=loop-lag" not in run.log()


def test_watchdog_is_only_for_the_process_systemd_names() -> None:
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000"}, 42) == 30.0
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 42) == 30.0
    assert watchdog_seconds({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, 42) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "0"}, 42) is None
    assert watchdog_seconds({"WATCHDOG_USEC": "soon"}, 42) is None
    assert watchdog_seconds({}, 42) is None


# -- robustness -------------------------------------------------------------------------------


def test_a_hanging_source_stops_neither_the_others_nor_its_own_next_polls(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    put_feed(rig, "/hung.xml", "Weather")
    rig.feeds.delay("/hung.xml", 3600)
    rig.write_config(rig.render(source("Hung", "/hung.xml"), timeout="1s"))
    run = rig.start()
    run.wait_log("event=polled source=Civic News")
    put_feed(rig, "/civic.xml", "Sub-decree while a source hangs", "Weather is fine")
    messages = rig.signal.wait_for(1, timeout=INTERVAL + 5)
    assert "Sub-decree while a source hangs" in messages[0]["message"]
    rig.feeds.wait_for_requests(3, path="/hung.xml", timeout=20)
    capsys.readouterr()
    assert main(["-c", str(rig.config), "status"]) == 0
    status = capsys.readouterr().out
    assert "timed out" in status
    code, seconds = run.stop()
    assert code == 0 and seconds < 10


def test_a_second_daemon_on_the_same_state_refuses_to_start(rig: Rig) -> None:
    run = rig.start()
    second = subprocess.run(
        [sys.executable, "-m", "watcher", "-c", str(rig.config), "run"],
        capture_output=True,
        text=True,
        timeout=30,
        env=rig.env,
    )
    assert second.returncode == 1
    assert "another `watcher run`" in second.stderr
    assert run.proc.poll() is None  # the first one is unharmed
    assert run.stop()[0] == 0


def test_a_poll_that_never_returns_is_cut_off_at_its_deadline(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The APScheduler trap: with max_instances=1, a poll that hangs would make every
    later run of that source be skipped. The deadline ends it and records why."""

    async def hang(self: Pipeline, source: Source) -> PollReport:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    monkeypatch.setattr(Pipeline, "poll", hang)
    monkeypatch.setattr(daemon_module, "poll_deadline", lambda settings: 0.3)
    config = load_config(rig.config)
    store = Store(rig.tmp / "inproc.sqlite3")

    async def scenario() -> float:
        daemon = Daemon(rig.config, config, store)
        start = time.monotonic()
        await asyncio.wait_for(daemon.poll_job("Civic News"), 10)
        return time.monotonic() - start

    try:
        took = asyncio.run(scenario())
        state = store.source_state("Civic News")
    finally:
        store.close()
    assert took < 2
    assert state.failures == 1
    assert state.last_error == "poll did not finish within 0.3 s"


# -- pure parts ---------------------------------------------------------------------------------


def test_first_polls_keep_cadence_and_spread_due_sources() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(7)
    recent = now - timedelta(minutes=5)
    assert first_poll(900, recent, now, rng) == recent + timedelta(seconds=900)
    due = [first_poll(900, now - timedelta(hours=2), now, rng) for _ in range(50)]
    offsets = sorted((d - now).total_seconds() for d in due)
    assert offsets[0] >= 0 and offsets[-1] <= 60  # within a minute, not all at once
    assert offsets[-1] - offsets[0] > 30
    short = [first_poll(2, None, now, rng) for _ in range(20)]
    assert all(0 <= (d - now).total_seconds() <= 2 for d in short)


def test_status_line_tells_running_stopped_crashed_and_wedged() -> None:
    tz = UTC
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    started = now - timedelta(hours=1)
    alive = DaemonState(7, "box", started, now - timedelta(seconds=3), None)
    assert describe_daemon(True, alive, now, tz).startswith("Daemon: running (pid 7 on box")
    wedged = DaemonState(7, "box", started, now - timedelta(minutes=5), None)
    assert "NOT RESPONDING" in describe_daemon(True, wedged, now, tz)
    stopped = DaemonState(7, "box", started, now - timedelta(minutes=5), now - timedelta(minutes=5))
    assert describe_daemon(False, stopped, now, tz).startswith("Daemon: not running (stopped")
    assert "did not stop cleanly" in describe_daemon(False, wedged, now, tz)
    # No access to the lock file: judged by the heartbeat.
    assert describe_daemon(None, alive, now, tz).startswith("Daemon: running")
    assert describe_daemon(False, None, now, tz) == "Daemon: not running (never started here)"
