"""Where a text may be cut, and a feed's text on one clean line (SPEC §7).

Text is shortened or split only next to a space or between Khmer clusters (Khmer is
written without spaces between words), never inside a Latin word or a cluster; the one
cluster rule is watcher.text.khmer.continues_cluster.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from watcher.text.khmer import continues_cluster, is_khmer

ELLIPSIS = "…"
_ZWSP = "\u200b"  # Khmer writes no spaces between words; ZWSP marks word breaks

# Bidi embeddings/overrides/isolates let a feed title reorder what staff read
# ("Trojan Source"); other C0/C1 controls have no business in a message.
_STRIP_CHARS = dict.fromkeys(
    [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
_SPACE_RUN = re.compile(r"\s+")
# Map whitespace controls to a space before the controls are dropped, so "a\nb"
# becomes "a b", not "ab".
_WHITESPACE_TO_SPACE = {ord(c): " " for c in "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85"}


def _is_space(ch: str) -> bool:
    return ch.isspace() or ch == _ZWSP


def cluster_boundaries(text: str) -> list[int]:
    """Every index inside `text` that does not fall inside a cluster (a last resort for
    a "word" too long for any message: a URL-less run of Latin letters)."""
    return [i for i in range(1, len(text)) if not continues_cluster(text, i)]


def break_positions(text: str) -> list[int]:
    """Indices where `text` may be cut: next to a space, or between Khmer clusters.

    Latin-script words are never cut; Khmer text (which has no spaces between words)
    may be cut between any two clusters.
    """
    cuts = []
    for i in range(1, len(text)):
        a, b = text[i - 1], text[i]
        at_space = (_is_space(a) or _is_space(b)) and not (_is_space(a) and _is_space(b))
        in_khmer = (is_khmer(a) or is_khmer(b)) and not continues_cluster(text, i)
        if at_space or in_khmer:
            cuts.append(i)
    return cuts


def last_fitting(candidates: Sequence[int], fits: Callable[[int], bool]) -> int | None:
    """The largest candidate for which `fits` holds, assuming `fits` is monotone."""
    lo, hi, best = 0, len(candidates) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(candidates[mid]):
            best, lo = candidates[mid], mid + 1
        else:
            hi = mid - 1
    return best


def shorten(text: str, fits: Callable[[str], bool]) -> str:
    """`text`, or its longest start cut at a word or cluster boundary plus "…", that fits.

    Returns "…" alone when no start fits, and "" when not even that does.
    """
    if fits(text):
        return text
    cut = last_fitting(break_positions(text), lambda i: fits(text[:i].rstrip() + ELLIPSIS))
    if cut is not None:
        return text[:cut].rstrip() + ELLIPSIS
    return ELLIPSIS if fits(ELLIPSIS) else ""


def one_line(text: str) -> str:
    """Feed text on one line: controls and bidi overrides dropped, spaces collapsed."""
    return _SPACE_RUN.sub(" ", text.translate(_STRIP_CHARS | _WHITESPACE_TO_SPACE)).strip()
