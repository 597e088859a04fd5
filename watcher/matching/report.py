"""What `watcher explain` shows: a report per watchlist, and how it words a hit."""

from __future__ import annotations

import re
from dataclasses import dataclass

from watcher.matching.hits import Hit
from watcher.matching.names import HONORIFIC_WORDS, khmer_honorific_before
from watcher.matching.termsets import expand_terms
from watcher.matching.text import ItemText
from watcher.models import Match, Watchlist
from watcher.text.khmer import is_khmer


@dataclass(frozen=True)
class WatchlistReport:
    """What `explain` says about one watchlist."""

    name: str
    applies: bool
    verdict: str  # "match" | "possible" | "no match" | "not for this source"
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Explanation:
    """Why each watchlist did or did not match one item (`watcher explain`)."""

    normalised: str
    source: str
    reports: tuple[WatchlistReport, ...]
    matches: tuple[Match, ...]

    def render(self) -> str:
        """Human-readable explanation: normalised text (shortened), then per watchlist."""
        text = self.normalised
        if len(text) > 600:
            text = text[:400] + " … " + text[-150:]
        out = [f"source: {self.source}", f"normalised text ({len(self.normalised)} chars):"]
        out.append("  " + text)
        for report in self.reports:
            out.append("")
            out.append(f"[{report.verdict}] {report.name}")
            out.extend("  " + line for line in report.lines)
        return "\n".join(out)


def terms_of(wl: Watchlist) -> set[str]:
    """Every term of a watchlist as configured, term sets expanded."""
    terms = set(expand_terms(wl.any)) | set(expand_terms(wl.none)) | set(expand_terms(wl.near))
    for alternatives in wl.all:
        terms |= set(expand_terms(alternatives))
    return terms


def first_each(hits: list[Hit]) -> list[Hit]:
    """The first hit of each term or person, in text order."""
    seen: dict[str, Hit] = {}
    for h in sorted(hits, key=lambda h: h.start):
        seen.setdefault(h.role.label, h)
    return list(seen.values())


def describe(item: ItemText, hit: Hit) -> str:
    """A hit as explain shows it: the term, as found, in which form, at which word."""
    found = item.text[hit.start : hit.end]
    form = f" ({hit.form})" if hit.form else ""
    return f"{hit.role.label!r} as '{found}'{form} at {quote(item, hit.start)}"


def name_detail(item: ItemText, hit: Hit) -> str:
    """For explain: an honorific or a middle initial the name was written with."""
    if is_khmer(item.text[hit.start]):
        honorific = khmer_honorific_before(item.text, hit.start)
        return f", after the honorific '{honorific}'" if honorific else ""
    o_start, o_end = item.original_span(hit.start, hit.end)
    written = item.original[o_start:o_end]
    initial = re.search(r"\s([A-Z])\.?\s", written)
    detail = f", with the middle initial '{initial.group(1)}.'" if initial else ""
    before = item.original[max(0, o_start - 12) : o_start].split()
    if before and before[-1].rstrip(".").lower() in HONORIFIC_WORDS:
        detail += f", after the honorific '{before[-1]}'"
    return detail


def quote(item: ItemText, start: int) -> str:
    """Where normalised offset `start` is, as explain says it: "word N"."""
    return f"word {item.word_number(start)}"
