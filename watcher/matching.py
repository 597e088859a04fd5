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
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import ahocorasick_rs
import Stemmer  # type: ignore[import-not-found,import-untyped,unused-ignore]
from rapidfuzz.distance import DamerauLevenshtein

from watcher import proximity
from watcher.khmer import (
    cluster_start_at_or_before,
    count_words,
    ends_cluster,
    is_khmer,
    starts_cluster,
)
from watcher.models import Match, Person, Watchlist
from watcher.names import (
    HONORIFIC_WORDS,
    NOT_A_NAME,
    khmer_honorific_before,
    match_normalise,
    official_title_before,
    skeleton,
    strip_khmer_honorific,
)
from watcher.normalise import Aligned, align, normalise
from watcher.termsets import expand_terms

__all__ = [
    "Explanation",
    "Hit",
    "Matcher",
    "WatchlistReport",
    "match_normalise",
    "skeleton",
    "snippet",
]

# Roles a hit can play for one watchlist.
ANY: Final = -1
NONE: Final = -2
NEAR: Final = -3
PERSON: Final = -4
ANCHOR: Final = -5  # one part of a fuzzy name; the other is looked up around the hit

SNIPPET_CHARS: Final = 200

_INITIAL_TOKEN = re.compile(r"[a-z]")
_FUZZY_MIN_TOKEN = 3  # a shorter name part must match exactly (SPEC §5)
_FUZZY_MIN_ANCHOR = 3  # the exact part that locates a fuzzy candidate ("am" is too common)
# An acronym as staff write it ("NIG"): matched only where the text writes it in capitals.
_ACRONYM = re.compile(r"[A-Z]{2,5}")
_SMALL_WORDS = frozenset(("of", "and", "for", "the", "on", "de", "du", "&"))

# Forms of a listed person's name, as `explain` shows them.
FORM_NAME: Final = "full name"
FORM_OTHER_ORDER: Final = "name in the other order"
FORM_ALONE: Final = "name part alone, after a full mention"


# --- compiled patterns ----------------------------------------------------------------


@dataclass(frozen=True)
class _Role:
    """What a hit of one pattern means for one watchlist."""

    watchlist: int
    slot: int  # ANY, NONE, NEAR, PERSON, ANCHOR, or the index of an `all` requirement
    label: str  # the term as configured, or the person's display name
    person: int = -1
    form: str = ""  # people: which written form of the name this pattern is


@dataclass
class _Group:
    """One way a pattern string can hit: its boundary rules and the roles it plays.

    kind "exact": the pattern is the whole term; "prefix": a trailing `*`; "stem": a
    Latin term whose words match by Snowball stem: `stems` holds each word's stem
    (None: match exactly, as `words` says) and `anchor` the word the pattern is part of.
    """

    kind: str
    stems: tuple[str | None, ...]
    words: tuple[str, ...]
    anchor: int
    acronym: str
    latin_left: bool
    latin_right: bool
    roles: list[_Role] = field(default_factory=list)


@dataclass(frozen=True)
class Hit:
    """One accepted hit in the normalised text: [start, end) and the role it plays."""

    start: int
    end: int
    role: _Role
    fuzzy: bool = False
    form: str = ""


@dataclass(frozen=True)
class Rejected:
    """A candidate the automaton found that the word or cluster rules refused."""

    start: int
    end: int
    label: str
    reason: str


class _Automaton:
    """Pattern strings → groups, compiled into one Aho-Corasick automaton."""

    def __init__(self) -> None:
        self.patterns: dict[str, int] = {}
        self.groups: list[list[_Group]] = []
        self.automaton: ahocorasick_rs.AhoCorasick | None = None

    def add(self, pattern: str, group: _Group, role: _Role) -> None:
        idx = self.patterns.get(pattern)
        if idx is None:
            idx = self.patterns[pattern] = len(self.groups)
            self.groups.append([])
        for known in self.groups[idx]:
            if (known.kind, known.stems, known.words, known.anchor, known.acronym) == (
                group.kind,
                group.stems,
                group.words,
                group.anchor,
                group.acronym,
            ):
                # "sub-decree" and "sub decree" are one term once normalised: report
                # the first as written, once. A person's listed forms come first.
                if not any(
                    r.watchlist == role.watchlist
                    and r.slot == role.slot
                    and r.person == role.person
                    for r in known.roles
                ):
                    known.roles.append(role)
                return
        group.roles.append(role)
        self.groups[idx].append(group)

    def compile(self) -> None:
        if self.patterns:
            self.automaton = ahocorasick_rs.AhoCorasick(
                list(self.patterns), implementation=ahocorasick_rs.Implementation.DFA
            )

    def find(self, text: str) -> list[tuple[int, int, int]]:
        if self.automaton is None or not text:
            return []
        result: list[tuple[int, int, int]] = self.automaton.find_matches_as_indexes(
            text, overlapping=True
        )
        return result


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() and not is_khmer(ch)


def _exact_group(pattern: str, acronym: str = "") -> _Group:
    return _Group("exact", (), (), 0, acronym, not is_khmer(pattern[0]), not is_khmer(pattern[-1]))


# --- results --------------------------------------------------------------------------


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


@dataclass
class _Evidence:
    """Hits of one item for one watchlist, gathered in one pass."""

    any: list[Hit] = field(default_factory=list)
    all: dict[int, list[Hit]] = field(default_factory=dict)
    none: list[Hit] = field(default_factory=list)
    near: list[Hit] = field(default_factory=list)
    people: dict[int, list[Hit]] = field(default_factory=dict)


class _Item:
    """One item's text in the forms matching needs, built lazily (slow parts only on hits)."""

    def __init__(self, original: str, needles: dict[str, re.Pattern[str]] | None = None) -> None:
        self.original = original
        self.text = match_normalise(original)
        self._needles = needles if needles is not None else {}
        self._aligned: Aligned | None = None
        self._skeleton: str | None = None
        self._word_starts: list[int] | None = None
        self._sentences: proximity.Sentences | None = None
        self._acronyms: dict[str, str | None] = {}

    @property
    def aligned(self) -> Aligned:
        """Normalised text aligned with the original (~0.2 ms a 2 kB item: only for
        items with a person and a near term, or a snippet the fast path cannot place)."""
        if self._aligned is None:
            aligned = align(self.original, drop=_INITIAL_TOKEN)
            if aligned.text != self.text:  # pragma: no cover - defensive, see align()
                n = max(len(self.text), 1)
                scale = len(self.original) / n
                aligned = Aligned(
                    self.original,
                    self.text,
                    tuple(int(i * scale) for i in range(len(self.text))),
                    (),
                )
            self._aligned = aligned
        return self._aligned

    @property
    def sentences(self) -> proximity.Sentences:
        if self._sentences is None:
            self._sentences = proximity.Sentences(self.original)
        return self._sentences

    @property
    def skeleton(self) -> str:
        if self._skeleton is None:
            self._skeleton = skeleton(self.text)
        return self._skeleton

    def word_start(self, index: int) -> int:
        """Offset in `text` of its word number `index` (words are space-separated)."""
        if self._word_starts is None:
            starts = [0]
            find = self.text.find
            pos = find(" ")
            while pos >= 0:
                starts.append(pos + 1)
                pos = find(" ", pos + 1)
            self._word_starts = starts
        return self._word_starts[min(index, len(self._word_starts) - 1)]

    def acronym_meaning(self, acronym: str) -> str | None:
        """How the original writes `acronym`: None if never in capitals; else what it
        is spelled out as ("Nigerian Investment Group (NIG)"), "" if it is not."""
        if acronym not in self._acronyms:
            meaning: str | None = None
            if re.search(rf"(?<![A-Za-z]){acronym}(?:s|es)?(?![A-Za-z])", self.original):
                meaning = _spelled_out(self.original, acronym)
            self._acronyms[acronym] = meaning
        return self._acronyms[acronym]

    def to_original(self, i: int) -> int:
        """Offset in the original of normalised offset `i` (aligns the whole item)."""
        return self.aligned.to_original(i)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """[start, end) of the normalised text as a span of the original.

        Fast path: a regex built from the hit's normal form finds it in the original
        (~2 µs), when the original holds exactly as many as the normal form; aligning
        the whole item (~0.5 ms for 2 kB) is the fallback.
        """
        if self._aligned is None:
            located = self._locate(start, end)
            if located is not None:
                return located
        aligned = self.aligned
        o_start = aligned.to_original(start)
        return o_start, max(aligned.to_original(max(end - 1, start)) + 1, o_start)

    def _locate(self, start: int, end: int) -> tuple[int, int] | None:
        needle = self.text[start:end]
        if not needle:
            return None
        rx = self._needles.get(needle)
        if rx is None:
            if len(self._needles) > 4096:
                self._needles.clear()
            rx = self._needles[needle] = _needle_regex(needle)
        found = [m.span() for m in rx.finditer(self.original)]
        if len(found) != self.text.count(needle):
            return None  # normalisation changed more than case and gaps here
        return found[self.text.count(needle, 0, start)]


def _spelled_out(original: str, acronym: str) -> str:
    """The capitalised words right before "(ACRONYM)" whose initials spell it, normalised."""
    for m in re.finditer(rf"\(\s*{acronym}\s*\)", original):
        words = re.findall(r"[\w’'&-]+", original[max(0, m.start() - 120) : m.start()])
        initials: list[str] = []
        taken: list[str] = []
        for word in reversed(words):
            if word.lower() in _SMALL_WORDS and taken:
                taken.append(word)
                continue
            if not word[:1].isupper():
                break
            initials.append(word[0])
            taken.append(word)
            if len(initials) == len(acronym):
                break
        if "".join(reversed(initials)).upper() == acronym:
            return match_normalise(" ".join(reversed(taken)))
    return ""


class Matcher:
    """All watchlists compiled once; `match` decides for one item's plain text."""

    def __init__(self, watchlists: Sequence[Watchlist]) -> None:
        """Compile every term and name of every watchlist into shared automata."""
        self.watchlists: tuple[Watchlist, ...] = tuple(watchlists)
        self._stemmer = Stemmer.Stemmer("english")
        self._main = _Automaton()
        self._fuzzy = _Automaton()
        self._skipped: dict[int, list[str]] = {}
        self._person_tokens: list[dict[int, tuple[str, ...]]] = []
        self._anchors: dict[tuple[str, int], dict[str, list[tuple[_Role, str, str]]]] = {}
        self._terms: list[frozenset[str]] = []
        self._needles: dict[str, re.Pattern[str]] = {}
        for wi, wl in enumerate(self.watchlists):
            terms: set[str] = set()
            for term in expand_terms(wl.any):
                terms.add(self._add_term(term, _Role(wi, ANY, term)))
            for k, alternatives in enumerate(wl.all):
                for term in expand_terms(alternatives):
                    terms.add(self._add_term(term, _Role(wi, k, term)))
            for term in expand_terms(wl.none):
                self._add_term(term, _Role(wi, NONE, term))
            for term in expand_terms(wl.near):
                terms.add(self._add_term(term, _Role(wi, NEAR, term)))
            self._terms.append(frozenset(terms))
            tokens: dict[int, tuple[str, ...]] = {}
            for pi, person in enumerate(wl.people):
                tokens[pi] = self._add_person(wi, pi, person, wl.fuzzy)
            self._person_tokens.append(tokens)
        self._main.compile()
        self._fuzzy.compile()

    # --- compiling ----------------------------------------------------------------

    def _add_term(self, term: str, role: _Role) -> str:
        """Compile one term; return its normal form."""
        wildcard = term.rstrip().endswith("*")
        norm = match_normalise(term.rstrip().rstrip("*"))
        if not norm:
            self._skipped.setdefault(role.watchlist, []).append(term)
            return norm
        acronym = term.strip() if _ACRONYM.fullmatch(term.strip()) else ""
        if wildcard:
            latin = not is_khmer(norm[0])
            self._main.add(norm, _Group("prefix", (), (), 0, "", latin, latin), role)
            return norm
        words = tuple(norm.split(" "))
        stems = tuple(
            self._stemmer.stemWord(w) if w.isalpha() and not is_khmer(w[0]) else None for w in words
        )
        if any(is_khmer(w[0]) for w in words) or all(s is None for s in stems):
            self._main.add(norm, _exact_group(norm, acronym), role)
            return norm
        # SPEC §5: every word matches its inflected forms ("working groups", "charges").
        # The automaton looks for the longest part a word shares with its stem
        # (detained → detain); the other words are checked around each hit.
        shared = [
            _common_prefix(w, s) if s is not None else 0 for w, s in zip(words, stems, strict=True)
        ]
        anchor = max(range(len(words)), key=lambda i: shared[i])
        pattern = words[anchor][: max(shared[anchor], 1)]
        group = _Group("stem", stems, words, anchor, acronym, True, True)
        self._main.add(pattern, group, role)
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
            role = _Role(wi, PERSON, person.name, pi, form)
            # Khmer parts are glued: normalisation removes spaces between Khmer words.
            pattern = ("" if khmer else " ").join(order)
            self._main.add(pattern, _exact_group(pattern), role)
            if fuzzy and not khmer and len(order) >= 2:
                skel = tuple(skeleton(p) for p in order)
                self._fuzzy.add(" ".join(skel), _exact_group(" ".join(skel)), role)
                if len(skel) == 2:
                    self._add_anchor(skel[0], +1, skel[1], order[1], role)
                    self._add_anchor(skel[1], -1, skel[0], order[0], role)
            all_parts.extend(order)
        return tuple(dict.fromkeys(all_parts))

    def _add_anchor(self, anchor: str, side: int, other: str, raw: str, role: _Role) -> None:
        """Index a two-part fuzzy name by one exact part and the other's 1-deletions.

        Finding "kem" then looks up the next word's deletion variants in a dict, so a
        family name shared by hundreds of listed people costs one lookup, not hundreds
        of comparisons (SymSpell's symmetric-deletion idea). A three-letter part may
        be the misspelt one ("Och Leng" for Ouch Leng), never the one that locates.
        """
        if len(anchor) < _FUZZY_MIN_ANCHOR or len(other) < _FUZZY_MIN_TOKEN:
            return  # a short part must match exactly: the full-name pattern does that
        self._fuzzy.add(anchor, _exact_group(anchor), _Role(-1, ANCHOR, anchor))
        index = self._anchors.setdefault((anchor, side), {})
        for variant in _deletions(other):
            index.setdefault(variant, []).append((role, other, raw))

    # --- scanning -----------------------------------------------------------------

    def _scan(self, item: _Item, rejected: list[Rejected] | None) -> list[Hit]:
        text = item.text
        n = len(text)
        hits: list[Hit] = []
        for idx, start, end in self._main.find(text):
            for group in self._main.groups[idx]:
                reason = self._boundary(text, n, start, end, group)
                span = (start, end)
                if reason == "" and group.kind != "exact":
                    w = end
                    while w < n and _is_word_char(text[w]):
                        w += 1
                    span = (start, w)
                    if group.kind == "stem":
                        found = self._stem_span(text, start, w, group)
                        if isinstance(found, str):
                            reason = found
                        else:
                            span = found
                roles = group.roles
                if reason == "" and group.acronym:
                    reason, roles = self._acronym_roles(item, group)
                if reason == "":
                    hits.extend(Hit(span[0], span[1], role, form=role.form) for role in roles)
                    continue
                if rejected is not None:
                    for role in group.roles:
                        rejected.append(Rejected(start, end, role.label, reason))
        if self._fuzzy.automaton is not None:
            hits.extend(self._scan_fuzzy(item))
        return hits

    def _acronym_roles(self, item: _Item, group: _Group) -> tuple[str, list[_Role]]:
        """An acronym term counts where the text writes it in capitals, and not for a
        watchlist when the item spells it out as something else (other bodies are
        called NIG too)."""
        meaning = item.acronym_meaning(group.acronym)
        if meaning is None:
            return f"not written in capitals as {group.acronym!r}", []
        if not meaning:
            return "", group.roles
        # Only a watchlist that spells the acronym out itself ("National Internet
        # Gateway") can tell its NIG from another body's.
        roles = [
            r
            for r in group.roles
            if meaning in self._terms[r.watchlist]
            or not any(_initials(t) == group.acronym.lower() for t in self._terms[r.watchlist])
        ]
        if roles:
            return "", roles
        return f"{group.acronym} stands for '{meaning}' here", []

    def _stem_span(self, text: str, start: int, end: int, group: _Group) -> tuple[int, int] | str:
        """Check every word of a stemmed term around the anchor word at [start, end)."""
        stem_word = self._stemmer.stemWord
        word = text[start:end]
        if stem_word(word) != group.stems[group.anchor]:
            return f"'{word}' is another word"
        lo, hi = start, end
        for i in range(group.anchor - 1, -1, -1):
            if lo < 2 or text[lo - 1] != " ":
                return "a word of the term is missing"
            b = lo - 1
            while b > 0 and _is_word_char(text[b - 1]):
                b -= 1
            if not _same_word(text[b : lo - 1], group.words[i], group.stems[i], stem_word):
                return f"'{text[b : lo - 1]}' is not '{group.words[i]}'"
            lo = b
        for i in range(group.anchor + 1, len(group.words)):
            if hi + 1 >= len(text) or text[hi] != " ":
                return "a word of the term is missing"
            e = hi + 1
            while e < len(text) and _is_word_char(text[e]):
                e += 1
            if not _same_word(text[hi + 1 : e], group.words[i], group.stems[i], stem_word):
                return f"'{text[hi + 1 : e]}' is not '{group.words[i]}'"
            hi = e
        return (lo, hi)

    @staticmethod
    def _boundary(text: str, n: int, start: int, end: int, group: _Group) -> str:
        """Return "" if a hit respects word/cluster boundaries, else why it does not."""
        if group.latin_left:
            if start > 0 and _is_word_char(text[start - 1]):
                return "inside a longer word"
        elif not starts_cluster(text, start):
            return "starts inside a Khmer cluster"
        if group.kind != "exact":
            return ""
        if group.latin_right:
            if end < n and _is_word_char(text[end]):
                return "inside a longer word"
        elif not ends_cluster(text, end):
            return "ends inside a Khmer cluster"
        return ""

    def _scan_fuzzy(self, item: _Item) -> list[Hit]:
        skel = item.skeleton
        n = len(skel)
        hits: list[Hit] = []
        for idx, start, end in self._fuzzy.find(skel):
            if (start > 0 and _is_word_char(skel[start - 1])) or (
                end < n and _is_word_char(skel[end])
            ):
                continue
            for group in self._fuzzy.groups[idx]:
                for role in group.roles:
                    if role.slot != ANCHOR:
                        hits.append(self._fuzzy_hit(item, start, end, role))
                        continue
                    for side in (+1, -1):
                        index = self._anchors.get((role.label, side))
                        if index is None:
                            continue
                        span = _neighbour(skel, start, end, side)
                        if span is None:
                            continue
                        word = skel[span[0] : span[1]]
                        seen: set[tuple[int, int]] = set()
                        for variant in _deletions(word):
                            for person_role, want, raw in index.get(variant, ()):
                                key = (person_role.watchlist, person_role.person)
                                if key in seen or want == word:
                                    continue
                                # one edit: misspelling, transposition (SPEC §5)
                                if DamerauLevenshtein.distance(want, word, score_cutoff=1) > 1:
                                    continue
                                written = item.text[
                                    item.word_start(skel.count(" ", 0, span[0])) :
                                ].split(" ", 1)[0]
                                if min(len(raw), len(written)) <= 3 and len(raw) == len(written):
                                    # a short part may lose or gain a letter ("Och Leng"
                                    # for Ouch Leng), not change one: Interior Minister
                                    # Sar Sokha is not the activist Sam Sokha
                                    continue
                                seen.add(key)
                                lo, hi = (start, span[1]) if side > 0 else (span[0], end)
                                hits.append(self._fuzzy_hit(item, lo, hi, person_role))
        return hits

    @staticmethod
    def _fuzzy_hit(item: _Item, start: int, end: int, role: _Role) -> Hit:
        """Map a hit in the skeleton (same word count as the text) back to the text."""
        skel = item.skeleton
        first = skel.count(" ", 0, start)
        words = skel.count(" ", start, end) + 1
        t_start = item.word_start(first)
        t_end = item.text.find(" ", item.word_start(first + words - 1))
        t_end = len(item.text) if t_end < 0 else t_end
        written = item.text[t_start:t_end]
        form = f"{role.form}, fuzzy: written '{written}'"
        return Hit(t_start, t_end, role, fuzzy=True, form=form)

    # --- deciding -----------------------------------------------------------------

    def match(self, text: str, source: str) -> tuple[Match, ...]:
        """Decide every watchlist that applies to `source` for one item's plain text.

        Returns at most one Match per watchlist (certain, or `possible` per SPEC §5).
        """
        item = _Item(text, self._needles)
        evidence = self._gather(self._scan(item, None), source)
        out: list[Match] = []
        for wi, ev in evidence.items():
            m = self._decide(wi, ev, item, None)
            if m is not None:
                out.append(m)
        return tuple(out)

    def explain(self, text: str, source: str) -> Explanation:
        """Like `match`, with the normalised text and, per watchlist, the reasons."""
        item = _Item(text, self._needles)
        rejected: list[Rejected] = []
        hits = self._scan(item, rejected)
        evidence = self._gather(hits, source)
        reports: list[WatchlistReport] = []
        matches: list[Match] = []
        for wi, wl in enumerate(self.watchlists):
            lines: list[str] = []
            if not wl.applies_to(source):
                reports.append(WatchlistReport(wl.name, False, "not for this source", ()))
                continue
            ev = evidence.get(wi, _Evidence())
            m = self._decide(wi, ev, item, lines)
            for term in self._skipped.get(wi, []):
                lines.append(f"term {term!r} is empty after normalisation and never matches")
            terms = _terms_of(wl)
            for rej in rejected:
                if rej.label in terms:
                    lines.append(
                        f"near miss: {rej.label!r} at {_quote(item, rej.start)}: {rej.reason}"
                    )
            verdict = "no match" if m is None else ("possible" if m.possible else "match")
            if m is not None:
                matches.append(m)
                lines.append(f"snippet: {m.snippet}")
            reports.append(WatchlistReport(wl.name, True, verdict, tuple(lines)))
        return Explanation(item.text, source, tuple(reports), tuple(matches))

    def _gather(self, hits: list[Hit], source: str) -> dict[int, _Evidence]:
        evidence: dict[int, _Evidence] = {}
        applies: dict[int, bool] = {}
        for hit in hits:
            wi = hit.role.watchlist
            ok = applies.get(wi)
            if ok is None:
                ok = applies[wi] = self.watchlists[wi].applies_to(source)
            if not ok:
                continue
            ev = evidence.get(wi)
            if ev is None:
                ev = evidence[wi] = _Evidence()
            slot = hit.role.slot
            if slot == ANY:
                ev.any.append(hit)
            elif slot == NONE:
                ev.none.append(hit)
            elif slot == NEAR:
                ev.near.append(hit)
            elif slot == PERSON:
                ev.people.setdefault(hit.role.person, []).append(hit)
            else:
                ev.all.setdefault(slot, []).append(hit)
        return evidence

    def _decide(self, wi: int, ev: _Evidence, item: _Item, why: list[str] | None) -> Match | None:
        """Apply SPEC §5 to one watchlist's evidence; `why` collects reasons for explain."""
        wl = self.watchlists[wi]
        note = why.append if why is not None else None
        if note:
            for label, hits in (("any", ev.any), ("near", ev.near)):
                if hits:
                    note(f"{label}: " + ", ".join(_describe(item, h) for h in _first_each(hits)))
            for k in range(len(wl.all)):
                hits_k = ev.all.get(k, [])
                shown = ", ".join(_describe(item, h) for h in _first_each(hits_k)) or "MISSING"
                note(f"all[{k}] {list(wl.all[k])}: {shown}")
            for pi, hits in ev.people.items():
                exact = {(h.start, h.end) for h in hits if not h.fuzzy}
                shown = [h for h in hits if not (h.fuzzy and (h.start, h.end) in exact)]
                note(
                    f"person {wl.people[pi].name}: "
                    + ", ".join(_describe(item, h) for h in shown[:3])
                )
        if not (wl.any or wl.people or wl.all):
            return None
        if ev.none:
            if note:
                note(
                    "vetoed by none: " + ", ".join(_describe(item, h) for h in _first_each(ev.none))
                )
            return None
        if any(k not in ev.all for k in range(len(wl.all))):
            return None
        if wl.any and not ev.any:
            if note:
                note("no `any` term found")
            return None
        evidence: list[Hit] = [*ev.any, *(h for hs in ev.all.values() for h in hs)]
        if wl.people:
            if not ev.people:
                if note:
                    note("no listed person found")
                return None
            if not wl.near:
                people_hits = [h for hs in ev.people.values() for h in hs]
                return self._build(wl, [*evidence, *people_hits], people_hits, False, item)
            return self._decide_people(wi, ev, item, evidence, note)
        if wl.near:
            kept, near_used = self._terms_near(wl, ev.any, ev.near, item, note)
            if not kept:
                return None
            evidence = [*kept, *(h for hs in ev.all.values() for h in hs), *near_used]
        return self._build(wl, evidence, [], False, item)

    def _terms_near(
        self,
        wl: Watchlist,
        terms: list[Hit],
        nears: list[Hit],
        item: _Item,
        note: Callable[[str], None] | None,
    ) -> tuple[list[Hit], list[Hit]]:
        """With `near` and no people (a Matcher built without `check`), an `any` term
        counts only near a near term, by the same sentence rules as a person."""
        kept: list[Hit] = []
        used: list[Hit] = []
        for hit in terms:
            o_start, o_end = item.original_span(hit.start, hit.end)
            for near in nears:
                if near.start == hit.start and near.end == hit.end:
                    continue
                reason = self._proximity(hit, near, wl.within, item, o_start, o_end)
                if reason == "":
                    kept.append(hit)
                    used.append(near)
                    break
                if note is not None:
                    note(f"{_describe(item, hit)} / {_describe(item, near)}: {reason}")
        if not nears and note is not None:
            note("no `near` term found")
        return kept, used

    def _decide_people(
        self,
        wi: int,
        ev: _Evidence,
        item: _Item,
        evidence: list[Hit],
        note: Callable[[str], None] | None,
    ) -> Match | None:
        """People with `near`: a match, a possible match (SPEC §5), or nothing."""
        wl = self.watchlists[wi]
        if not ev.near:
            if note:
                note("listed person found but no `near` term")
            return None
        mentions = self._mentions(wi, ev, item, note)
        if not mentions:
            if note:
                note("no mention of a listed person counts (see above)")
            return None
        fresh: list[tuple[Hit, Hit]] = []
        old: list[tuple[Hit, Hit]] = []
        for hit in mentions:
            o_start, o_end = item.original_span(hit.start, hit.end)
            line = item.sentences.paragraph(o_start)
            caption = proximity.caption_or_byline(line, item.original)
            if caption:
                if note:
                    note(f"{_describe(item, hit)} is in {caption}: it does not count")
                continue
            for near in ev.near:
                reason = self._proximity(hit, near, wl.within, item, o_start, o_end)
                if reason:
                    if note:
                        note(f"{_describe(item, hit)} / {_describe(item, near)}: {reason}")
                    continue
                context = self._no_new_arrest(item, near)
                if context:
                    if note:
                        note(f"{_describe(item, hit)} / {_describe(item, near)}: {context}")
                    old.append((hit, near))
                    continue
                fresh.append((hit, near))
                if note:
                    note(
                        f"counts: {_describe(item, hit)}{_name_detail(item, hit)}"
                        f" with {_describe(item, near)}"
                    )
                break
        if fresh:
            people = [h for h, _ in fresh]
            return self._build(wl, [*evidence, *(n for _, n in fresh)], people, False, item)
        if note:
            note("possible: a listed person and a `near` term, but not together as SPEC §5 asks")
        people = [h for h, _ in old] or mentions
        nears = [n for _, n in old] or ev.near
        return self._build(wl, [*evidence, *nears], people, True, item)

    def _mentions(
        self, wi: int, ev: _Evidence, item: _Item, note: Callable[[str], None] | None
    ) -> list[Hit]:
        """Mentions of listed people: full names (less officials who share the names in
        another order), plus later mentions by one name part (SPEC §5) when no other
        person in the item shares that part."""
        wl = self.watchlists[wi]
        text = item.text
        original = item.original
        mentions: list[Hit] = []
        for hits in ev.people.values():
            exact = {(h.start, h.end) for h in hits if not h.fuzzy}
            for hit in hits:
                if hit.fuzzy and (hit.start, hit.end) in exact:
                    continue  # the skeleton automaton also finds exact names
                if FORM_OTHER_ORDER in hit.form and not is_khmer(text[hit.start]):
                    title = official_title_before(
                        original, item.original_span(hit.start, hit.end)[0]
                    )
                    if title:
                        if note:
                            note(
                                f"{_describe(item, hit)}: after {title!r}, an official who "
                                f"shares the names of {hit.role.label}, not the person"
                            )
                        continue
                mentions.append(hit)
        tokens = self._person_tokens[wi]
        owners: dict[str, set[int]] = {}
        for pi in ev.people:
            for tok in tokens.get(pi, ()):
                owners.setdefault(tok, set()).add(pi)
        taken = [(h.start, h.end) for h in mentions]
        for pi in ev.people:
            full = [h for h in mentions if h.role.person == pi]
            if not full:
                continue
            first_end = min(h.end for h in full)
            role = full[0].role
            parts = set(tokens.get(pi, ()))
            for tok in tokens.get(pi, ()):
                if len(owners.get(tok, ())) > 1:
                    if note:
                        note(f"'{tok}' alone is not {wl.people[pi].name}: another listed person")
                    continue
                found, shared = self._lone_parts(item, tok, parts, taken)
                if shared:
                    if note:
                        note(f"'{tok}' alone is not {wl.people[pi].name}: {shared}")
                    continue
                mentions.extend(
                    Hit(pos, pos + len(tok), role, form=FORM_ALONE)
                    for pos in found
                    if pos >= first_end
                )
        return mentions

    def _lone_parts(
        self, item: _Item, tok: str, parts: set[str], taken: list[tuple[int, int]]
    ) -> tuple[list[int], str]:
        """Where one name part stands alone as a name; or why it cannot count at all
        (another person in the item shares it: "Interior Minister Sar Sokha" beside
        Kem Sokha, "Kem Monovithya" beside Kem Sokha)."""
        text = item.text
        found: list[int] = []
        pos = text.find(tok)
        while pos >= 0:
            end = pos + len(tok)
            inside = any(s <= pos and end <= e for s, e in taken)
            if not inside:
                if is_khmer(tok[0]):
                    if starts_cluster(text, pos) and ends_cluster(text, end):
                        if khmer_honorific_before(text, pos):
                            found.append(pos)
                        elif pos > 0 and is_khmer(text[pos - 1]):
                            # Khmer has no spaces: a part glued to other letters that are
                            # not an honorific is part of someone else's name.
                            return [], "another name in the item contains it"
                elif self._is_name_part(item, pos, end):
                    shared = self._shared_with(item, pos, end, parts)
                    if shared:
                        return [], shared
                    found.append(pos)
            pos = text.find(tok, end)
        return found, ""

    @staticmethod
    def _is_name_part(item: _Item, start: int, end: int) -> bool:
        text = item.text
        if (start > 0 and _is_word_char(text[start - 1])) or (
            end < len(text) and _is_word_char(text[end])
        ):
            return False
        # A name alone must be written as a name: "Am" yes, "I am" no.
        original = item.original
        at = item.original_span(start, end)[0]
        return at < len(original) and original[at].isupper()

    @staticmethod
    def _shared_with(item: _Item, start: int, end: int, parts: set[str]) -> str:
        """Why a lone name part at [start, end) belongs to someone else, or ""."""
        original = item.original
        o_start, o_end = item.original_span(start, end)
        title = official_title_before(original, o_start)
        if title:
            return f"written after {title!r}"
        text = item.text
        for span in (_neighbour(text, start, end, -1), _neighbour(text, start, end, +1)):
            if span is None:
                continue
            word = text[span[0] : span[1]]
            if word in parts or word in NOT_A_NAME or not word.isalpha():
                continue
            a, b = item.original_span(span[0], span[1])
            lo, hi = (b, o_start) if span[0] < start else (o_end, a)
            if original[a : a + 1].isupper() and original[lo:hi].strip(" ") == "":
                return f"'{original[a:b]} …' is another person's name"
        return ""

    def _proximity(
        self, person: Hit, near: Hit, within: int, item: _Item, o_start: int, o_end: int
    ) -> str:
        """ "" if `near` counts for `person` (same sentence, or the next one when it refers
        back; at most `within` words between; the person not only the quoted source),
        else the reason it does not."""
        sentences = item.sentences
        original = item.original
        o_near = item.original_span(near.start, near.end)[0]
        s_person = sentences.span(o_start)
        s_near = sentences.span(o_near)
        if s_near != s_person:
            if s_near != sentences.next_span(s_person):
                return "not in the same sentence"
            if not proximity.refers_back(original[s_near[0] : s_near[1]]):
                return "in the next sentence, which does not refer back to the person"
        lo, hi = (person.end, near.start) if person.end <= near.start else (near.end, person.start)
        gap = count_words(item.text[lo:hi]) if hi > lo else 0
        if gap > within:
            return f"{gap} words apart (within = {within})"
        if self._quoted_source(item, person, near, o_start, o_end, o_near):
            return "the person is only the quoted source of that sentence"
        return ""

    @staticmethod
    def _quoted_source(
        item: _Item, person: Hit, near: Hit, o_start: int, o_end: int, o_near: int
    ) -> bool:
        """ "…, said Am Sam Ath" / "Am Sam Ath, of LICADHO, said police arrested…" /
        "លោក អំ សំអាត បានថ្លែងថា…": the person only speaks about the arrest. "Police
        arrested Kem Sokha, who told reporters…" is not: the arrest word comes first."""
        if is_khmer(item.text[person.start]):
            if proximity.khmer_quoted_before(item.text, person.start):
                return True
            verb = proximity.khmer_speech_after(item.text, person.end, len(item.text))
            return verb >= 0 and near.start >= verb
        if proximity.quoted_before(item.original, o_start, o_end):
            return True
        verb = proximity.speech_after(item.original, o_end)
        return verb >= 0 and o_near >= verb

    @staticmethod
    def _no_new_arrest(item: _Item, near: Hit) -> str:
        """Context around a near term that reports no new arrest (SPEC §5: a possible
        match at most): a past arrest, an anniversary, a threat, a release."""
        o_near = item.original_span(near.start, near.end)[0]
        span = item.sentences.span(o_near)
        sentence = item.original[span[0] : span[1]]
        head = normalise(item.original[span[0] : o_near])
        norm = normalise(sentence)
        word = item.text[near.start : near.end]
        at = norm.find(word, max(0, len(head) - 2))
        if at < 0:
            at = max(norm.find(word), 0)
        return proximity.no_new_arrest(norm, at, at + len(word))

    def _build(
        self,
        wl: Watchlist,
        evidence: list[Hit],
        people: list[Hit],
        possible: bool,
        item: _Item,
    ) -> Match:
        ordered = sorted(evidence, key=lambda h: h.start)
        terms = tuple(
            dict.fromkeys(h.role.label for h in ordered if h.role.slot not in (PERSON, ANCHOR))
        )
        names = tuple(dict.fromkeys(h.role.label for h in sorted(people, key=lambda h: h.start)))
        hits = [*ordered, *people]
        first = min(hits, key=lambda h: h.start) if hits else Hit(0, 0, _Role(-1, ANY, ""))
        return Match(
            watchlist=wl.name,
            severity=wl.severity,
            terms=terms,
            people=names,
            snippet=self._snippet(item, first.start, first.end),
            possible=possible,
        )

    @staticmethod
    def _snippet(item: _Item, start: int, end: int) -> str:
        """Snippet around a hit, quoting the original text."""
        return snippet_at(item.original, *item.original_span(start, end))


# --- helpers ----------------------------------------------------------------------------

_GAP_CLASS = r"[\s\W_]+"
_INVISIBLE_CLASS = "[\u200b\u200c\u200d\u2060\ufeff\u00ad]*"
# Khmer words are glued by normalisation: the original may have spaces between them.
_KHMER_INSIDE = "[\\s\u200b\u200c\u200d\u2060\ufeff\u00ad]*"


def _needle_regex(needle: str) -> re.Pattern[str]:
    """A regex finding the original text of a hit: case-insensitive, any punctuation
    or space between words, invisible characters (and, in Khmer, spaces) anywhere."""
    words = needle.split(" ")
    inside = [_KHMER_INSIDE if any(is_khmer(c) for c in w) else _INVISIBLE_CLASS for w in words]
    body = _GAP_CLASS.join(
        join.join(re.escape(c) for c in w) for w, join in zip(words, inside, strict=True)
    )
    return re.compile(body, re.IGNORECASE)


def _initials(term: str) -> str:
    return "".join(w[0] for w in term.split(" ") if w and w not in _SMALL_WORDS)


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _same_word(found: str, word: str, stem: str | None, stem_word: Callable[[str], str]) -> bool:
    return found == word if stem is None else stem_word(found) == stem


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


def _deletions(word: str) -> set[str]:
    """The word and every form of it with one letter deleted."""
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


def _neighbour(text: str, start: int, end: int, side: int) -> tuple[int, int] | None:
    """Span of the word right after [start, end) (side +1) or right before (side -1)."""
    if side > 0:
        if end + 1 >= len(text) or text[end] != " ":
            return None
        stop = text.find(" ", end + 1)
        return (end + 1, len(text) if stop < 0 else stop)
    if start < 2 or text[start - 1] != " ":
        return None
    begin = text.rfind(" ", 0, start - 1) + 1
    return (begin, start - 1)


def _terms_of(wl: Watchlist) -> set[str]:
    terms = set(expand_terms(wl.any)) | set(expand_terms(wl.none)) | set(expand_terms(wl.near))
    for alternatives in wl.all:
        terms |= set(expand_terms(alternatives))
    return terms


def _first_each(hits: list[Hit]) -> list[Hit]:
    seen: dict[str, Hit] = {}
    for h in sorted(hits, key=lambda h: h.start):
        seen.setdefault(h.role.label, h)
    return list(seen.values())


def _describe(item: _Item, hit: Hit) -> str:
    found = item.text[hit.start : hit.end]
    form = f" ({hit.form})" if hit.form else ""
    return f"{hit.role.label!r} as '{found}'{form} at {_quote(item, hit.start)}"


def _name_detail(item: _Item, hit: Hit) -> str:
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


def _quote(item: _Item, start: int) -> str:
    return f"word {item.text.count(' ', 0, start) + 1}"
