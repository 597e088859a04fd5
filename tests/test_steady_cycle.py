"""The steady cycle's bookkeeping (`Pipeline.poll_all` on sources that answer 304): every
source's state read in one query, nothing written that did not change, and the same
state recorded as before, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from test_store_backends import Opener, opener  # noqa: F401  (the fixture, both stores)

from watcher.config import load_config
from watcher.fetch.client import Fetcher
from watcher.models import Config
from watcher.pipeline.poll import Pipeline, PollReport
from watcher.store.sqlite import Store

from standins import FeedServer

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    b"<link>http://example.org/</link><description>d</description></channel></rss>"
)


def _config(folder: Path, urls: list[str]) -> Config:
    lines = ["[settings]", 'state_dir = "state"', 'timezone = "UTC"', ""]
    for index, url in enumerate(urls):
        lines += ["[[sources]]", f'name = "feed {index}"', f'url = "{url}"', ""]
    lines += ["[[watchlists]]", 'name = "Decrees"', 'any = ["sub-decree"]', ""]
    path = folder / "watcher.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return load_config(path, {})


def _poll_all(config: Config, store: Store) -> list[PollReport]:
    async def go() -> list[PollReport]:
        fetcher = Fetcher(user_agent="watcher-test")
        try:
            return await Pipeline(config, store, fetcher).poll_all()
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def test_all_source_states_reads_what_source_state_reads(opener: Opener) -> None:  # noqa: F811
    store = opener()
    store.record_success("a", "http://a/", NOW, etag='"1"', last_modified=None, new_items=3)
    store.record_failure("b", "http://b/", NOW, "HTTP 503", NOW + timedelta(hours=1))
    store.record_success("c", "http://c/", NOW, etag=None, last_modified="x", moved_to="http://d/")
    states = store.all_source_states()
    assert list(states) == ["a", "b", "c"]
    assert states == {name: store.source_state(name) for name in "abc"}
    assert states["b"].retry_after == NOW + timedelta(hours=1)
    assert states["c"].moved_to == "http://d/"


def test_a_steady_cycle_records_the_same_state_in_fewer_statements(
    tmp_path: Path,
    opener: Opener,  # noqa: F811
) -> None:
    feeds = FeedServer()
    try:
        for index in range(3):
            feeds.put(f"/{index}.xml", FEED, content_type="application/rss+xml")
        config = _config(tmp_path, [f"{feeds.url}/{index}.xml" for index in range(3)])
        store = opener()
        assert [r.status for r in _poll_all(config, store)] == ["ok"] * 3
        before = store.all_source_states()

        statements: list[str] = []
        if isinstance(store.db, sqlite3.Connection):
            store.db.set_trace_callback(statements.append)
        reports = _poll_all(config, store)
        assert [r.status for r in reports] == ["not-modified"] * 3
        after = store.all_source_states()
        for name, old in before.items():
            new = after[name]
            assert new.polls == old.polls + 1
            assert new.etag == old.etag and new.etag
            assert new.last_success is not None and old.last_success is not None
            assert new.last_success >= old.last_success
            assert new.moved_to is None and new.failures == 0
        if statements:  # SQLite: what the 304s cost
            per_source = [s for s in statements if "WHERE name = ?" in s and "SELECT" in s]
            assert per_source == []  # read once for all, not once each
            assert not [s for s in statements if "SET moved_to = ?" in s]
    finally:
        feeds.close()


def test_a_redirect_seen_on_a_304_is_recorded_and_cleared_when_it_ends(
    tmp_path: Path,
    opener: Opener,  # noqa: F811
) -> None:
    feeds = FeedServer()
    try:
        feeds.put("/old.xml", FEED, content_type="application/rss+xml")
        feeds.put("/new.xml", FEED, content_type="application/rss+xml")
        config = _config(tmp_path, [f"{feeds.url}/old.xml"])
        store = opener()
        assert [r.status for r in _poll_all(config, store)] == ["ok"]
        assert store.source_state("feed 0").moved_to is None

        feeds.redirect("/old.xml", "/new.xml", 301)
        assert [r.status for r in _poll_all(config, store)] == ["not-modified"]
        assert store.source_state("feed 0").moved_to == f"{feeds.url}/new.xml"
        assert [r.status for r in _poll_all(config, store)] == ["not-modified"]
        assert store.source_state("feed 0").moved_to == f"{feeds.url}/new.xml"

        feeds.recover("/old.xml")
        assert [r.status for r in _poll_all(config, store)] == ["not-modified"]
        assert store.source_state("feed 0").moved_to is None
        assert store.source_state("feed 0").polls == 4
    finally:
        feeds.close()
