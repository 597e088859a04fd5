"""Watchlist matching (SPEC §5): is this item's text a match, a possible match, or not.

Every term and name of every watchlist is compiled into one Aho-Corasick automaton
(`ahocorasick_rs`, Rust), so one pass over an item's normalised text finds every
candidate whatever the number of watchlists and people; Python then only looks at the
few candidates found (boundaries, inflections, proximity). Names with `fuzzy = true`
get a second automaton over a phonetic "skeleton" of the text.

Inflections: every word of a Latin term matches the words that have its Snowball
English stem (PyStemmer, C, ~0.2 µs a word): "working group" matches "Working Groups",
"charged" matches "charges", "convicted" matches "conviction", "imprisoned" matches
"imprisonment". Measured against simplemma and lemminflect on the words of arrest
reporting, only Snowball joins the noun to its verb (conviction, imprisonment,
indictment), it is 2-25x faster, and it was already a dependency. No stemmer or
lemmatiser reaches "detention" from "detain": the @arrest set lists both.

The decision is pure: `Matcher.match(text, source)` is a function of its inputs.
`match` skips the fuzzy scan when no fuzzy name could change a verdict (most items:
a people watchlist with `near` and no `near` term says no match whatever names the
item holds); `explain` always scans, and the two agree (tests/test_matching_speedups.py).

The package, in the order an item goes through it: `compiler` builds the automata of
`automaton` from the watchlists; `text` holds an item's text in the forms matching
needs; `scan` finds the hits (`hits`); `decide` (with `mentions` for listed people)
makes each watchlist's decision; `snippets` quotes the original; `report` is what
`watcher explain` shows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from watcher.matching.automaton import ANY, PERSON
from watcher.matching.compiler import CompiledWatchlists
from watcher.matching.decide import decide, gather, people_can_count
from watcher.matching.hits import Evidence, Hit, Rejected
from watcher.matching.names import match_normalise, skeleton
from watcher.matching.report import Explanation, WatchlistReport, quote, terms_of
from watcher.matching.scan import scan, scan_fuzzy
from watcher.matching.snippets import SNIPPET_CHARS as SNIPPET_CHARS
from watcher.matching.snippets import snippet
from watcher.matching.snippets import snippet_at as snippet_at
from watcher.matching.text import ItemText
from watcher.models import Match, Watchlist

_NO_EVIDENCE = Evidence()  # read only: what a watchlist without hits has

__all__ = [
    "Explanation",
    "Hit",
    "Matcher",
    "WatchlistReport",
    "match_normalise",
    "skeleton",
    "snippet",
]


class Matcher:
    """All watchlists compiled once; `match` decides for one item's plain text."""

    def __init__(self, watchlists: Sequence[Watchlist], *, searching: bool = False) -> None:
        """Compile every term and name of every watchlist into shared automata.
        `searching`: also keep what `needles` needs (the archive search does)."""
        self._compiled = CompiledWatchlists(watchlists, keep_patterns=searching)
        self._searching = searching
        self.watchlists: tuple[Watchlist, ...] = self._compiled.watchlists
        # Regexes that find a hit's text in the original, shared by every item.
        self._needles: dict[tuple[str, bool], re.Pattern[str]] = {}

    def match(self, text: str, source: str) -> tuple[Match, ...]:
        """Decide every watchlist that applies to `source` for one item's plain text.

        Returns at most one Match per watchlist (certain, or `possible` per SPEC §5).
        """
        item = ItemText(text, self._needles)
        hits = scan(self._compiled, item, None, fuzzy=False)
        evidence = gather(self._compiled, hits, source)
        if self._fuzzy_can_count(evidence, source):
            # Fuzzy hits come after the others, as `scan` orders them for `explain`.
            hits.extend(scan_fuzzy(self._compiled, item))
            evidence = gather(self._compiled, hits, source)
        out: list[Match] = []
        for wi, ev in evidence.items():
            m = decide(self._compiled, wi, ev, item, None)
            if m is not None:
                out.append(m)
        return tuple(out)

    def _fuzzy_can_count(self, evidence: dict[int, Evidence], source: str) -> bool:
        """Whether a fuzzy name could change a verdict: most items have no `near`
        term, and then a people watchlist says no match whatever names they hold."""
        return any(
            self.watchlists[wi].applies_to(source)
            and people_can_count(self.watchlists[wi], evidence.get(wi, _NO_EVIDENCE))
            for wi in self._compiled.fuzzy_watchlists
        )

    def needles(self) -> tuple[str, ...] | None:
        """Strings of which a text's normal form (`match_normalise`) must hold one for
        any watchlist to match. A match needs a listed person when the watchlist has
        people, else an `any` term, else its first `all` requirement (watcher.matching.
        decide), and every hit starts as one of the automaton's strings: those strings
        of those roles. None when fuzzy names, found in a phonetic skeleton, could match
        without any (then every text is a candidate). The archive search pre-filters
        with them (watcher.store.search_index). None too for a Matcher not made `searching`."""
        if self._compiled.fuzzy_watchlists or not self._searching:
            return None
        needed = {
            (wi, PERSON if wl.people else ANY if wl.any else 0)
            for wi, wl in enumerate(self.watchlists)
        }
        main = self._compiled.main
        return tuple(
            pattern
            for pattern, groups in zip(main.compiled_patterns, main.groups, strict=True)
            if any((r.watchlist, r.slot) in needed for g in groups for r in g.roles)
        )

    def explain(self, text: str, source: str) -> Explanation:
        """Like `match`, with the normalised text and, per watchlist, the reasons."""
        item = ItemText(text, self._needles)
        rejected: list[Rejected] = []
        hits = scan(self._compiled, item, rejected)
        evidence = gather(self._compiled, hits, source)
        reports: list[WatchlistReport] = []
        matches: list[Match] = []
        for wi, wl in enumerate(self.watchlists):
            lines: list[str] = []
            if not wl.applies_to(source):
                reports.append(WatchlistReport(wl.name, False, "not for this source", ()))
                continue
            ev = evidence.get(wi, Evidence())
            m = decide(self._compiled, wi, ev, item, lines)
            for term in self._compiled.skipped.get(wi, []):
                lines.append(f"term {term!r} is empty after normalisation and never matches")
            terms = terms_of(wl)
            for rej in rejected:
                if rej.label in terms:
                    lines.append(
                        f"near miss: {rej.label!r} at {quote(item, rej.start)}: {rej.reason}"
                    )
            verdict = "no match" if m is None else ("possible" if m.possible else "match")
            if m is not None:
                matches.append(m)
                lines.append(f"snippet: {m.snippet}")
            reports.append(WatchlistReport(wl.name, True, verdict, tuple(lines)))
        return Explanation(item.text, source, tuple(reports), tuple(matches))
