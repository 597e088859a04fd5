"""Stories, not items: one alert per story across outlets, edits and republications (SPEC §6).

The fixtures in tests/data/stories/ are feeds served by a loopback FeedServer and polled by
`watcher once` (watcher.cli.main) into a Signal stand-in, plus pure tests of the
near-duplicate decision in watcher.identity.stories measured over every pair of fixture items.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.cli import main
from watcher.demo.sample import render_dates
from watcher.identity import stories
from watcher.models import FetchResult, Item, Source
from watcher.sources import parse_items
from watcher.store.sqlite import Store

from standins import FeedServer, SignalStandIn

DATA = Path(__file__).parent / "data" / "stories"
NOW = datetime.now(UTC)

# -- the near-duplicate decision, measured on the fixtures --------------------------------


def _fixture_items(name: str) -> list[Item]:
    body = render_dates((DATA / name).read_text(encoding="utf-8"), NOW).encode("utf-8")
    source = Source(name=name, url=f"http://127.0.0.1/{name}")
    result = FetchResult(url=source.url, status=200, body=body, content_type="application/xml")
    return parse_items(source, result)


def _labelled() -> list[tuple[str, Item, str]]:
    """(feed, item, story label) for every item of the measured feeds."""
    expected = tomllib.loads((DATA / "expected.toml").read_text(encoding="utf-8"))
    label = {name: story["name"] for story in expected["story"] for name in story["items"]}
    out = []
    for feed in expected["feeds"]:
        for item in _fixture_items(feed):
            name = f"{feed}|{item.link}"
            out.append((feed, item, label.get(name, name)))
    return out


def _judged_same(a: tuple[str, Item], b: tuple[str, Item]) -> bool:
    fa, fb = stories.fingerprint(a[1]), stories.fingerprint(b[1])
    if fa is None or fb is None:
        return False
    when_b = b[1].when or NOW
    candidate = stories.Candidate(1, b[0], when_b, fb.signature, fb.numbers)
    return stories.same_story(fa, a[0], a[1].when or NOW, candidate) is not None


def merge_errors() -> tuple[list[str], list[str], int, int]:
    """False merges, missed merges, and the number of different / same pairs measured."""
    false_merges, missed, different, same = [], [], 0, 0
    for (fa, a, la), (fb, b, lb) in itertools.combinations(_labelled(), 2):
        judged = _judged_same((fa, a), (fb, b))
        if la == lb:
            same += 1
            if not judged:
                missed.append(f"{a.title!r} / {b.title!r}")
        else:
            different += 1
            if judged:
                false_merges.append(f"{a.title!r} / {b.title!r}")
    return false_merges, missed, different, same


def test_no_false_or_missed_merge_over_every_pair_of_fixture_items() -> None:
    false_merges, missed, different, same = merge_errors()
    assert same == 3 and different > 100  # the fixtures are all there
    assert false_merges == []
    assert missed == []


def test_light_edits_keep_resemblance_high_and_topic_siblings_low() -> None:
    civic = {i.guid: i for i in _fixture_items("civic.xml")}
    mekong = {i.guid: i for i in _fixture_items("mekong.xml")}
    original = stories.fingerprint(civic["https://civic.example/?p=20411"])
    copy = stories.fingerprint(mekong["mw-88341"])
    sibling = stories.fingerprint(mekong["mw-88352"])  # another article on the same sub-decree
    assert original and copy and sibling
    assert stories.resemblance(original.signature, copy.signature) >= 0.65
    assert stories.resemblance(original.signature, sibling.signature) < 0.25


def test_khmer_zero_width_spaces_and_subscript_variants_resemble() -> None:
    daily = _fixture_items("khmer_daily.xml")[0]
    post = _fixture_items("kampuchea_post.xml")
    a, b, other = (stories.fingerprint(i) for i in (daily, post[0], post[1]))
    assert a and b and other
    assert stories.resemblance(a.signature, b.signature) >= 0.7
    assert stories.resemblance(a.signature, other.signature) < 0.25


def _item(title: str, body: str, source: str = "s") -> Item:
    return Item(source=source, guid=None, link=None, title=title, content=body)


GAZETTE = _fixture_items("gazette.xml")


def test_template_texts_resemble_yet_stay_apart() -> None:
    a, b = (stories.fingerprint(i) for i in GAZETTE)
    assert a and b
    # The boilerplate makes the two sub-decrees look alike to MinHash…
    assert stories.resemblance(a.signature, b.signature) >= stories.THRESHOLD
    # …from the same source they are never merged,
    same_source = stories.Candidate(1, "Royal Gazette", NOW, b.signature, b.numbers)
    assert stories.same_story(a, "Royal Gazette", NOW, same_source) is None
    # and from a mirror the disjoint headline numbers (No. 141 / No. 142) keep them apart.
    mirror = stories.Candidate(1, "Gazette mirror", NOW, b.signature, b.numbers)
    assert stories.same_story(a, "Royal Gazette", NOW, mirror) is None
    # A mirror's copy of the same sub-decree is the same story.
    copy = stories.Candidate(2, "Gazette mirror", NOW, a.signature, a.numbers)
    assert stories.choose_story(a, "Royal Gazette", NOW, [mirror, copy]) == 2


def test_headline_numbers_read_khmer_digits() -> None:
    assert stories.headline_numbers("អនុក្រឹត្យលេខ ១៤១") == (141,)
    assert stories.headline_numbers("Sub-decree No. 141 of 2026") == (141, 2026)
    assert stories.headline_numbers("No numbers") == ()


def test_copies_more_than_seven_days_apart_are_different_stories() -> None:
    fp = stories.fingerprint(GAZETTE[0])
    assert fp
    near = stories.Candidate(5, "mirror", NOW - timedelta(days=6), fp.signature, fp.numbers)
    far = stories.Candidate(6, "mirror", NOW - timedelta(days=8), fp.signature, fp.numbers)
    assert stories.choose_story(fp, "Royal Gazette", NOW, [far]) is None
    assert stories.choose_story(fp, "Royal Gazette", NOW, [far, near]) == 5


def test_a_headline_alone_is_too_short_to_judge() -> None:
    assert stories.fingerprint(_item("Government adopts sub-decree on NIG", "")) is None


def test_band_keys_are_stable_and_shared_by_identical_texts() -> None:
    a = stories.fingerprint(GAZETTE[0])
    b = stories.fingerprint(GAZETTE[0])
    assert a and b and a == b
    assert len(a.bands) == stories.BANDS and len(set(a.bands)) == stories.BANDS


def test_store_finds_candidates_by_band_within_the_window(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    fp = stories.fingerprint(GAZETTE[0])
    other = stories.fingerprint(_fixture_items("churn_1.xml")[0])
    assert fp and other
    with store.atomic():
        story = store.new_story(None, "t", NOW)
        item = store.save_item(
            known=None, source="Royal Gazette", key="k", guid=None, link=None, canonical=None,
            title="t", text="x", published=NOW, content_hash="h", story_id=story, now=NOW,
        )  # fmt: skip
        store.save_fingerprint(
            item_id=item, story_id=story, source="Royal Gazette", at=NOW, fingerprint=fp
        )
    found = store.story_candidates(fp, NOW - stories.WINDOW, NOW + stories.WINDOW)
    assert [c.story_id for c in found] == [story] and found[0].numbers == fp.numbers
    assert store.story_candidates(other, NOW - stories.WINDOW, NOW + stories.WINDOW) == []
    later = NOW + timedelta(days=30)
    assert store.story_candidates(fp, later - stories.WINDOW, later + stories.WINDOW) == []


def _stored_fingerprint(store: Store, fp: stories.Fingerprint, key: str = "k") -> int:
    with store.atomic():
        story = store.new_story(None, "t", NOW)
        item = store.save_item(
            known=None, source="Royal Gazette", key=key, guid=None, link=None, canonical=None,
            title="t", text="x", published=NOW, content_hash="h", story_id=story, now=NOW,
        )  # fmt: skip
        store.save_fingerprint(
            item_id=item, story_id=story, source="Royal Gazette", at=NOW, fingerprint=fp
        )
    return item


def _band_rows(store: Store) -> set[tuple[int, int]]:
    return {
        (int(k), int(i)) for k, i in store.db.execute("SELECT band_key, item_id FROM story_bands")
    }


def test_a_replaced_fingerprint_leaves_no_band_of_the_old_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")
    old = stories.fingerprint(GAZETTE[0])
    new = stories.fingerprint(_fixture_items("churn_1.xml")[0])
    assert old and new and set(old.bands).isdisjoint(new.bands)
    item = _stored_fingerprint(store, old)
    story = store.db.execute("SELECT story_id FROM items WHERE id = ?", (item,)).fetchone()[0]
    with store.atomic():  # the item was edited: its text, so its fingerprint, changed
        store.save_fingerprint(
            item_id=item, story_id=story, source="Royal Gazette", at=NOW, fingerprint=new
        )
    assert _band_rows(store) == {(key, item) for key in new.bands}
    assert store.story_candidates(old, NOW - stories.WINDOW, NOW + stories.WINDOW) == []


def test_band_keys_made_another_way_are_rebuilt_from_the_signatures(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = Store(path)
    fp = stories.fingerprint(GAZETTE[0])
    assert fp
    item = _stored_fingerprint(store, fp)
    expected = _band_rows(store)
    assert expected == {(key, item) for key in fp.bands}
    # As a database written by an older watcher (42 bands of 3 rows) would be:
    with store.atomic():
        store.db.execute("DELETE FROM story_bands")
        store.db.execute("INSERT INTO story_bands VALUES (12345, ?)", (item,))
        store.db.execute("UPDATE store_meta SET value = 'blake2b/b42r3'")
    store.close()
    store = Store(path)
    try:
        assert _band_rows(store) == expected
        found = store.story_candidates(fp, NOW - stories.WINDOW, NOW + stories.WINDOW)
        assert len(found) == 1
    finally:
        store.close()


# -- end to end: `watcher once` against loopback feeds -------------------------------------


@dataclass
class Rig:
    config: Path
    feeds: FeedServer
    signal: SignalStandIn

    def put(self, path: str, fixture: str) -> None:
        body = render_dates((DATA / fixture).read_text(encoding="utf-8"), NOW)
        self.feeds.put(path, body.encode("utf-8"), content_type="application/rss+xml")

    def once(self) -> list[str]:
        """Run `watcher once`; the Signal messages it sent."""
        before = len(self.signal.messages)
        assert main(["-c", str(self.config), "once"]) == 0
        return [m["message"] for m in self.signal.messages[before:]]

    def store(self) -> Store:
        return Store(self.config.parent / "state" / "watcher.sqlite3")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    feeds = FeedServer()
    signal = SignalStandIn()
    template = (DATA / "watcher.toml").read_text(encoding="utf-8")
    config = tmp_path / "watcher.toml"
    config.write_text(
        template.replace("{{HOST}}", feeds.netloc).replace("{{SIGNAL}}", signal.netloc),
        encoding="utf-8",
    )
    rig = Rig(config, feeds, signal)
    for name in ("civic", "mekong", "reposts", "khmer_daily", "kampuchea_post", "gazette"):
        rig.put(f"/{name}.xml", f"{name}.xml")
    rig.put("/churn.xml", "churn_1.xml")
    try:
        yield rig
    finally:
        feeds.close()
        signal.close()


def _about(messages: list[str], text: str) -> list[str]:
    # Khmer outlets differ in zero-width spaces between words ("អនុម័ត\u200bអនុក្រឹត្យ"), and
    # which outlet's copy of a story is recorded first (so titles its alert) depends on the
    # order the polls finish in: compare without them.
    return [m for m in messages if text in m.replace("\u200b", "")]


def test_one_alert_per_story_across_outlets_links_and_languages(rig: Rig) -> None:
    messages = rig.once()
    # Civic News's story, Mekong Wire's syndicated copy (own link with utm_*, light edits)
    # and four Reposts entries (http, www, trailing slash, AMP forms): one alert,
    # naming the other outlets.
    nig = _about(messages, "adopts sub-decree on National Internet Gateway")
    assert len(nig) == 1, messages
    sources = {"Civic News", "Mekong Wire", "Reposts"}
    assert all(name in nig[0] for name in sources)
    assert "Also reported by" in nig[0]
    # A different article on the same sub-decree is a story of its own.
    assert len(_about(messages, "opens door to mass surveillance")) == 1
    # The press release carried by two outlets under different headlines: one alert.
    release = _about(messages, "Pursuant to Sub-decree No. 38")
    release += [m for m in _about(messages, "Interior") if m not in release]
    assert len(release) == 1, messages
    # The Khmer story from two Khmer outlets: one alert; Kampuchea Post's other article: one.
    assert len(_about(messages, "អនុម័តអនុក្រឹត្យ")) == 1, messages
    assert len(_about(messages, "លុបចោលអនុក្រឹត្យ")) == 1
    # Two gazette entries sharing one guid, alike but different sub-decrees: two alerts.
    assert len(_about(messages, "Sub-decree No. 141")) == 1
    assert len(_about(messages, "Sub-decree No. 142")) == 1
    assert len(_about(messages, "Union leader detained")) == 1
    assert len(messages) == 9, messages
    # Nothing is alerted twice on the next poll.
    assert rig.once() == []


def test_edits_alert_only_for_newly_matched_watchlists(rig: Rig) -> None:
    first = rig.once()
    ngo = _about(first, "registration rules for NGOs")
    assert len(ngo) == 1 and "Sub-decrees" in ngo[0].splitlines()[0]
    assert "Arrests" not in ngo[0].splitlines()[0]
    # Same guids: a headline edit on the NIG story, an arrest added to the NGO story.
    rig.put("/civic.xml", "civic_edited.xml")
    second = rig.once()
    assert len(second) == 1, second
    headline = second[0].splitlines()[0]
    assert "Arrests" in headline and "Sub-decrees" not in headline
    assert "community leader arrested" in second[0]
    assert rig.once() == []


def test_a_guid_repeated_for_different_links_keeps_both_items(rig: Rig) -> None:
    assert len(rig.once()) == 9
    store = rig.store()
    try:
        assert store.source_state("Royal Gazette").items_seen == 2
        alerted = [a for a in store.alerts_since(None) if a.alert.source == "Royal Gazette"]
        assert len(alerted) == 2
    finally:
        store.close()
    # A changed feed (new etag) with the same two entries: no new item, no alert.
    rig.feeds.put(
        "/gazette.xml",
        render_dates((DATA / "gazette.xml").read_text(encoding="utf-8"), NOW) + "\n",
        content_type="application/rss+xml",
    )
    assert rig.once() == []
    store = rig.store()
    try:
        assert store.source_state("Royal Gazette").items_seen == 2
        assert len(store.alerts_since(None)) == 9
    finally:
        store.close()


def test_guid_churn_neither_adds_items_nor_alerts_again(rig: Rig) -> None:
    assert len(_about(rig.once(), "Union leader detained")) == 1
    rig.put("/churn.xml", "churn_2.xml")  # every guid changed
    assert rig.once() == []
    store = rig.store()
    try:
        assert store.source_state("Churn Times").items_seen == 2
    finally:
        store.close()


@pytest.mark.parametrize(
    "order",
    [
        ("Civic News", "Mekong Wire", "Reposts"),
        ("Reposts", "Mekong Wire", "Civic News"),
        ("Mekong Wire", "Reposts", "Civic News"),
    ],
)
def test_one_story_whatever_order_its_sources_are_recorded_in(
    rig: Rig, order: tuple[str, str, str]
) -> None:
    """A repost sharing only the original's link and a copy sharing only its text, recorded
    before the original: the original ties them into one story, alerted once (SPEC §6)."""
    import asyncio

    from watcher.config import load_config
    from watcher.fetch.client import Fetcher
    from watcher.pipeline.poll import Pipeline

    config = load_config(rig.config)
    store = rig.store()

    async def poll_in_order() -> None:
        fetcher = Fetcher(user_agent="watcher-test")
        try:
            pipeline = Pipeline(config, store, fetcher)
            for name in order:
                source = config.source(name)
                assert source is not None
                await pipeline.poll(source)
        finally:
            await fetcher.aclose()

    try:
        asyncio.run(poll_in_order())
        nig = [
            (s.story_id, s.alert.source)
            for s in store.alerts_since(None)
            if "adopts sub-decree on National Internet Gateway" in s.alert.title
        ]
    finally:
        store.close()
    # Whatever the order, the copies end as one story, alerted once: the original,
    # arriving last, ties the repost's story and the copy's into one, and the later of
    # their two alerts, not yet sent, is dropped as a duplicate of the earlier.
    assert len(nig) == 1, nig
    if order[0] == "Civic News":
        assert [source for _, source in nig] == ["Civic News"]
    else:
        assert [source for _, source in nig] == [order[0]]


# -- only candidates are fingerprinted (issue 17; docs/stories.md) --------------------------

_FOREST_LEAD = (
    "The Council of Ministers on Friday approved new rules for community forests in "
    "Preah Vihear, Kratie and Stung Treng, giving provincial authorities the power to "
    "cancel a community's management plan and to grant its land to private companies. "
    "Community networks said the rules were drafted without consulting the villages "
    "that have protected the forests for two decades."
)
_FOREST_TAIL = "Police detained a community forest patrol leader in Kratie on Saturday."


def _forest_feed(outlet: str, link: str, tail: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{outlet}</title><link>https://{outlet}.example/</link><description>d</description>"
        "<item><title>Council approves new rules for community forests</title>"
        f'<link>{link}</link><guid isPermaLink="false">{outlet}-1</guid>'
        "<pubDate>{{DATE-1h}}</pubDate>"
        f"<description><![CDATA[<p>{_FOREST_LEAD}</p><p>{tail}</p>]]></description>"
        "</item></channel></rss>"
    )


def _add_forest_outlets(rig: Rig) -> None:
    config = rig.config.read_text(encoding="utf-8")
    for name, path in (("Forest Wire", "/forest_wire.xml"), ("Forest Daily", "/forest_daily.xml")):
        config = config.replace(
            "[[watchlists]]",
            f'[[sources]]\nname = "{name}"\nurl = "http://{rig.feeds.netloc}{path}"\n\n'
            "[[watchlists]]",
            1,
        )
    rig.config.write_text(config, encoding="utf-8")


def _put_forest(rig: Rig, path: str, outlet: str, tail: str) -> None:
    body = render_dates(_forest_feed(outlet, f"https://{outlet}.example/forest-rules", tail), NOW)
    rig.feeds.put(path, body.encode("utf-8"), content_type="application/rss+xml")


def test_an_edited_item_that_newly_matches_is_one_story_with_its_alerted_copy(rig: Rig) -> None:
    """Forest Wire's article matches nothing, so it gets no fingerprint; Forest Daily's
    copy of it (same headline and lead, under its own link) adds an arrest and alerts.
    When Forest Wire adds the same sentence, its item is fingerprinted for the first
    time, found to be the copy's story, and is not alerted a second time (SPEC §6)."""
    _add_forest_outlets(rig)
    _put_forest(rig, "/forest_wire.xml", "forestwire", "Read more on our website.")
    _put_forest(rig, "/forest_daily.xml", "forestdaily", _FOREST_TAIL)
    first = _about(rig.once(), "new rules for community forests")
    assert len(first) == 1 and "Forest Daily" in first[0] and "Arrests" in first[0]
    store = rig.store()
    try:
        rows = store.db.execute(
            "SELECT i.source, i.story_id, f.item_id IS NOT NULL FROM items i "
            "LEFT JOIN item_fingerprints f ON f.item_id = i.id WHERE i.source LIKE 'Forest%'"
        ).fetchall()
        fingerprinted = {r[0]: bool(r[2]) for r in rows}
        # Only the item that matched was fingerprinted; the other has a story of its own.
        assert fingerprinted == {"Forest Daily": True, "Forest Wire": False}
        assert len({r[1] for r in rows}) == 2
    finally:
        store.close()
    # The same guid, edited: now it names the arrest too, so it newly matches Arrests.
    _put_forest(rig, "/forest_wire.xml", "forestwire", _FOREST_TAIL)
    assert rig.once() == []
    store = rig.store()
    try:
        stories_of = store.db.execute(
            "SELECT DISTINCT story_id FROM items WHERE source LIKE 'Forest%'"
        ).fetchall()
        assert len(stories_of) == 1  # one story with its copy, fingerprinted now
        assert (
            store.db.execute(
                "SELECT COUNT(*) FROM item_fingerprints f JOIN items i ON i.id = f.item_id "
                "WHERE i.source = 'Forest Wire'"
            ).fetchone()[0]
            == 1
        )
    finally:
        store.close()
    assert rig.once() == []


def test_only_items_that_match_are_fingerprinted() -> None:
    from watcher.matching import Matcher
    from watcher.models import Severity, Watchlist
    from watcher.pipeline.analysis import Job, analyse

    matcher = Matcher((Watchlist(name="Arrests", severity=Severity.URGENT, any=("detain*",)),))
    title = "Council approves new rules for community forests"
    plain = Item("Forest Wire", "a", None, title, summary=_FOREST_LEAD)
    matching = Item("Forest Wire", "a", None, title, summary=f"{_FOREST_LEAD} {_FOREST_TAIL}")
    quiet, loud = analyse(matcher, "Forest Wire", [Job(plain), Job(matching)])
    assert quiet.matches == () and quiet.fingerprint is None
    assert loud.matches and loud.fingerprint is not None
    assert stories.fingerprint(plain) is not None  # long enough: skipped, not too short
