"""Compiling watchlists: every term and name of every watchlist into shared automata.

Terms match whole words, by prefix (`detain*`) or by Snowball stem ("working group"
matches "Working Groups"); people match by each listed name and alias, in both orders,
and with `fuzzy = true` also by a phonetic skeleton with one edit allowed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import Stemmer  # type: ignore[import-not-found,import-untyped,unused-ignore]
from rapidfuzz.distance import DamerauLevenshtein

from watcher.matching.automaton import (
    ANCHOR,
    ANY,
    FORM_NAME,
    FORM_OTHER_ORDER,
    NEAR,
    NONE,
    PERSON,
    Automaton,
    Group,
    Role,
    exact_group,
)
from watcher.matching.names import HONORIFIC_WORDS, match_normalise, skeleton, strip_khmer_honorific
from watcher.matching.termsets import expand_terms
from watcher.models import Person, Watchlist
from watcher.text.khmer import is_khmer

_FUZZY_MIN_TOKEN = 3  # a shorter name part must match exactly (SPEC §5)
_FUZZY_MIN_ANCHOR = 3  # the exact part that locates a fuzzy candidate ("am" is too common)
# An acronym as staff write it ("NIG"): matched only where the text writes it in capitals.
_ACRONYM = re.compile(r"[A-Z]{2,5}")

# One part of a fuzzy name, as an anchor's index holds it: the person's role, the
# part's skeleton and the part as the people list writes it.
NearPart = tuple[Role, str, str]


class CompiledWatchlists:
    """Every term and name of every watchlist, compiled into one main automaton and one
    over phonetic skeletons (names with `fuzzy = true`), with what each hit means."""

    def __init__(self, watchlists: Sequence[Watchlist], *, keep_patterns: bool = False) -> None:
        """Compile every term and name of every watchlist into shared automata
        (`keep_patterns`: keep the main automaton's strings, for `Matcher.needles`)."""
        self.watchlists: tuple[Watchlist, ...] = tuple(watchlists)
        self.stemmer = Stemmer.Stemmer("english")
        self.main = Automaton()  # terms and names over the normalised text
        self.fuzzy = Automaton()  # fuzzy names (and their anchors) over its skeleton
        # Per watchlist index: terms that normalise to nothing (explain lists them).
        self.skipped: dict[int, list[str]] = {}
        # Per watchlist, per person index: the name parts of every listed form.
        self.person_tokens: list[dict[int, tuple[str, ...]]] = []
        # While compiling: (exact part, side) → 1-deletion variant of the other part →
        # the parts it is a variant of.
        self._variants: dict[tuple[str, int], dict[str, list[NearPart]]] = {}
        # Exact part of a fuzzy name → its indexes, the next word's first (as `scan`
        # tries them).
        self.anchors: dict[str, tuple[AnchorIndex, ...]] = {}
        # Per watchlist: the normal forms of its terms (to tell its acronyms' meanings).
        self.terms: list[frozenset[str]] = []
        # Watchlists whose people match fuzzily (with names in the fuzzy automaton).
        self.fuzzy_watchlists: tuple[int, ...] = tuple(
            wi for wi, wl in enumerate(self.watchlists) if wl.fuzzy and wl.people
        )
        for wi, wl in enumerate(self.watchlists):
            terms: set[str] = set()
            for term in expand_terms(wl.any):
                terms.add(self._add_term(term, Role(wi, ANY, term)))
            for k, alternatives in enumerate(wl.all):
                for term in expand_terms(alternatives):
                    terms.add(self._add_term(term, Role(wi, k, term)))
            for term in expand_terms(wl.none):
                self._add_term(term, Role(wi, NONE, term))
            for term in expand_terms(wl.near):
                terms.add(self._add_term(term, Role(wi, NEAR, term)))
            self.terms.append(frozenset(terms))
            tokens: dict[int, tuple[str, ...]] = {}
            for pi, person in enumerate(wl.people):
                tokens[pi] = self._add_person(wi, pi, person, wl.fuzzy)
            self.person_tokens.append(tokens)
        self.main.compile(keep_patterns=keep_patterns)
        self.fuzzy.compile()
        self._index_anchors()

    def _index_anchors(self) -> None:
        """Each exact part's `AnchorIndex`es, in the order `scan` tries them (next
        word first): one lookup per hit instead of one per side."""
        found: dict[str, list[AnchorIndex]] = {}
        for (anchor, side), variants in sorted(self._variants.items(), key=lambda kv: -kv[0][1]):
            frozen = {variant: tuple(parts) for variant, parts in variants.items()}
            found.setdefault(anchor, []).append(AnchorIndex.of(side, frozen))
        self.anchors = {anchor: tuple(indexes) for anchor, indexes in found.items()}
        self._variants = {}

    def _add_term(self, term: str, role: Role) -> str:
        """Compile one term; return its normal form."""
        wildcard = term.rstrip().endswith("*")
        norm = match_normalise(term.rstrip().rstrip("*"))
        if not norm:
            self.skipped.setdefault(role.watchlist, []).append(term)
            return norm
        acronym = term.strip() if _ACRONYM.fullmatch(term.strip()) else ""
        if wildcard:
            latin = not is_khmer(norm[0])
            self.main.add(norm, Group("prefix", (), (), 0, "", latin, latin), role)
            return norm
        words = tuple(norm.split(" "))
        stems = tuple(
            self.stemmer.stemWord(w) if w.isalpha() and not is_khmer(w[0]) else None for w in words
        )
        if any(is_khmer(w[0]) for w in words) or all(s is None for s in stems):
            self.main.add(norm, exact_group(norm, acronym), role)
            return norm
        # SPEC §5: every word matches its inflected forms ("working groups", "charges").
        # The automaton looks for the longest part a word shares with its stem
        # (detained → detain); the other words are checked around each hit.
        shared = [
            _common_prefix(w, s) if s is not None else 0 for w, s in zip(words, stems, strict=True)
        ]
        anchor = max(range(len(words)), key=lambda i: shared[i])
        pattern = words[anchor][: max(shared[anchor], 1)]
        group = Group("stem", stems, words, anchor, acronym, True, True)
        self.main.add(pattern, group, role)
        return norm

    def _add_person(self, wi: int, pi: int, person: Person, fuzzy: bool) -> tuple[str, ...]:
        """Add a person's name and aliases in both orders; return their name parts."""
        listed: list[tuple[list[str], str]] = []
        for k, raw in enumerate((person.name, *person.aliases)):
            # Split before normalising: normalisation glues Khmer words together.
            parts = [p for p in (match_normalise(w) for w in raw.split()) if p]
            while len(parts) > 1 and parts[0] in HONORIFIC_WORDS:
                parts.pop(0)  # "Mr Kem Sokha" in a people list
            if not parts:
                continue
            parts[0] = strip_khmer_honorific(parts[0])
            listed.append((parts, FORM_NAME if k == 0 else f"alias '{raw.strip()}'"))
        # Written forms first, so that an alias written in the other order ("Seng
        # Theary") keeps its own form and is not taken for the other-order rule.
        forms: list[tuple[list[str], str]] = list(listed)
        for parts, form in listed:
            if len(parts) >= 2:
                # Khmer writes the family name first; English reports use both orders.
                other = f"{form}, {FORM_OTHER_ORDER}"
                forms.append(([*parts[1:], parts[0]], other))
                if len(parts) > 2:
                    forms.append(([parts[-1], *parts[:-1]], other))
        all_parts: list[str] = []
        for order, form in forms:
            khmer = is_khmer(order[0][0])
            role = Role(wi, PERSON, person.name, pi, form)
            # Khmer parts are glued: normalisation removes spaces between Khmer words.
            pattern = ("" if khmer else " ").join(order)
            self.main.add(pattern, exact_group(pattern), role)
            if fuzzy and not khmer and len(order) >= 2:
                skel = tuple(skeleton(p) for p in order)
                self.fuzzy.add(" ".join(skel), exact_group(" ".join(skel)), role)
                if len(skel) == 2:
                    self._add_anchor(skel[0], +1, skel[1], order[1], role)
                    self._add_anchor(skel[1], -1, skel[0], order[0], role)
            all_parts.extend(order)
        return tuple(dict.fromkeys(all_parts))

    def _add_anchor(self, anchor: str, side: int, other: str, raw: str, role: Role) -> None:
        """Index a two-part fuzzy name by one exact part and the other's 1-deletions.

        Finding "kem" then looks up the next word's deletion variants in a dict, so a
        family name shared by hundreds of listed people costs one lookup, not hundreds
        of comparisons (SymSpell's symmetric-deletion idea). A three-letter part may
        be the misspelt one ("Och Leng" for Ouch Leng), never the one that locates.
        """
        if len(anchor) < _FUZZY_MIN_ANCHOR or len(other) < _FUZZY_MIN_TOKEN:
            return  # a short part must match exactly: the full-name pattern does that
        self.fuzzy.add(anchor, exact_group(anchor), Role(-1, ANCHOR, anchor))
        index = self._variants.setdefault((anchor, side), {})
        entry = (role, other, raw)  # one tuple shared by every variant (memory)
        for variant in deletions(other):
            index.setdefault(variant, []).append(entry)


@dataclass(frozen=True, slots=True)
class AnchorIndex:
    """The other parts of two-part fuzzy names, found beside one exact part on one
    `side` (+1: the next word, -1: the word before), by their 1-deletion variants."""

    side: int
    variants: dict[str, tuple[NearPart, ...]]
    shortest: int  # the length of the shortest part (at least _FUZZY_MIN_TOKEN)
    longest: int
    heads: str  # every letter among the parts' first two (a str: 5x smaller than a set)

    @classmethod
    def of(cls, side: int, variants: dict[str, tuple[NearPart, ...]]) -> AnchorIndex:
        """The index over `variants` (variant → the parts it is a variant of)."""
        parts = {entry[1] for entries in variants.values() for entry in entries}
        lengths = [len(part) for part in parts]
        heads = "".join(sorted({letter for part in parts for letter in part[:2]}))
        return cls(side, variants, min(lengths), max(lengths), heads)

    def near(self, word: str) -> tuple[NearPart, ...]:
        """The parts one edit from `word` (misspelling, transposition: SPEC §5), not
        `word` itself (the whole-name pattern finds that), in lookup order.

        Most words beside a common family name ("can", "long" in English) are no part:
        two checks turn them away before the len(word)+1 lookups. One edit changes the
        length by one at most. And an edit after the first letter keeps it, a changed
        first letter leaves the second, and a letter dropped, added or swapped at the
        start moves the first or second into the other's place: the word's first two
        letters and some part's share a letter (parts have three or more).
        """
        if not self.shortest - 1 <= len(word) <= self.longest + 1:
            return ()
        if word[0] not in self.heads and word[1:2] not in self.heads:
            return ()
        return tuple(
            entry
            for variant in deletions(word)
            for entry in self.variants.get(variant, ())
            if entry[1] != word and DamerauLevenshtein.distance(entry[1], word, score_cutoff=1) <= 1
        )


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def deletions(word: str) -> set[str]:
    """The word and every form of it with one letter deleted."""
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}
