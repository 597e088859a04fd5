"""The stale-source decision (SPEC §8): report once after `stale_after`, once on recovery.

Pure: states in, notices out. The end-to-end path (a failing FeedServer source, the
outbox, the admin webhook) is in test_delivery.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from watcher.models import Channel, Config, Settings, Source
from watcher.runner.health import check_stale, decide_stale
from watcher.store.sqlite import SourceState, Store

TZ = ZoneInfo("Asia/Phnom_Penh")
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 10:00 in Phnom Penh
SIX_HOURS = 6 * 3600.0
SOURCES = (Source(name="Gazette", url="https://gazette.example/feed"),)


def failing(hours: float, *, reported: bool = False) -> dict[str, SourceState]:
    return {
        "Gazette": SourceState(
            name="Gazette",
            failures=12,
            failing_since=NOW - timedelta(hours=hours),
            last_error="HTTP 503 Service Unavailable",
            stale_reported=reported,
        )
    }


def test_a_source_failing_less_than_stale_after_is_not_reported() -> None:
    assert decide_stale(SOURCES, failing(5.99), NOW, SIX_HOURS, TZ) == []


def test_a_source_failing_for_stale_after_is_reported_with_its_error() -> None:
    [notice] = decide_stale(SOURCES, failing(6), NOW, SIX_HOURS, TZ)
    assert notice.kind == "stale" and notice.source == "Gazette"
    assert notice.title == "watcher: source failing: Gazette"
    assert "for 6 h, since 2026-11-25 04:00 +07 (12 failed polls)" in notice.body
    assert "HTTP 503 Service Unavailable" in notice.body


def test_an_already_reported_source_is_not_reported_again() -> None:
    assert decide_stale(SOURCES, failing(30, reported=True), NOW, SIX_HOURS, TZ) == []


def test_recovery_is_reported_only_after_a_stale_report() -> None:
    recovered = SourceState(name="Gazette", last_success=NOW, stale_reported=True)
    [notice] = decide_stale(SOURCES, {"Gazette": recovered}, NOW, SIX_HOURS, TZ)
    assert notice.kind == "recovered"
    assert "2026-11-25 10:00 +07" in notice.body
    quiet = SourceState(name="Gazette", last_success=NOW)
    assert decide_stale(SOURCES, {"Gazette": quiet}, NOW, SIX_HOURS, TZ) == []


def test_sources_not_in_the_config_or_never_polled_are_ignored() -> None:
    assert decide_stale((), failing(48), NOW, SIX_HOURS, TZ) == []
    assert decide_stale(SOURCES, {}, NOW, SIX_HOURS, TZ) == []


def test_check_stale_queues_one_admin_notice_and_remembers_it(tmp_path: Path) -> None:
    store = Store(tmp_path / "watcher.sqlite3")
    config = Config(
        path=str(tmp_path / "watcher.toml"),
        settings=Settings(state_dir=str(tmp_path), timezone="Asia/Phnom_Penh", admin_channel="ops"),
        sources=SOURCES,
        channels=(
            Channel("staff", "json://127.0.0.1:9/staff"),
            Channel("ops", "json://127.0.0.1:9/ops", watchlists=()),
        ),
    )
    try:
        store.record_failure("Gazette", SOURCES[0].url, NOW - timedelta(hours=7), "HTTP 500", None)
        assert [n.kind for n in check_stale(config, store, NOW)] == ["stale"]
        assert check_stale(config, store, NOW + timedelta(hours=1)) == []
        assert store.source_state("Gazette").stale_reported
        due = store.due_deliveries(NOW)
        assert [(d.channel, d.notice_title) for d in due] == [
            ("ops", "watcher: source failing: Gazette")
        ]
        store.record_success("Gazette", SOURCES[0].url, NOW, etag=None, last_modified=None)
        assert [n.kind for n in check_stale(config, store, NOW)] == ["recovered"]
        assert check_stale(config, store, NOW) == []
        assert {d.channel for d in store.due_deliveries(NOW)} == {"ops"}
    finally:
        store.close()


def test_without_an_admin_channel_reports_are_only_logged(tmp_path: Path) -> None:
    store = Store(tmp_path / "watcher.sqlite3")
    config = Config(
        path=str(tmp_path / "watcher.toml"),
        settings=Settings(state_dir=str(tmp_path)),
        sources=SOURCES,
        channels=(Channel("staff", "json://127.0.0.1:9/staff"),),
    )
    try:
        store.record_failure("Gazette", SOURCES[0].url, NOW - timedelta(hours=7), "HTTP 500", None)
        assert len(check_stale(config, store, NOW)) == 1
        assert store.due_deliveries(NOW) == []  # never to a staff channel
        assert check_stale(config, store, NOW) == []  # and logged once
    finally:
        store.close()


def test_admin_notices_are_redacted_whoever_queues_them(tmp_path: Path) -> None:
    # Issue 14: three places queued admin notices and only the daemon redacted. A source
    # error can quote a channel's secret (here a token in a URL); the stale report, the
    # delivery reports and the daemon's notices all go through delivery.tell_admin.
    from watcher.delivery.send import tell_admin

    token = "tok3n-abcdefgh12345678"
    store = Store(tmp_path / "watcher.sqlite3")
    config = Config(
        path=str(tmp_path / "watcher.toml"),
        settings=Settings(state_dir=str(tmp_path), timezone="Asia/Phnom_Penh", admin_channel="ops"),
        sources=SOURCES,
        channels=(
            Channel(
                "ops",
                f"json://127.0.0.1:9/ops?token={token}",
                url_template="json://127.0.0.1:9/ops?token=${OPS_TOKEN}",
                watchlists=(),
            ),
        ),
    )
    try:
        error = f"HTTP 500 from https://hook.example/?token={token}"
        store.record_failure("Gazette", SOURCES[0].url, NOW - timedelta(hours=7), error, None)
        [notice] = check_stale(config, store, NOW)
        assert token in notice.body  # the decision is pure; the shell redacts
        assert tell_admin(config, store, NOW, f"t {token}", f"b {token}")
        queued = store.due_deliveries(NOW)
        assert len(queued) == 2
        for delivery in queued:
            text = f"{delivery.notice_title}\n{delivery.notice_body}"
            assert token not in text and "***" in text
        assert "watcher: source failing: Gazette" in [d.notice_title for d in queued]
        assert not tell_admin(config, store, NOW, "t", "b", exclude="ops")
    finally:
        store.close()
