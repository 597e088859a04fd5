"""Canonical links and item keys (SPEC §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.identity.keys import (
    canonical_url,
    clean_url,
    content_hash,
    fresh_key,
    item_key,
    key_items,
    names_one_article,
    resolve_known,
)
from watcher.models import Item

DATA = Path(__file__).parent / "data" / "identity"


def _groups() -> list[list[str]]:
    groups: list[list[str]] = [[]]
    for line in (DATA / "same_story_links.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            groups.append([])
        else:
            groups[-1].append(line.strip())
    return [g for g in groups if g]


@pytest.mark.parametrize("group", _groups(), ids=lambda g: g[0][:40])
def test_variants_of_one_link_share_a_canonical_form(group: list[str]) -> None:
    forms = {canonical_url(link) for link in group}
    assert len(forms) == 1, forms


def test_different_articles_stay_different() -> None:
    assert canonical_url("https://example.org/a") != canonical_url("https://example.org/b")
    assert canonical_url("https://example.org/?p=1") != canonical_url("https://example.org/?p=2")
    assert canonical_url("https://a.example.org/x") != canonical_url("https://b.example.org/x")


def test_canonical_groups_do_not_collide() -> None:
    firsts = [canonical_url(g[0]) for g in _groups()]
    assert len(set(firsts)) == len(firsts)


def test_clean_url_keeps_an_openable_link() -> None:
    link = clean_url("https://www.example.org/a/amp/?utm_source=x&id=3#top")
    assert link == "https://www.example.org/a?id=3"


def test_item_key_prefers_guid_then_link_then_hash() -> None:
    when = datetime(2026, 11, 25, tzinfo=UTC)
    with_guid = Item(source="s", guid="abc", link="https://x.org/1", title="T", published=when)
    with_link = Item(source="s", guid=None, link="https://x.org/1?utm_source=y", title="T")
    bare = Item(source="s", guid=None, link=None, title="T", published=when)
    assert item_key(with_guid) == "guid:abc"
    assert item_key(with_link) == "link:x.org/1"
    assert item_key(bare).startswith("hash:")
    assert item_key(bare) != item_key(Item(source="s", guid=None, link=None, title="T2"))


def test_content_hash_changes_with_text() -> None:
    a = Item(source="s", guid="1", link=None, title="Sub-decree issued")
    b = Item(
        source="s", guid="1", link=None, title="Sub-decree issued", summary="Now with an arrest"
    )
    assert content_hash(a) != content_hash(b)
    assert content_hash(a) == content_hash(Item(source="t", guid="2", link="x", title=a.title))


# -- item identity within one source when guids misbehave ----------------------------------


@dataclass(frozen=True)
class Stored:
    id: int


def _entry(guid: str | None, link: str | None, title: str) -> Item:
    return Item(source="s", guid=guid, link=link, title=title)


def test_a_guid_shared_by_different_links_keys_each_item_by_link() -> None:
    a = _entry("https://gazette.example/", "https://gazette.example/doc/141", "No. 141")
    b = _entry("https://gazette.example/", "https://gazette.example/doc/142", "No. 142")
    keyed = key_items([a, b])
    assert list(keyed) == ["link:gazette.example/doc/141", "link:gazette.example/doc/142"]
    # The same entry listed twice is still one item.
    assert list(key_items([a, a])) == ["guid:https://gazette.example/"]


def test_a_link_shared_by_different_titles_is_no_identity() -> None:
    a = _entry(None, "https://ministry.example/announcements", "Prakas on licences")
    b = _entry(None, "https://ministry.example/announcements#2", "Prakas on NGOs")
    keyed = key_items([a, b])
    assert len(keyed) == 2 and all(k.startswith("hash:") for k in keyed)


def test_churned_guids_are_recognised_by_link_and_title() -> None:
    item = _entry("new-guid", "https://x.example/a?utm_source=rss", "Union leader detained")
    keyed = key_items([item])
    resolved, clashes = resolve_known(
        keyed, {}, {"x.example/a": [(Stored(7), "Union leader detained")]}
    )
    assert resolved == {"guid:new-guid": Stored(7)} and clashes == []
    # Same link but another headline: not the stored item (it may be another article).
    resolved, _ = resolve_known(keyed, {}, {"x.example/a": [(Stored(7), "Something else")]})
    assert resolved == {}


def test_a_guid_that_moved_to_another_link_is_a_new_item_with_a_fresh_key() -> None:
    item = _entry("g1", "https://x.example/b", "Second article")
    keyed = key_items([item])
    resolved, clashes = resolve_known(keyed, {"guid:g1": Stored(3)}, {})
    assert resolved == {} and clashes == ["guid:g1"]
    taken = {"guid:g1", "guid:g1@x.example/b"}
    assert fresh_key("guid:g1", item, taken.__contains__) == "guid:g1@x.example/b#2"
    # A guid that stays with its link is the stored item (an edit).
    resolved, clashes = resolve_known(
        keyed, {"guid:g1": Stored(3)}, {"x.example/b": [(Stored(3), "Old headline")]}
    )
    assert resolved == {"guid:g1": Stored(3)} and clashes == []


def test_no_stored_item_is_claimed_twice() -> None:
    a = _entry("g1", "https://x.example/a", "Same")
    b = _entry("g2", "https://x.example/a", "Same")
    keyed = key_items([a, b])
    resolved, clashes = resolve_known(keyed, {}, {"x.example/a": [(Stored(1), "Same")]})
    assert resolved == {"guid:g1": Stored(1)} and clashes == []


def test_names_one_article() -> None:
    assert names_one_article("x.example/a", "T", [])
    assert names_one_article("x.example/a", "T", ["T"])
    assert not names_one_article("x.example/a", "T", ["Other"])
    assert not names_one_article("gazette.example", "T", [])


def test_untitled_entries_without_guid_or_link_are_not_one_item() -> None:
    # Review: a feed of bare <description> entries (no title, guid or link) keyed every
    # entry of a date, or every undated entry, under one hash: all but the first were
    # dropped, and their alerts missed.
    when = datetime(2026, 11, 25, tzinfo=UTC)
    first = Item(source="s", guid=None, link=None, title="", summary="Sub-decree on NGOs")
    second = Item(source="s", guid=None, link=None, title="", summary="Sub-decree on media")
    dated = [Item(source="s", guid=None, link=None, title="", summary=s, published=when)
             for s in ("Prakas on licences", "Prakas on unions")]  # fmt: skip
    assert len(key_items([first, second])) == 2
    assert len(key_items(dated)) == 2
    assert item_key(first) == item_key(first)  # still stable from poll to poll


def test_the_plain_path_shortcut_changes_nothing_percent_normalising_would_keep() -> None:
    from watcher.identity import keys

    plain = ["/", "/a/b", "/news/2026/11/nig-sub-decree-adopted", "/p;q=1", "/~u/x.html", "/a'b"]
    for path in plain:
        assert keys._PLAIN_PATH.fullmatch(path)
        assert keys._normalise_percent(path, safe=keys._PATH_SAFE) == path
    for path in ["/a%20b", "/ក", "/a b", "/a|b", "/[x]", '/a"b']:
        assert not keys._PLAIN_PATH.fullmatch(path)  # these take the slow path
    assert keys.canonical_url("http://x.org/%e1%9e%80") == keys.canonical_url("http://x.org/ក")
