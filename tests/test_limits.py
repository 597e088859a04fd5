"""What one document may cost (watcher.sources.limits, issue 17): items past max_age and
retention are dropped while parsing, outsized titles and texts are cut, and nothing that
could alert is lost on the way (SPEC §5, §6, §12)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from watcher.cli import main
from watcher.models import FetchResult, Item, Source
from watcher.sources import parse_document
from watcher.sources.limits import TEXT_MAX, TITLE_MAX, cut_at, trim

from standins import FeedServer, SignalStandIn

NOW = datetime.now(UTC).replace(microsecond=0)


def _item(title: str = "t", *, when: datetime | None = None, summary: str = "") -> Item:
    return Item("S", None, None, title, summary=summary, published=when)


def test_items_dated_before_the_limit_are_dropped_and_undated_ones_kept() -> None:
    old, recent, undated = (
        _item("old", when=NOW - timedelta(days=100)),
        _item("recent", when=NOW - timedelta(days=1)),
        _item("undated"),
    )
    trimmed = trim([old, recent, undated], NOW - timedelta(days=90))
    assert [i.title for i in trimmed.items] == ["recent", "undated"]
    assert trimmed.too_old == 1 and trimmed.cut == ()
    assert trim([old], None).items == [old]  # no limit: explain reads every item


def test_cuts_fall_between_words_and_khmer_clusters() -> None:
    assert cut_at("one two three", 9) == "one two"
    khmer = "អនុក្រឹត្យ" * 30
    cut = cut_at(khmer, 101)
    assert len(cut) <= 101 and khmer.startswith(cut)
    assert cut_at(khmer, 101) == cut_at(cut + "x", 101)[: len(cut)]
    # never inside a cluster: the next character does not continue the last one
    from watcher.text.khmer import continues_cluster

    assert not continues_cluster(khmer, len(cut))


def test_an_outsized_title_is_shortened_but_read_whole() -> None:
    title = "sub-decree " * (TITLE_MAX // 5)
    trimmed = trim([_item(title, summary="The body.")], None)
    (item,) = trimmed.items
    assert len(item.title) <= TITLE_MAX and item.title.endswith("…")
    assert item.summary.startswith(title) and item.summary.endswith("The body.")
    assert trimmed.cut == ()  # nothing of the text was lost


def test_an_outsized_text_is_cut_to_the_budget_and_reported() -> None:
    body = "arrested " * (TEXT_MAX // 4)
    trimmed = trim([_item("Activist arrested", summary=body)], None)
    (item,) = trimmed.items
    assert len(item.text) <= TEXT_MAX + 4  # title, the "\n\n" between parts, and the cut
    assert item.summary.endswith("arrested")  # between words
    assert trimmed.cut == ("Activist arrested",)


def test_a_5_mb_title_costs_a_bounded_item() -> None:
    title = ("sub-decree " * (5 * 2**20 // 11))[: 5 * 2**20]
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        f"<item><title>{title}</title><link>http://example.org/a</link></item>"
        "</channel></rss>"
    ).encode()
    source = Source(name="S", url="http://example.org/feed")
    parsed = parse_document(source, FetchResult(source.url, 200, body=body), "UTC")
    (item,) = parsed.items
    assert len(item.title) <= TITLE_MAX and len(item.text) <= TEXT_MAX + 4
    assert len(parsed.cut) == 1


# -- end to end: `watcher once` against a loopback feed -----------------------------------


def _feed(items: list[tuple[str, datetime | None]]) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>http://news.example/{n}</link>"
        + (f"<pubDate>{format_datetime(when)}</pubDate>" if when else "")
        + f"<description>{title}, reported on the day.</description></item>"
        for n, (title, when) in enumerate(items)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
        f"<link>http://news.example/</link><description>d</description>{entries}"
        "</channel></rss>"
    ).encode()


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.feeds = FeedServer()
        self.signal = SignalStandIn()
        self.config = tmp_path / "watcher.toml"
        self.config.write_text(
            f"""
[settings]
state_dir = "{tmp_path / "state"}"
max_age = "7d"
retention = "30d"

[[sources]]
name = "News"
url = "http://{self.feeds.netloc}/news.xml"

[[watchlists]]
name = "Arrests"
any = ["arrested"]

[[channels]]
name = "signal"
url = "signal://{self.signal.netloc}/+10000000000/+10000000001"
""",
            encoding="utf-8",
        )
        self.db = tmp_path / "state" / "watcher.sqlite3"

    def put(self, items: list[tuple[str, datetime | None]]) -> None:
        self.feeds.put("/news.xml", _feed(items), content_type="application/rss+xml")

    def once(self) -> list[str]:
        before = len(self.signal.messages)
        assert main(["-c", str(self.config), "once"]) == 0
        return [m["message"] for m in self.signal.messages[before:]]

    def titles(self) -> list[str]:
        with sqlite3.connect(self.db) as db:
            return sorted(r[0] for r in db.execute("SELECT title FROM items"))


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    built = Rig(tmp_path)
    try:
        yield built
    finally:
        built.feeds.close()
        built.signal.close()


def test_items_past_retention_are_not_recorded_and_those_within_it_are(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.put(
        [
            ("Activist arrested today", NOW - timedelta(hours=1)),
            ("Activist arrested last month", NOW - timedelta(days=20)),  # searchable
            ("Activist arrested last year", NOW - timedelta(days=300)),  # past retention
        ]
    )
    sent = rig.once()
    assert len(sent) == 1 and "arrested today" in sent[0]
    # Older than max_age but within retention: recorded (search, SPEC §12), not alerted.
    assert rig.titles() == ["Activist arrested last month", "Activist arrested today"]
    out = capsys.readouterr().out
    assert "News: 3 items, 3 new" in out  # the feed listed three; all seen for the first time


def test_a_first_poll_of_only_old_items_is_still_a_first_poll_done(rig: Rig) -> None:
    """All items past retention: none stored, but the source has been seen, so an undated
    item that appears later is news, not the back catalogue of a first poll."""
    rig.put([("Activist arrested last year", NOW - timedelta(days=300))])
    assert rig.once() == []
    assert rig.titles() == []
    rig.put(
        [
            ("Activist arrested last year", NOW - timedelta(days=300)),
            ("Second activist arrested", None),
        ]
    )
    sent = rig.once()
    assert len(sent) == 1 and "Second activist arrested" in sent[0]
