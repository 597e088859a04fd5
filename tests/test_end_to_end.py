"""The whole pipeline through the command line, against real loopback servers:
feeds over HTTP, the signal-cli REST stand-in, an SMTP server (SPEC §2, §3)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.cli import main
from watcher.demo.sample import render_dates

from standins import FeedServer, SignalStandIn, SmtpStandIn

DATA = Path(__file__).parent / "data"
SIGNAL_TO = "+10000000001"


@dataclass
class Rig:
    config: Path
    feeds: FeedServer
    signal: SignalStandIn
    smtp: SmtpStandIn

    def run(self, *args: str) -> int:
        return main(["-c", str(self.config), *args])


@contextlib.contextmanager
def running_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    """The loopback feeds, Signal and SMTP stand-ins and the config that points at them;
    tests/test_store_backends.py runs the same rig on PostgreSQL."""
    now = datetime.now(UTC)
    feeds = FeedServer()
    for name in ("english.xml", "khmer.xml", "undated.xml"):
        body = render_dates((DATA / "feeds" / name).read_text(encoding="utf-8"), now)
        feeds.put(f"/{name}", body.encode("utf-8"), content_type="application/rss+xml")
    signal = SignalStandIn()
    smtp = SmtpStandIn()
    template = (DATA / "e2e" / "watcher.toml").read_text(encoding="utf-8")
    config = tmp_path / "watcher.toml"
    config.write_text(
        template.replace("{{HOST}}", feeds.netloc)
        .replace("{{SIGNAL}}", signal.netloc)
        .replace("{{MAIL}}", smtp.apprise_url()),
        encoding="utf-8",
    )
    monkeypatch.setenv("SIGNAL_TO", SIGNAL_TO)
    try:
        yield Rig(config, feeds, signal, smtp)
    finally:
        feeds.close()
        signal.close()
        smtp.close()


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    with running_rig(tmp_path, monkeypatch) as built:
        yield built


def test_once_alerts_each_matching_story_once_per_channel(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rig.run("once") == 0
    out = capsys.readouterr().out
    texts = [m["message"] for m in rig.signal.messages]
    assert len(texts) == 2, texts
    assert any("National Internet Gateway" in t for t in texts)
    assert any("អនុក្រឹត្យ" in t for t in texts)
    # vetoed by `none`, older than max_age, undated on a first poll, not matching:
    joined = "\n".join(texts)
    for absent in ("mine clearance", "Archive", "Sub-decree No. 12", "dancer"):
        assert absent not in joined
    # The link is the article's own, without the tracking parameters.
    assert "https://civic.example/2026/11/nig-sub-decree" in joined
    assert "utm_source" not in joined
    mails = rig.smtp.wait_for(2)
    subjects = sorted(m.subject for m in mails)
    assert subjects[0] == (
        "[HIGH] Sub-decrees: Government adopts sub-decree on National Internet Gateway"
    )
    assert subjects[1].startswith("[HIGH] Sub-decrees: រាជរដ្ឋាភិបាល")
    english = next(m for m in mails if "Gateway" in m.subject)
    assert "https://civic.example/2026/11/nig-sub-decree" in english.text("plain")
    assert 'href="https://civic.example/2026/11/nig-sub-decree' in english.text("html")
    assert "Broken: ERROR HTTP 404" in out


def test_second_run_on_unchanged_feeds_is_conditional_and_sends_nothing(rig: Rig) -> None:
    assert rig.run("once") == 0
    first = len(rig.signal.messages)
    before = len(rig.feeds.requests)
    assert rig.run("once") == 0
    assert len(rig.signal.messages) == first
    second_poll = rig.feeds.requests[before:]
    feeds = [r for r in second_poll if r.path != "/missing.xml"]
    assert len(feeds) == 3
    assert all(r.conditional for r in feeds)


def test_a_failed_send_stays_in_the_outbox_and_is_delivered_next_run(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.signal.set_down(True)
    assert rig.run("once") == 0  # a channel that is down is not a failing command
    assert rig.signal.messages == []
    emails_after_first = len(rig.smtp.wait_for(2))
    capsys.readouterr()
    assert rig.run("status") == 0
    status = capsys.readouterr().out
    assert "staff-signal: pending 2" in status
    rig.signal.set_down(False)
    assert rig.run("once") == 0
    assert len(rig.signal.messages) == 2
    # the email channel, which worked the first time, is not sent again
    assert len(rig.smtp.mails) == emails_after_first
    assert rig.run("once") == 0
    assert len(rig.signal.messages) == 2


def test_dry_run_prints_alerts_and_records_nothing(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rig.run("once", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "2 alert(s) would be sent" in out
    assert "National Internet Gateway" in out
    assert rig.signal.messages == []
    assert not (rig.config.parent / "state" / "watcher.sqlite3").exists()
    assert rig.run("once") == 0
    assert len(rig.signal.messages) == 2


def test_export_lists_alerts_with_terms(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    assert rig.run("once") == 0
    capsys.readouterr()
    assert rig.run("export", "--format", "json") == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2
    assert {r["source"] for r in rows} == {"Civic News", "Khmer News"}
    assert all(r["watchlists"] == ["Sub-decrees"] and r["terms"] for r in rows)


def test_no_secret_in_output_or_logs(rig: Rig, capfd: pytest.CaptureFixture[str]) -> None:
    rig.signal.set_down(True)
    assert rig.run("-v", "-v", "once") == 0
    assert rig.run("status") == 0
    captured = capfd.readouterr()
    assert SIGNAL_TO not in captured.out + captured.err


def test_test_notify_reports_arrival(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    assert rig.run("test-notify", "staff-signal") == 0
    assert "staff-signal: delivered" in capsys.readouterr().out
    assert "test" in rig.signal.messages[0]["message"]
    rig.signal.set_down(True)
    assert rig.run("test-notify", "staff-signal") == 1
    assert rig.run("test-notify", "nope") == 2


def test_the_console_script_runs_as_a_module(rig: Rig) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", "-c", str(rig.config), "check"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SIGNAL_TO": SIGNAL_TO, "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout


def test_explain_shows_each_watchlist_verdict(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    page = DATA / "explain" / "article.html"
    assert rig.run("explain", str(page)) == 0
    out = capsys.readouterr().out
    assert "Sub-decrees" in out
    assert "veto" in out.lower()  # "mine clearance" vetoes it, and explain says so
    assert rig.run("explain", str(page), "--source", "Nope") == 2


def test_explain_a_feed_explains_every_entry(rig: Rig, capsys: pytest.CaptureFixture[str]) -> None:
    feed = rig.feeds.url_for("/english.xml")
    assert rig.run("explain", feed) == 0
    out = capsys.readouterr().out
    assert out.count("=== ") == 4
    assert "=== Government adopts sub-decree on National Internet Gateway" in out


def test_status_counts_alerts_from_a_sources_first_poll(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rig.run("once") == 0
    capsys.readouterr()
    assert rig.run("status") == 0
    out = capsys.readouterr().out
    assert "Civic News: last success" in out
    civic = next(line for line in out.splitlines() if line.startswith("  Civic News:"))
    assert "alerts 1" in civic


def test_an_edited_back_catalogue_item_still_does_not_alert(rig: Rig) -> None:
    # Review: an undated item recorded (not alerted) on its source's first poll alerted
    # as soon as its text changed (a gazette that adds a summary or a view counter), so
    # the back catalogue flooded the channel one poll later after all (SPEC §6).
    assert rig.run("once") == 0
    sent = len(rig.signal.messages)
    body = (DATA / "feeds" / "undated.xml").read_text(encoding="utf-8")
    edited = body.replace(
        "<link>https://gazette.example/sd-12</link>",
        "<link>https://gazette.example/sd-12</link>\n"
        "    <description>Republished with its annexes.</description>",
    )
    assert edited != body
    rig.feeds.put("/undated.xml", edited.encode("utf-8"), content_type="application/rss+xml")
    assert rig.run("once") == 0
    assert len(rig.signal.messages) == sent
    assert "Sub-decree No. 12" not in "\n".join(m["message"] for m in rig.signal.messages)


def test_once_leaves_a_running_daemons_sends_alone(rig: Rig) -> None:
    """A row `sending` while a daemon holds the state lock is the daemon's, not a crash's."""
    import fcntl

    from watcher.runner.service import LOCK_NAME
    from watcher.store.sqlite import Store

    rig.signal.set_down(True)
    assert rig.run("once") == 0
    state = rig.config.parent / "state"
    store = Store(state / "watcher.sqlite3")
    pending = [d.id for d in store.due_deliveries(datetime.now(UTC), skip_backoff=True)]
    signal_rows = [d.id for d in store.pending_deliveries("staff-signal")]
    assert store.mark_sending(signal_rows) is True  # as a daemon mid-send would
    store.close()
    rig.signal.set_down(False)
    with open(state / LOCK_NAME, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a daemon is running on this state
        assert rig.run("once") == 0
    assert rig.signal.messages == []  # not re-sent behind the daemon's back
    assert len(pending) >= len(signal_rows) > 0


def test_an_unexpected_error_in_one_poll_does_not_stop_the_others(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    from watcher.pipeline.poll import Pipeline

    real = Pipeline._record

    def broken(self: Pipeline, source: object, *args: object, **kwargs: object) -> object:
        if getattr(source, "name", "") == "Khmer News":
            raise sqlite3.IntegrityError("UNIQUE constraint failed: items.source, items.key")
        return real(self, source, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Pipeline, "_record", broken)
    assert rig.run("once") == 0
    out = capsys.readouterr().out
    assert "Khmer News: ERROR internal error while polling: IntegrityError" in out
    texts = [m["message"] for m in rig.signal.messages]
    assert len(texts) == 1 and "National Internet Gateway" in texts[0]


def test_dry_run_on_existing_state_leaves_the_database_file_untouched(rig: Rig) -> None:
    import hashlib

    rig.feeds.fail("/english.xml", status=500)
    assert rig.run("once") == 0  # state exists, Civic News not yet seen
    rig.feeds.recover("/english.xml")
    db = rig.config.parent / "state" / "watcher.sqlite3"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    assert rig.run("once", "--dry-run") == 0
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    sent = len(rig.signal.messages)
    assert rig.run("once") == 0
    assert len(rig.signal.messages) == sent + 1  # the dry run did not mark it seen


def test_once_prints_counts_in_the_singular_for_one(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rig.run("once") == 0
    out = capsys.readouterr().out
    civic = next(line for line in out.splitlines() if line.startswith("  Civic News:"))
    assert civic.endswith(", 1 alert"), civic
    assert "Polled 4 sources: 2 new alerts, 1 source error." in out
    assert "1 alerts" not in out and "1 source errors" not in out


def test_export_csv_opens_in_a_spreadsheet_with_khmer_and_true_false(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv
    import io

    assert rig.run("once") == 0
    capsys.readouterr()
    assert rig.run("export") == 0
    out = capsys.readouterr().out
    # A UTF-8 byte-order mark first: spreadsheet programs then read the file as UTF-8.
    assert out.startswith("\ufeffid,created,severity,")
    rows = list(csv.DictReader(io.StringIO(out.removeprefix("\ufeff"))))
    assert len(rows) == 2
    assert {r["possible"] for r in rows} == {"false"}
    assert any("អនុក្រឹត្យ" in r["title"] or "រាជរដ្ឋាភិបាល" in r["title"] for r in rows)
    for row in rows:
        assert "True" not in row.values() and "False" not in row.values()


def test_status_export_and_explain_need_no_channel_secrets(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rig.run("once") == 0
    capsys.readouterr()
    monkeypatch.delenv("SIGNAL_TO")
    page = str(DATA / "explain" / "article.html")
    for command in (["status"], ["export", "--format", "json"], ["explain", page]):
        assert rig.run(*command) == 0, command
        captured = capsys.readouterr()
        assert captured.err.splitlines() == [
            f"watcher: channel staff-signal not checked: environment variable SIGNAL_TO is "
            f"not set ({command[0]} sends nothing, so it goes on)"
        ]
        assert captured.out
    assert rig.run("status") == 0
    assert "Civic News: last success" in capsys.readouterr().out
    assert rig.run("export", "--format", "json") == 0
    assert len(json.loads(capsys.readouterr().out)) == 2
    # Sending needs the secret: these still refuse, naming it.
    for command in (["once"], ["test-notify", "staff-signal"], ["check"]):
        assert rig.run(*command) == 2, command
        assert "SIGNAL_TO" in capsys.readouterr().err
