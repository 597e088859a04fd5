"""Snippets: about 200 characters of the original text around a hit, for alerts."""

from __future__ import annotations

from typing import Final

from watcher.text.khmer import cluster_start_at_or_before
from watcher.text.normalise import Aligned

SNIPPET_CHARS: Final = 200


def snippet_at(original: str, o_start: int, o_end: int, width: int = SNIPPET_CHARS) -> str:
    """About `width` characters of `original` around [o_start, o_end), cut between
    words (or Khmer clusters), whitespace collapsed, `…` where it was cut."""
    room = max(width - (o_end - o_start), 0)
    lo = max(0, o_start - room // 3)
    hi = min(len(original), o_end + room - (o_start - lo))
    if lo > 0:
        space = original.rfind(" ", lo - 20, o_start)
        lo = (
            space + 1
            if space >= lo - 20 and space >= 0
            else cluster_start_at_or_before(original, lo)
        )
    if hi < len(original):
        space = original.find(" ", hi, hi + 20)
        hi = space if space >= 0 else cluster_start_at_or_before(original, hi)
    body = " ".join(original[lo:hi].split())
    return ("…" if lo > 0 else "") + body + ("…" if hi < len(original) else "")


def snippet(aligned: Aligned, start: int, end: int, width: int = SNIPPET_CHARS) -> str:
    """About `width` characters of the ORIGINAL text around a hit in the normalised
    text, cut between words (or Khmer clusters)."""
    o_start = aligned.to_original(start)
    o_end = max(aligned.to_original(max(end - 1, start)) + 1, o_start)
    return snippet_at(aligned.original, o_start, o_end, width)
