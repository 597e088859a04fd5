"""The SQLite store alone: schema versions and upgrades, group commit. Transactions and the
outbox lifecycle are tested on both stores, SQLite and PostgreSQL, in test_store_backends.py."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.models import Item
from watcher.store.sqlite import MIGRATIONS, Store

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_new_database_is_at_the_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    store = Store.in_dir(tmp_path / "state")
    assert store.schema_version == len(MIGRATIONS)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_a_database_from_a_newer_watcher_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer"):
        Store(path)


def test_upgrade_marks_the_items_of_each_sources_first_poll(tmp_path: Path) -> None:
    # Review: schema 5 remembers which items a source's first poll recorded (its back
    # catalogue); a database from before learns it from the earliest first_seen.
    path = tmp_path / "w.sqlite3"
    db = sqlite3.connect(path)
    for version, script in enumerate(MIGRATIONS[:4], start=1):
        db.executescript(script)
        db.execute(f"PRAGMA user_version = {version}")
    rows = [("A", "k1", 100.0), ("A", "k2", 100.0), ("A", "k3", 200.0), ("B", "k1", 150.0)]
    db.executemany(
        "INSERT INTO items (source, key, first_seen, last_seen) VALUES (?, ?, ?, ?)",
        [(s, k, t, t) for s, k, t in rows],
    )
    db.commit()
    db.close()
    store = Store(path)
    a = store.known_items("A", ["k1", "k2", "k3"])
    assert [a[k].first_poll for k in ("k1", "k2", "k3")] == [True, True, False]
    assert store.known_items("B", ["k1"])["k1"].first_poll
    store.close()


def test_upgrade_from_schema_5_rebuilds_story_bands_from_the_signatures(tmp_path: Path) -> None:
    # Schema 7: band rows lose their date and the index by item; the band keys of a
    # database written with 42 bands of 3 rows are made again from its signatures.
    from watcher.identity import stories

    words = " ".join(f"word{n * 7919 % 1000}" for n in range(120))
    item = Item(source="A", guid="g", link=None, title="A headline", content=words)
    fp = stories.fingerprint(item)
    assert fp is not None
    path = tmp_path / "w.sqlite3"
    db = sqlite3.connect(path)
    for version, script in enumerate(MIGRATIONS[:5], start=1):
        db.executescript(script)
        db.execute(f"PRAGMA user_version = {version}")
    db.execute(
        "INSERT INTO item_fingerprints (item_id, story_id, source, at, method, size, signature) "
        "VALUES (7, 3, 'A', ?, ?, ?, ?)",
        (NOW.timestamp(), stories.METHOD, fp.size, fp.signature),
    )
    db.executemany(  # old band keys, as 42 bands of 3 rows made them
        "INSERT INTO story_bands (band_key, at, item_id) VALUES (?, ?, 7)",
        [(key, NOW.timestamp()) for key in range(42)],
    )
    db.commit()
    db.close()
    store = Store(path)
    try:
        assert store.schema_version == len(MIGRATIONS)
        rows = {tuple(r) for r in store.db.execute("SELECT band_key, item_id FROM story_bands")}
        assert rows == {(key, 7) for key in fp.bands}
        found = store.story_candidates(fp, NOW - stories.WINDOW, NOW + stories.WINDOW)
        assert [(c.story_id, c.source) for c in found] == [(3, "A")]
    finally:
        store.close()


# -- group commit (Store.grouped: `watcher once` at a desk's scale) --------------------


def test_grouped_units_commit_together_and_fail_alone(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    store = Store(path)
    other = sqlite3.connect(path)  # what another process would see
    try:
        with store.grouped(3600.0):
            with store.atomic():
                store.db.execute("INSERT INTO sources (name, url) VALUES ('a', 'u')")
            with pytest.raises(RuntimeError), store.atomic():
                store.db.execute("INSERT INTO sources (name, url) VALUES ('b', 'u')")
                raise RuntimeError("this unit fails alone")
            with store.atomic():
                store.db.execute("INSERT INTO sources (name, url) VALUES ('c', 'u')")
            # Not committed yet: another connection sees nothing of the group.
            assert other.execute("SELECT COUNT(*) FROM sources").fetchone()[0] == 0
            store.flush()
            assert other.execute("SELECT name FROM sources ORDER BY name").fetchall() == [
                ("a",),
                ("c",),
            ]
            with store.atomic():
                store.db.execute("INSERT INTO sources (name, url) VALUES ('d', 'u')")
        # The end of the group commits the rest.
        names = [r[0] for r in other.execute("SELECT name FROM sources ORDER BY name")]
        assert names == ["a", "c", "d"]
    finally:
        other.close()
        store.close()


def test_a_group_commits_when_its_time_is_up(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    store = Store(path)
    other = sqlite3.connect(path)
    try:
        with store.grouped(0.0):  # every unit is already old enough to commit
            with store.atomic():
                store.db.execute("INSERT INTO sources (name, url) VALUES ('a', 'u')")
            assert other.execute("SELECT COUNT(*) FROM sources").fetchone()[0] == 1
    finally:
        other.close()
        store.close()


def test_a_rehearsal_is_not_grouped_and_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.sqlite3")
    try:
        with store.atomic(rollback=True):
            assert store.rehearsing()
            with store.grouped(3600.0), store.atomic():
                store.db.execute("INSERT INTO sources (name, url) VALUES ('a', 'u')")
        assert not store.rehearsing()
        assert store.db.execute("SELECT COUNT(*) FROM sources").fetchone()[0] == 0
    finally:
        store.close()
