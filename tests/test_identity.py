"""Canonical links and item keys (SPEC §6)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.identity import canonical_url, clean_url, content_hash, item_key
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
