"""Where text may be cut (watcher.text.cut) follows the one Khmer cluster rule that
matching uses (watcher.text.khmer), so a message is never split where a hit could not
end, nor the other way round."""

from __future__ import annotations

from watcher.text.cut import ELLIPSIS, break_positions, shorten
from watcher.text.khmer import continues_cluster, ends_cluster, starts_cluster

KHMER = "ក្រសួងព័ត៌មានចាប់ខ្លួនអ្នកការពារសិទ្ធិមនុស្ស"


def test_cuts_in_khmer_are_exactly_the_cluster_starts_matching_uses() -> None:
    inside = [i for i in range(1, len(KHMER)) if starts_cluster(KHMER, i)]
    assert break_positions(KHMER) == inside
    # never before a subscript (after a coeng) nor before a vowel sign
    for i in inside:
        assert KHMER[i - 1] != "\u17d2"
        assert not ("\u17b6" <= KHMER[i] <= "\u17d3")
    assert all(ends_cluster(KHMER, i) == starts_cluster(KHMER, i) for i in range(len(KHMER)))


def test_joiners_and_combining_marks_bind_in_message_text() -> None:
    family = "👩\u200d👩\u200d👧"  # one picture: ZWJ binds its neighbours
    text = f"a {family} b"
    for i in range(text.index(family) + 1, text.index(family) + len(family)):
        assert continues_cluster(text, i)
    assert continues_cluster("e\u0301", 1)  # a combining accent stays on its letter
    assert not continues_cluster("ab", 1)


def test_shorten_cuts_khmer_between_clusters_only() -> None:
    short = shorten(KHMER, lambda s: len(s) <= 12)
    assert short.endswith(ELLIPSIS)
    kept = short[: -len(ELLIPSIS)]
    assert KHMER.startswith(kept)
    assert starts_cluster(KHMER, len(kept))
