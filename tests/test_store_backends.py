"""The same store tests against both stores: SQLite and a real PostgreSQL (SPEC §11).

The PostgreSQL server is started by the test suite itself (tests/pgserver.py); where this
machine has no server binaries the PostgreSQL half skips, saying why. Then SPEC §11's own
guarantees: leases with fencing tokens on sources and deliveries, story identity across
instances, evidence in the database, `status` naming instances, `migrate --to`.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import test_end_to_end
import test_stories

from watcher.cli import main
from watcher.identity import stories
from watcher.models import Alert, Match, Severity
from watcher.store.evidence import Batch, Evidence
from watcher.store.records import LeaseLost
from watcher.store.sqlite import Store

from standins import FeedServer, SignalStandIn

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
DATA = Path(__file__).parent / "data"
PASSWORD_VAR = "WATCHER_TEST_PGPASSWORD"

Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a store on one state: each call is another connection (another process or
    instance, as far as the database can tell)."""
    opened: list[Store] = []
    if request.param == "sqlite":

        def open_one() -> Store:
            store = Store(tmp_path / "w.sqlite3")
            opened.append(store)
            return store

    else:
        url = request.getfixturevalue("pg_url")
        from watcher.store.postgres import PostgresStore

        def open_one() -> Store:
            store = PostgresStore(url, tmp_path)
            opened.append(store)
            return store

    yield open_one
    for store in opened:
        store.close()


def _alert(title: str = "Sub-decree on NIG", watchlist: str = "Sub-decrees") -> Alert:
    match = Match(watchlist, Severity.HIGH, terms=("sub-decree",), snippet="…sub-decree…")
    return Alert(title=title, link="https://x.org/a", source="News", matches=(match,))


def _record(store: Store, key: str = "guid:1", canonical: str = "x.org/a") -> tuple[int, int]:
    """One item with its story, alert and one outbox row; (story id, alert id)."""
    with store.atomic():
        story = store.new_story(canonical, "Sub-decree on NIG", NOW)
        item = store.save_item(
            known=None, source="News", key=key, guid="1", link="https://x.org/a",
            canonical=canonical, title="Sub-decree on NIG", text="…", published=NOW,
            content_hash="h", story_id=story, now=NOW,
        )  # fmt: skip
        alert_id = store.add_alert(story_id=story, item_id=item, alert=_alert(), now=NOW)
        store.enqueue(channel="signal", now=NOW, due=NOW, alert_id=alert_id, watchlists=["A"])
    return story, alert_id


# -- the same tests on both stores ---------------------------------------------------------


def test_both_stores_hold_to_the_interface(opener: Opener) -> None:
    from watcher.store.base import StateStore

    assert isinstance(opener(), StateStore)


def test_atomic_commits_together_or_not_at_all(opener: Opener) -> None:
    store = opener()
    with pytest.raises(ZeroDivisionError), store.atomic():
        store.new_story("x.org/a", "t", NOW)
        _ = 1 / 0
    assert store.story_by_canonical("x.org/a") is None
    with store.atomic(rollback=True):
        store.new_story("x.org/a", "t", NOW)
        assert store.story_by_canonical("x.org/a") is not None
    assert store.story_by_canonical("x.org/a") is None


def test_outbox_lifecycle_and_crash_recovery(opener: Opener) -> None:
    store = opener()
    _story, alert_id = _record(store)
    due = store.due_deliveries(NOW)
    assert [d.alert_id for d in due] == [alert_id]
    assert store.mark_sending([due[0].id])
    store.close()  # a crash here: the row stays `sending`
    store = opener()
    assert store.due_deliveries(NOW) == []
    # SQLite: recovered at the next start. PostgreSQL: once its lease lapsed (SPEC §11).
    later = datetime.now(UTC) + timedelta(minutes=2)
    recovered = store.recover()
    assert recovered + store.expire_leases(later) == 1
    if type(store) is Store:  # one SQLite state has no leases: the start recovers it
        assert recovered == 1
    again = store.due_deliveries(NOW)
    assert [d.id for d in again] == [due[0].id]
    assert store.mark_sending([again[0].id])
    store.mark_retry([again[0].id], NOW + timedelta(minutes=1), "down")
    assert store.due_deliveries(NOW) == []
    assert len(store.due_deliveries(NOW + timedelta(minutes=1))) == 1
    assert store.mark_sending([again[0].id])
    store.mark_sent([again[0].id], NOW)
    assert store.outbox_counts() == {"sent": 1}
    stored = store.get_alert(alert_id)
    assert stored is not None and stored.alert.matches[0].terms == ("sub-decree",)
    assert store.story_alerts(stored.story_id or 0) == {"Sub-decrees": False}


def test_an_alert_is_enqueued_once_per_channel(opener: Opener) -> None:
    store = opener()
    _story, alert_id = _record(store)
    assert store.enqueue(channel="signal", now=NOW, due=NOW, alert_id=alert_id) == 0
    assert store.enqueue(channel="mail", now=NOW, due=NOW, alert_id=alert_id) > 0
    assert store.outbox_counts() == {"pending": 2}


def test_a_delivery_is_claimed_by_one_sender_only(opener: Opener) -> None:
    one, other = opener(), opener()
    _record(one)
    ids = [d.id for d in one.due_deliveries(NOW)]
    assert [d.id for d in other.due_deliveries(NOW)] == ids
    assert one.mark_sending(ids) is True
    assert other.mark_sending(ids) is False
    assert other.outbox_counts() == {"sending": 1}


def test_merged_stories_share_their_alerts_and_drop_unsent_duplicates(opener: Opener) -> None:
    store = opener()
    first, first_alert = _record(store, "guid:1", "x.org/a")
    second, _second_alert = _record(store, "guid:2", "y.org/b")
    with store.atomic():
        store.merge_stories(first, second)
    assert store.story_alerts(first) == {"Sub-decrees": False}
    assert store.story_alerts(second) == {}
    assert store.outbox_counts() == {"pending": 1, "merged": 1}
    assert [d.alert_id for d in store.due_deliveries(NOW)] == [first_alert]
    assert [a.id for a in store.alerts_since(None)] == [first_alert]


def test_story_candidates_and_prune(opener: Opener) -> None:
    store = opener()
    item = test_stories.GAZETTE[0]
    fp = stories.fingerprint(item)
    assert fp
    then = NOW - timedelta(days=100)
    with store.atomic():
        story = store.new_story("gazette.example/a", "t", then)
        item_id = store.save_item(
            known=None, source="G", key="guid:a", guid="a", link=None,
            canonical="gazette.example/a", title="t", text="old text", published=then,
            content_hash="h", story_id=story, now=then,
        )  # fmt: skip
        store.save_fingerprint(item_id=item_id, story_id=story, source="G", at=then, fingerprint=fp)
    found = store.story_candidates(fp, then - stories.WINDOW, then + stories.WINDOW)
    assert [(c.story_id, c.source) for c in found] == [(story, "G")]
    counts = store.prune(NOW, 90 * 86400.0)
    assert counts["texts"] == 1 and counts["fingerprints"] == 1 and counts["identities"] == 0
    assert store.story_candidates(fp, then - stories.WINDOW, then + stories.WINDOW) == []
    assert store.db.execute("SELECT COUNT(*) FROM story_bands").fetchone()[0] == 0
    assert store.db.execute("SELECT text FROM items").fetchone()[0] is None
    assert "guid:a" in store.known_items("G", ["guid:a"])  # the identity stays
    assert store.story_by_link("gazette.example/a") == story
    # Identities not seen for a long time go, with their stories (none was alerted).
    counts = store.prune(NOW + timedelta(days=400), 90 * 86400.0)
    assert counts["identities"] == 1 and counts["stories"] == 1
    assert store.known_items("G", ["guid:a"]) == {}


def test_evidence_is_recorded_with_its_hashes(opener: Opener, tmp_path: Path) -> None:
    store = opener()
    _story, alert_id = _record(store)
    batch = Batch(tmp_path)
    kept = batch.keep(
        document=b"<html>the page</html>", suffix=".html", text="the page", url="https://x.org/a",
        final_url=None, fetched_at=NOW, content_type="text/html", kind="page", source="News",
    )  # fmt: skip
    batch.close()
    with store.atomic():
        store.add_evidence(alert_id, kept)
    assert store.evidence_for(alert_id) == kept
    if hasattr(store, "evidence_file"):  # PostgreSQL: the files are in the database too
        assert store.evidence_file(kept.path) == b"<html>the page</html>"
        assert store.evidence_file(kept.text_path) == b"the page"


def test_status_sees_the_daemons_heartbeat(opener: Opener) -> None:
    store = opener()
    now = datetime.now(UTC)
    store.record_daemon_start(4242, "desk-1", now)
    store.record_heartbeat(now)
    live = store.instances(now)
    assert [(i.host, i.pid) for i in live] == [("desk-1", 4242)]


# -- PostgreSQL: leases with fencing tokens (SPEC §11) -----------------------------------


@pytest.fixture
def pg_open(pg_url: str, tmp_path: Path) -> Iterator[Callable[[], object]]:
    from watcher.store.postgres import PostgresStore

    opened: list[PostgresStore] = []

    def open_one() -> PostgresStore:
        store = PostgresStore(pg_url, tmp_path)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def test_a_source_is_polled_by_one_instance_and_a_late_completion_is_refused(
    pg_open: Callable[[], Store],
) -> None:
    a, b = pg_open(), pg_open()
    now = datetime.now(UTC)
    assert a.claim_source("News", "http://x/feed", now)
    assert not b.claim_source("News", "http://x/feed", now)  # A holds it
    # A stalls past its lease (a frozen VM): B takes the source over…
    later = now + timedelta(seconds=61)
    assert b.claim_source("News", "http://x/feed", later)
    # …and A's late completion is refused by the fencing token, not written over B's.
    with pytest.raises(LeaseLost):
        a.record_success("News", "http://x/feed", later, etag='"a"', last_modified=None)
    b.record_success("News", "http://x/feed", later, etag='"b"', last_modified=None)
    assert b.source_state("News").etag == '"b"' and b.source_state("News").polls == 1
    b.release_source("News")
    # A source another instance polled a moment ago is left to it (no double polling).
    assert not a.claim_source("News", "http://x/feed", later, fresh_within=30)
    assert a.claim_source("News", "http://x/feed", later + timedelta(seconds=31), fresh_within=30)


def test_a_lapsed_delivery_lease_is_taken_over_and_the_stale_completion_ignored(
    pg_open: Callable[[], Store],
) -> None:
    a, b = pg_open(), pg_open()
    _record(a)
    ids = [d.id for d in a.due_deliveries(NOW)]
    assert a.mark_sending(ids)
    assert not b.mark_sending(ids)
    assert b.expire_leases(datetime.now(UTC)) == 0  # A's lease is live
    b.renew_leases(datetime.now(UTC))  # renews only its own (none)
    # A dies mid-send; two minutes later its lease has lapsed and B sends the row.
    assert b.expire_leases(datetime.now(UTC) + timedelta(minutes=2)) == 1
    assert b.mark_sending(ids)
    a.mark_sent(ids, NOW)  # A was not dead after all: its completion does not count
    assert b.outbox_counts() == {"sending": 1}
    b.mark_sent(ids, NOW)
    assert b.outbox_counts() == {"sent": 1}


def test_the_store_reconnects_after_the_server_restarts(pg_server, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    from watcher.store.postgres import PostgresStore

    store = PostgresStore(pg_url)
    try:
        _record(store)
        pg_server.stop()
        with pytest.raises(Exception):  # noqa: B017 - psycopg's error, whatever its class
            store.outbox_counts()
        pg_server.start()
        assert store.outbox_counts() == {"pending": 1}  # the outbox was kept
    finally:
        store.close()


# -- the command line on PostgreSQL: SPEC §6 and §7 tests, unchanged, on the shared store --


def _with_database(config: Path, url: str) -> None:
    """Point a test config at PostgreSQL, the password as ${VAR} as SPEC §11 writes it."""
    user_host = url.removeprefix("postgresql://")
    user, _, rest = user_host.partition("@")
    templated = f"postgresql://{user}:${{{PASSWORD_VAR}}}@{rest}"
    text = config.read_text(encoding="utf-8")
    text = text.replace("[settings]\n", f'[settings]\ndatabase = "{templated}"\n', 1)
    config.write_text(text, encoding="utf-8")


@pytest.fixture
def story_rig(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv(PASSWORD_VAR, "not-a-real-password")
    feeds = FeedServer()
    signal = SignalStandIn()
    template = (DATA / "stories" / "watcher.toml").read_text(encoding="utf-8")
    config = tmp_path / "watcher.toml"
    config.write_text(
        template.replace("{{HOST}}", feeds.netloc).replace("{{SIGNAL}}", signal.netloc),
        encoding="utf-8",
    )
    _with_database(config, pg_url)
    rig = test_stories.Rig(config, feeds, signal)
    for name in ("civic", "mekong", "reposts", "khmer_daily", "kampuchea_post", "gazette"):
        rig.put(f"/{name}.xml", f"{name}.xml")
    rig.put("/churn.xml", "churn_1.xml")
    try:
        yield rig
    finally:
        feeds.close()
        signal.close()


def test_stories_on_postgresql(story_rig: test_stories.Rig) -> None:
    test_stories.test_one_alert_per_story_across_outlets_links_and_languages(story_rig)


def test_edits_on_postgresql(story_rig: test_stories.Rig) -> None:
    test_stories.test_edits_alert_only_for_newly_matched_watchlists(story_rig)


@pytest.fixture
def e2e_rig(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[test_end_to_end.Rig]:
    monkeypatch.setenv(PASSWORD_VAR, "not-a-real-password")
    with test_end_to_end.running_rig(tmp_path, monkeypatch) as rig:
        _with_database(rig.config, pg_url)
        yield rig


def test_once_on_postgresql(
    e2e_rig: test_end_to_end.Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    test_end_to_end.test_once_alerts_each_matching_story_once_per_channel(e2e_rig, capsys)


def test_outbox_on_postgresql(
    e2e_rig: test_end_to_end.Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    test_end_to_end.test_a_failed_send_stays_in_the_outbox_and_is_delivered_next_run(
        e2e_rig, capsys
    )


def test_back_catalogue_on_postgresql(e2e_rig: test_end_to_end.Rig) -> None:
    test_end_to_end.test_an_edited_back_catalogue_item_still_does_not_alert(e2e_rig)


def test_dry_run_on_postgresql_records_nothing(
    e2e_rig: test_end_to_end.Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert e2e_rig.run("once", "--dry-run") == 0
    assert "2 alert(s) would be sent" in capsys.readouterr().out
    assert e2e_rig.signal.messages == []
    assert not list((e2e_rig.config.parent / "state").glob("evidence/*"))
    assert e2e_rig.run("once") == 0
    assert len(e2e_rig.signal.messages) == 2


def test_export_status_and_evidence_on_postgresql(
    e2e_rig: test_end_to_end.Rig, capfd: pytest.CaptureFixture[str]
) -> None:
    e2e_rig.signal.set_down(True)
    assert e2e_rig.run("once") == 0
    capfd.readouterr()
    assert e2e_rig.run("export", "--format", "json") == 0
    rows = json.loads(capfd.readouterr().out)
    assert {r["source"] for r in rows} == {"Civic News", "Khmer News"}
    assert all(r["evidence_sha256"] for r in rows)
    assert e2e_rig.run("status") == 0
    out = capfd.readouterr()
    assert "Instances: none running" in out.out
    assert "staff-signal: pending 2" in out.out
    assert "not-a-real-password" not in out.out + out.err
    assert test_end_to_end.SIGNAL_TO not in out.out + out.err


# -- story identity across instances ------------------------------------------------------


def _copies_config(folder: Path, feeds: FeedServer, signal: SignalStandIn, url: str) -> Path:
    """Two outlets, each carrying a copy of one story (same article link), one channel."""
    config = folder / "watcher.toml"
    sources = "".join(
        f'[[sources]]\nname = "Outlet {n}"\nurl = "http://{feeds.netloc}/{n}.xml"\n\n'
        for n in ("one", "two")
    )
    config.write_text(
        f"""[settings]
state_dir = "state"
max_age = "7d"

{sources}[[watchlists]]
name = "Sub-decrees"
any = ["sub-decree"]

[[channels]]
name = "signal"
url = "signal://{signal.netloc}/+10000000001/+10000000002"
""",
        encoding="utf-8",
    )
    _with_database(config, url)
    when = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    for name in ("one", "two"):
        feeds.put(
            f"/{name}.xml",
            f"""<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>
<item><title>Sub-decree adopted</title>
<link>https://news.example/sd-1?utm_source={name}</link>
<guid>{name}-1</guid><pubDate>{when}</pubDate>
<description>The government adopted a sub-decree today.</description></item>
</channel></rss>""".encode(),
            content_type="application/rss+xml",
        )
    return config


def test_two_instances_recording_one_story_at_once_send_one_message(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Instance A records its copy slowly (its transaction held open for a second, as a
    loaded database would); instance B records the other copy meanwhile. B must wait for
    A and find A's story, not create a second one: one outbox row, not two (SPEC §11)."""
    from watcher.config import load_config
    from watcher.fetch.client import Fetcher
    from watcher.pipeline.poll import Pipeline
    from watcher.store.postgres import PostgresStore

    monkeypatch.setenv(PASSWORD_VAR, "not-a-real-password")
    feeds, signal = FeedServer(), SignalStandIn()
    inside = threading.Event()

    class SlowStore(PostgresStore):
        def add_alert(self, **kwargs):  # type: ignore[no-untyped-def]
            alert_id = super().add_alert(**kwargs)
            inside.set()  # B starts now, while this transaction is still open
            threading.Event().wait(1.5)
            return alert_id

    try:
        config = load_config(_copies_config(tmp_path, feeds, signal, pg_url))
        assert config.settings.database
        stores = [SlowStore(config.settings.database), PostgresStore(config.settings.database)]

        def poll(index: int) -> None:
            async def go() -> None:
                fetcher = Fetcher(user_agent="watcher-test")
                try:
                    pipeline = Pipeline(config, stores[index], fetcher)
                    await pipeline.poll(config.sources[index])
                finally:
                    await fetcher.aclose()

            asyncio.run(go())

        first = threading.Thread(target=poll, args=(0,))
        first.start()
        assert inside.wait(30)
        poll(1)
        first.join()
        states = {s.name: s for s in stores[1].all_source_states().values()}
        assert states["Outlet one"].polls == 1 and states["Outlet two"].polls == 1
        assert stores[1].outbox_counts() == {"pending": 1}
        assert len(stores[1].alerts_since(None)) == 1
        for store in stores:
            store.close()
    finally:
        feeds.close()
        signal.close()


# -- watcher migrate --to -----------------------------------------------------------------


def test_migrate_copies_a_sqlite_state_into_an_empty_postgresql_database(
    e2e_rig: test_end_to_end.Rig, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from watcher.store.postgres import PostgresStore

    # A SQLite state first: the same config without its database line.
    sqlite_config = e2e_rig.config.with_name("sqlite.toml")
    text = e2e_rig.config.read_text(encoding="utf-8")
    sqlite_config.write_text(
        "\n".join(line for line in text.splitlines() if not line.startswith("database =")),
        encoding="utf-8",
    )
    e2e_rig.signal.set_down(True)
    assert main(["-c", str(sqlite_config), "once"]) == 0
    sqlite = Store(e2e_rig.config.parent / "state" / "watcher.sqlite3")
    alerts = [a.id for a in sqlite.alerts_since(None)]
    outbox = sqlite.outbox_counts()
    evidence = [sqlite.evidence_for(a) for a in alerts]
    sqlite.close()
    assert len(alerts) == 2 and outbox.get("pending") == 2
    capsys.readouterr()
    assert main(["-c", str(sqlite_config), "migrate", "--to", pg_url]) == 0
    assert "copied" in capsys.readouterr().out
    target = PostgresStore(pg_url)
    try:
        assert [a.id for a in target.alerts_since(None)] == alerts
        assert target.outbox_counts() == outbox
        for alert_id, kept in zip(alerts, evidence, strict=True):
            assert isinstance(kept, Evidence) and target.evidence_for(alert_id) == kept
            assert target.evidence_file(kept.path) is not None
        # New rows continue after the copied ids.
        _story, new_alert = _record(target, "guid:new", "new.example/x")
        assert new_alert > max(alerts)
    finally:
        target.close()
    # The database is no longer empty: a second migration is refused.
    assert main(["-c", str(sqlite_config), "migrate", "--to", pg_url]) == 1
    # Instances on the migrated database find what was pending and send it.
    e2e_rig.signal.set_down(False)
    assert e2e_rig.run("once") == 0
    assert len(e2e_rig.signal.messages) == 2


# -- settings.database -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("postgresql://watcher:hunter22@db.example/watcher", "a password written into the config"),
        (
            "postgresql://watcher:${NO_SUCH_VAR_X}@db.example/watcher",
            "environment variable NO_SUCH_VAR_X is not set",
        ),
        ("mysql://watcher@db.example/watcher", 'must be a postgresql:// URL (scheme: "mysql://")'),
    ],
)
def test_check_reports_a_bad_database_url_on_its_line(
    tmp_path: Path, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "watcher.toml"
    config.write_text(f'[settings]\nstate_dir = "state"\ndatabase = "{value}"\n', "utf-8")
    assert main(["-c", str(config), "check"]) == 2
    err = capsys.readouterr().err
    assert f"{config}:3: settings.database: {message}" in err
    assert "hunter22" not in err


def test_an_unreachable_database_is_a_clear_error_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PASSWORD_VAR, "sekrit-password-1")
    config = tmp_path / "watcher.toml"
    config.write_text(
        '[settings]\nstate_dir = "state"\n'
        f'database = "postgresql://watcher:${{{PASSWORD_VAR}}}@127.0.0.1:1/watcher"\n',
        "utf-8",
    )
    assert main(["-c", str(config), "status"]) == 1
    assert main(["-c", str(config), "once"]) == 1
    out = capfd.readouterr()
    assert "database unavailable" in out.err
    assert "sekrit-password-1" not in out.out + out.err


def test_two_instances_deciding_one_stale_report_tell_the_admin_once(opener: Opener) -> None:
    """Both instances read the source as failing and not yet reported, then both decide
    the report: the first to record it tells the admin channel, the second does not."""
    from watcher.models import Channel, Config, Settings, Source
    from watcher.runner.health import check_stale

    config = Config(
        path="watcher.toml",
        settings=Settings(state_dir=".", stale_after=3600.0, admin_channel="ops"),
        sources=(Source("News", "http://x.example/feed"),),
        channels=(Channel(name="ops", url="json://127.0.0.1:9/ops", watchlists=()),),
    )
    a, b = opener(), opener()
    now = datetime.now(UTC)
    a.record_failure("News", "http://x.example/feed", now - timedelta(hours=2), "HTTP 500", None)
    states = b.all_source_states()  # B read the states before A reported…
    b.all_source_states = lambda: states  # type: ignore[method-assign]
    assert [n.kind for n in check_stale(config, a, now)] == ["stale"]
    assert check_stale(config, b, now) == []  # …and finds the report already made
    assert a.outbox_counts() == {"pending": 1}


def test_the_staff_pages_refuse_a_postgresql_state_rather_than_show_an_empty_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(PASSWORD_VAR, "sekrit-password-2")
    config = tmp_path / "watcher.toml"
    config.write_text(
        '[settings]\nstate_dir = "state"\n'
        f'database = "postgresql://watcher:${{{PASSWORD_VAR}}}@127.0.0.1:1/watcher"\n',
        "utf-8",
    )
    for command in (["web"], ["search", "arrest"], ["user", "add", "alice"]):
        assert main(["-c", str(config), *command]) == 1
        err = capsys.readouterr().err
        assert "not available yet" in err and "sekrit-password-2" not in err
    assert not (tmp_path / "state" / "watcher.sqlite3").exists()  # no empty state made
