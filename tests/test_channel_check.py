"""Apprise's check of the channel URLs runs in a child process (watcher.channel_check):
same verdicts and messages as before, one child per config load, the main process
without Apprise, and a refused URL still stops `once` and `run` before any request
(SPEC §3, §7)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_daemon import INTERVAL, STAFF, Rig, put_feed, rig  # noqa: F401  (the daemon rig)

from watcher import channel_check
from watcher.channel_check import ChannelCheck
from watcher.config import ConfigError, read_config

from standins import FeedServer, wait_until

# Made-up values of the right shape; none is a real number or token.
GOOD = "json://127.0.0.1:9/"
REFUSED = "nosuchservice://host/path"
SECRET = "made-up-s3cret-for-tests"

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    b"<link>http://example.org/</link><description>d</description></channel></rss>"
)


def _config(folder: Path, feed_url: str, channel_urls: dict[str, str]) -> Path:
    lines = [
        "[settings]",
        'state_dir = "state"',
        'timezone = "UTC"',
        "",
        "[[sources]]",
        'name = "Feed"',
        f'url = "{feed_url}"',
        "",
        "[[watchlists]]",
        'name = "Decrees"',
        'any = ["sub-decree"]',
        "",
    ]
    for name, url in channel_urls.items():
        lines += ["[[channels]]", f'name = "{name}"', f'url = "{url}"', ""]
    path = folder / "watcher.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _url_line(config: Path, channel: str) -> int:
    lines = config.read_text(encoding="utf-8").splitlines()
    start = lines.index(f'name = "{channel}"')
    return start + 2  # `url = …` follows the name


def test_a_real_child_gives_one_verdict_per_url_in_order() -> None:
    check = ChannelCheck()
    assert check._proc is not None  # a child was started
    check.submit([GOOD, REFUSED, "tgram://"])
    assert check.verdicts() == [True, False, False]
    assert check._proc.returncode == 0
    # The URLs went over the pipe: nothing of them is in the child's command line.
    assert all(GOOD not in arg and REFUSED not in arg for arg in check._proc.args)


def test_the_child_is_stopped_when_the_urls_never_come() -> None:
    check = ChannelCheck()
    check.submit([])
    assert check.verdicts() == []
    assert check._proc is not None and check._proc.returncode is not None


def test_without_a_child_the_urls_are_checked_in_process(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(channel_check, "child_command", lambda: ["/nonexistent/python3"])
    caplog.set_level(logging.WARNING)
    secret_url = f"json://user:{SECRET}@127.0.0.1:9/"
    check = ChannelCheck()
    assert check._proc is None
    check.submit([secret_url, REFUSED])
    assert check.verdicts() == [True, False]
    assert "event=channel-check-in-process" in caplog.text
    assert SECRET not in caplog.text


def test_a_child_that_answers_nonsense_is_not_believed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Says "all accepted" for a URL Apprise refuses, and the wrong number of verdicts.
    lying = [sys.executable, "-c", "import sys; sys.stdin.read(); print('[true, true, true]')"]
    monkeypatch.setattr(channel_check, "child_command", lambda: lying)
    check = ChannelCheck()
    check.submit([GOOD, REFUSED])
    assert check.verdicts() == [True, False]


def test_a_config_load_starts_one_child_for_every_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[str]] = []
    real = channel_check.child_command

    def counted() -> list[str]:
        started.append(real())
        return real()

    monkeypatch.setattr(channel_check, "child_command", counted)
    config = _config(
        tmp_path, "http://127.0.0.1:9/feed.xml", {"a": GOOD, "b": REFUSED, "c": GOOD, "d": REFUSED}
    )
    with pytest.raises(ConfigError) as caught:
        read_config(config, {})
    assert len(started) == 1
    assert [str(i) for i in caught.value.issues] == [
        f"{config}:{_url_line(config, name)}: channels[{name}].url: not a URL that Apprise "
        'accepts (service "nosuchservice://"); check its form in the Apprise documentation '
        "for that service"
        for name in ("b", "d")
    ]


def test_a_deferred_check_reports_the_refused_url_when_resolved(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9/feed.xml", {"ok": GOOD, "bad": REFUSED})
    loaded = read_config(config, {}, defer_channel_check=True)
    assert loaded.pending_channels is not None
    with pytest.raises(ConfigError) as caught:
        loaded.resolve_channels()
    assert [(i.line, i.field) for i in caught.value.issues] == [
        (_url_line(config, "bad"), "channels[bad].url")
    ]


def test_a_deferred_check_waits_when_the_config_has_other_problems(tmp_path: Path) -> None:
    # Every problem at once, in line order, as a load that waits reports them.
    config = _config(tmp_path, "not a url", {"bad": REFUSED})
    with pytest.raises(ConfigError) as caught:
        read_config(config, {}, defer_channel_check=True)
    fields = [i.field for i in caught.value.issues]
    assert fields == ["sources[Feed].url", "channels[bad].url"]


def test_the_main_process_never_imports_apprise_to_check_urls(tmp_path: Path) -> None:
    config = _config(tmp_path, "http://127.0.0.1:9/feed.xml", {"ok": GOOD})
    script = (
        "import sys; from watcher.config import load_config; "
        f"load_config({str(config)!r}, {{}}); print('apprise' in sys.modules)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == "False"


def _watcher(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watcher", "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BAD_TOKEN": SECRET},
    )


@pytest.mark.parametrize("command", [["once"], ["once", "--dry-run"], ["run"]])
def test_a_refused_url_stops_the_command_before_any_request(
    tmp_path: Path, command: list[str]
) -> None:
    feeds = FeedServer()
    try:
        feeds.put("/feed.xml", FEED, content_type="application/rss+xml")
        config = _config(
            tmp_path,
            f"{feeds.url}/feed.xml",
            {"ok": GOOD, "bad": "nosuchservice://${BAD_TOKEN}/path"},
        )
        proc = _watcher(config, *command)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == [
            f"{config}:{_url_line(config, 'bad')}: channels[bad].url: not a URL that Apprise "
            'accepts (service "nosuchservice://"); check its form in the Apprise '
            "documentation for that service"
        ]
        assert SECRET not in proc.stderr + proc.stdout
        assert feeds.requests == []  # nothing polled
        assert not (tmp_path / "state").exists()  # nothing written
    finally:
        feeds.close()


def test_once_with_accepted_urls_polls_and_exits_0(tmp_path: Path) -> None:
    feeds = FeedServer()
    try:
        feeds.put("/feed.xml", FEED, content_type="application/rss+xml")
        config = _config(tmp_path, f"{feeds.url}/feed.xml", {"ok": GOOD})
        proc = _watcher(config, "once")
        assert proc.returncode == 0, proc.stderr
        assert len(feeds.requests_for("/feed.xml")) == 1
        assert "Polled 1 source" in proc.stdout
    finally:
        feeds.close()


def test_the_child_protocol_is_json_on_stdin_and_stdout() -> None:
    proc = subprocess.run(
        channel_check.child_command(),
        input=json.dumps([GOOD, REFUSED]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(proc.stdout) == [True, False]
    empty = subprocess.run(channel_check.child_command(), input="", capture_output=True, timeout=60)
    assert (empty.returncode, empty.stdout) == (0, b"")


def test_a_reload_with_a_refused_url_is_refused_and_the_old_config_runs(
    rig: Rig,  # noqa: F811
) -> None:
    run = rig.start()
    run.wait_log("event=polled source=Civic News")
    broken = '\n[[channels]]\nname = "broken"\nurl = "nosuchservice://host/path"\n'
    rig.write_config(rig.render() + broken, keep_mtime=True)
    run.proc.send_signal(signal.SIGHUP)
    run.wait_log("event=reload-refused why=SIGHUP")
    log = run.log()
    assert 'channels[broken].url: not a URL that Apprise accepts (service "nosuchservice://")' in (
        log
    )
    # The old config still runs: a new item is still polled, matched and sent.
    put_feed(rig, "/civic.xml", "Sub-decree on gatherings", "Weather is fine")
    staff = wait_until("the staff alert", lambda: rig.sent_to(STAFF), INTERVAL + 5)
    assert "Sub-decree on gatherings" in staff[0]
    assert run.stop()[0] == 0
