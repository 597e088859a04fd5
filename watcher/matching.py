"""Watchlist matching (SPEC §5): is this item's text a match, a possible match, or not.

Every term and name of every watchlist is compiled into one Aho-Corasick automaton
(`ahocorasick_rs`, Rust), so one pass over an item's normalised text finds every
candidate whatever the number of watchlists and people; Python then only looks at the
few candidates found (boundaries, stems, proximity). Names with `fuzzy = true` get a
second automaton over a phonetic "skeleton" of the text.

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

from watcher.khmer import (
    cluster_start_at_or_before,
    count_words,
    ends_cluster,
    is_khmer,
    starts_cluster,
)
from watcher.models import Match, Person, Watchlist
from watcher.normalise import Aligned, align, normalise
from watcher.termsets import expand_terms

# Roles a hit can play for one watchlist.
ANY: Final = -1
NONE: Final = -2
NEAR: Final = -3
PERSON: Final = -4
ANCHOR: Final = -5  # one part of a fuzzy name; the other is looked up around the hit

SNIPPET_CHARS: Final = 200

# A middle initial ("Theary C. Seng", SPEC §5) is dropped from text and names alike, so
# the name matches with or without it. Single letters carry no meaning for any term.
_INITIAL = re.compile(r"(?<![^ ])[a-z](?: |$)")
_INITIAL_TOKEN = re.compile(r"[a-z]")
_KHMER_GAP = re.compile(" (?<=[\u1780-\u17ff] )(?=[\u1780-\u17ff])")

# Transliteration skeleton for fuzzy names: "Chhim Sithar", "Chim Sithar" and "Chhim
# Sitha" all read "cim sita"; "Kem Sohka" and "Kem Sokha" both "kem soka". h is dropped
# (romanisations differ on aspirates: ch/chh, k/kh), doubled letters are one, y is i,
# and a word-final r is dropped (Khmer final r is silent: ស៊ីថា / ស៊ីថរ).
_SKELETON_TABLE = str.maketrans({"h": None, "y": "i"})
_DOUBLED = re.compile(r"([a-z])\1+")
_FINAL_R = re.compile(r"(?<=[a-z])r(?![a-z])")
_FUZZY_MIN_TOKEN = 4  # a token shorter than this must match exactly (SPEC §5)
_FUZZY_MIN_ANCHOR = 3  # tokens that locate a fuzzy candidate ("am" is too common)

# "…, said Am Sam Ath": a person who is only the quoted source (SPEC §5).
_QUOTED_BEFORE = re.compile(
    r"(?:^| )(?:said|says|told|according to|quoted|spokesman|spokeswoman|spokesperson)"
    r"(?: (?:mr|mrs|ms|dr|lok|lok chumteav|his excellency|oknha))? $"
)
# A next sentence that refers back to the person ("He was detained…") still counts.
_BACK_REFERENCE = re.compile(
    r"(?<![^ ])(?:he|she|him|her|his|they|them|their)(?![^ ])|លោក|គាត់|នាង|អ្នកស្រី|លោកស្រី"
)

_HONORIFICS: Final = (
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "lok",
    "lok chumteav",
    "oknha",
    "his excellency",
    "her excellency",
    "samdech",
    "លោក",
    "លោកស្រី",
    "អ្នកស្រី",
    "កញ្ញា",
    "ឯកឧត្តម",
    "លោកជំទាវ",
    "សម្តេច",
    "អ្នកនាង",
    "ឧកញ៉ា",
)


def match_normalise(text: str) -> str:
    """The normal form matching works on: SPEC §5 `normalise` minus middle initials."""
    text = normalise(text)
    if _INITIAL.search(text):
        text = _INITIAL.sub("", text).rstrip(" ")
        text = _KHMER_GAP.sub("", text)
    return text


def skeleton(text: str) -> str:
    """Phonetic skeleton of normalised Latin text, word count preserved (fuzzy names)."""
    text = text.translate(_SKELETON_TABLE)
    text = _DOUBLED.sub(r"\1", text)
    return _FINAL_R.sub("", text)


_HONORIFIC_WORDS = frozenset(match_normalise(h) for h in _HONORIFICS if " " not in h)
_KHMER_HONORIFICS = tuple(
    sorted((match_normalise(h) for h in _HONORIFICS if is_khmer(h[0])), key=len, reverse=True)
)


def _strip_khmer_honorific(part: str) -> str:
    """Drop a Khmer honorific glued to a name in the people list ("លោកកឹម")."""
    for h in _KHMER_HONORIFICS:
        if part.startswith(h) and len(part) > len(h) and starts_cluster(part, len(h)):
            return part[len(h) :]
    return part


# --- compiled patterns ----------------------------------------------------------------


@dataclass(frozen=True)
class _Role:
    """What a hit of one pattern means for one watchlist."""

    watchlist: int
    slot: int  # ANY, NONE, NEAR, PERSON, ANCHOR, or the index of an `all` requirement
    label: str  # the term as configured, or the person's display name
    person: int = -1


@dataclass
class _Group:
    """One way a pattern string can hit: its boundary rules and the roles it plays."""

    kind: str  # "exact" | "prefix" (trailing *) | "stem" (inflected last word)
    stem: str
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

    def add(
        self,
        pattern: str,
        kind: str,
        stem: str,
        role: _Role,
    ) -> None:
        idx = self.patterns.get(pattern)
        if idx is None:
            idx = self.patterns[pattern] = len(self.groups)
            self.groups.append([])
        latin_left = not is_khmer(pattern[0])
        latin_right = not is_khmer(pattern[-1])
        for group in self.groups[idx]:
            if group.kind == kind and group.stem == stem:
                # "sub-decree" and "sub decree" are one term once normalised: report
                # the first as written, once.
                if not any(
                    r.watchlist == role.watchlist
                    and r.slot == role.slot
                    and r.person == role.person
                    for r in group.roles
                ):
                    group.roles.append(role)
                return
        self.groups[idx].append(_Group(kind, stem, latin_left, latin_right, [role]))

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

    def __init__(self, original: str) -> None:
        self.original = original
        self.text = match_normalise(original)
        self._aligned: Aligned | None = None
        self._partial: Aligned | None = None
        self._skeleton: str | None = None
        self._word_starts: list[int] | None = None

    @property
    def aligned(self) -> Aligned:
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

    def aligned_until(self, end: int) -> Aligned:
        """Alignment covering at least the first `end` normalised characters."""
        if self._aligned is not None:
            return self._aligned
        if end >= len(self.text) // 2:
            return self.aligned
        partial = self._partial
        if partial is None or len(partial.offsets) <= end:
            partial = self._partial = align(self.original, drop=_INITIAL_TOKEN, stop=end + 1)
        return partial

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
        self._anchors: dict[tuple[str, int], dict[str, list[tuple[_Role, str]]]] = {}
        for wi, wl in enumerate(self.watchlists):
            for term in expand_terms(wl.any):
                self._add_term(term, _Role(wi, ANY, term))
            for k, alternatives in enumerate(wl.all):
                for term in expand_terms(alternatives):
                    self._add_term(term, _Role(wi, k, term))
            for term in expand_terms(wl.none):
                self._add_term(term, _Role(wi, NONE, term))
            for term in expand_terms(wl.near):
                self._add_term(term, _Role(wi, NEAR, term))
            tokens: dict[int, tuple[str, ...]] = {}
            for pi, person in enumerate(wl.people):
                tokens[pi] = self._add_person(wi, pi, person, wl.fuzzy)
            self._person_tokens.append(tokens)
        self._main.compile()
        self._fuzzy.compile()

    # --- compiling ----------------------------------------------------------------

    def _add_term(self, term: str, role: _Role) -> None:
        wildcard = term.rstrip().endswith("*")
        norm = match_normalise(term.rstrip().rstrip("*"))
        if not norm:
            self._skipped.setdefault(role.watchlist, []).append(term)
            return
        if wildcard:
            self._main.add(norm, "prefix", "", role)
            return
        head, _, last = norm.rpartition(" ")
        if last.isascii() and last.isalpha():
            # SPEC §5: "working group" matches "working groups", "charged" matches
            # "charges": the last word matches any word with the same Snowball stem.
            # The pattern is the part the word and its stem share (party → parti).
            stem = self._stemmer.stemWord(last)
            common = 0
            while common < min(len(stem), len(last)) and stem[common] == last[common]:
                common += 1
            prefix = (head + " " if head else "") + last[: max(common, 1)]
            self._main.add(prefix, "stem", stem, role)
        else:
            self._main.add(norm, "exact", "", role)

    def _add_person(self, wi: int, pi: int, person: Person, fuzzy: bool) -> tuple[str, ...]:
        """Add a person's name and aliases in both orders; return their name parts."""
        all_parts: list[str] = []
        role = _Role(wi, PERSON, person.name, pi)
        for raw in (person.name, *person.aliases):
            # Split before normalising: normalisation glues Khmer words together.
            parts = [p for p in (match_normalise(w) for w in raw.split()) if p]
            while len(parts) > 1 and parts[0] in _HONORIFIC_WORDS:
                parts.pop(0)  # "Mr Kem Sokha" in a people list
            if not parts:
                continue
            parts[0] = _strip_khmer_honorific(parts[0])
            khmer = is_khmer(parts[0][0])
            orders = [parts]
            if len(parts) >= 2:
                # Khmer writes the family name first; English reports use both orders.
                orders.append([*parts[1:], parts[0]])
                if len(parts) > 2:
                    orders.append([parts[-1], *parts[:-1]])
            for order in orders:
                # Khmer parts are glued: normalisation removes spaces between Khmer words.
                self._main.add(("" if khmer else " ").join(order), "exact", "", role)
                if fuzzy and not khmer and len(order) >= 2:
                    skel = tuple(skeleton(p) for p in order)
                    self._fuzzy.add(" ".join(skel), "exact", "", role)
                    if len(skel) == 2:
                        self._add_anchor(skel[0], +1, skel[1], role)
                        self._add_anchor(skel[1], -1, skel[0], role)
            all_parts.extend(parts)
        return tuple(dict.fromkeys(all_parts))

    def _add_anchor(self, anchor: str, side: int, other: str, role: _Role) -> None:
        """Index a two-part fuzzy name by one exact part and the other's 1-deletions.

        Finding "kem" then looks up the next word's deletion variants in a dict, so a
        family name shared by hundreds of listed people costs one lookup, not hundreds
        of comparisons (SymSpell's symmetric-deletion idea).
        """
        if len(anchor) < _FUZZY_MIN_ANCHOR or len(other) < _FUZZY_MIN_TOKEN:
            return  # a short part must match exactly: the full-name pattern does that
        self._fuzzy.add(anchor, "exact", "", _Role(-1, ANCHOR, anchor))
        index = self._anchors.setdefault((anchor, side), {})
        for variant in _deletions(other):
            index.setdefault(variant, []).append((role, other))

    # --- scanning -----------------------------------------------------------------

    def _scan(self, item: _Item, rejected: list[Rejected] | None) -> list[Hit]:
        text = item.text
        n = len(text)
        hits: list[Hit] = []
        stem_word = self._stemmer.stemWord
        for idx, start, end in self._main.find(text):
            for group in self._main.groups[idx]:
                reason = self._boundary(text, n, start, end, group)
                if reason == "":
                    if group.kind == "prefix" or group.kind == "stem":
                        w = end
                        while w < n and _is_word_char(text[w]):
                            w += 1
                        if group.kind == "stem":
                            word_start = text.rfind(" ", start, end) + 1 or start
                            if stem_word(text[word_start:w]) != group.stem:
                                reason = f"'{text[word_start:w]}' is another word"
                        if not reason:
                            hits.extend(Hit(start, w, role) for role in group.roles)
                            continue
                    else:
                        hits.extend(Hit(start, end, role) for role in group.roles)
                        continue
                if rejected is not None:
                    for role in group.roles:
                        rejected.append(Rejected(start, end, role.label, reason))
        if self._fuzzy.automaton is not None:
            hits.extend(self._scan_fuzzy(item))
        return hits

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
                            for person_role, want in index.get(variant, ()):
                                key = (person_role.watchlist, person_role.person)
                                if key in seen or want == word:
                                    continue
                                # one edit: misspelling, transposition (SPEC §5)
                                if DamerauLevenshtein.distance(want, word, score_cutoff=1) > 1:
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
        return Hit(t_start, t_end, role, fuzzy=True)

    # --- deciding -----------------------------------------------------------------

    def match(self, text: str, source: str) -> tuple[Match, ...]:
        """Decide every watchlist that applies to `source` for one item's plain text.

        Returns at most one Match per watchlist (certain, or `possible` per SPEC §5).
        """
        item = _Item(text)
        evidence = self._gather(self._scan(item, None), source)
        out: list[Match] = []
        for wi, ev in evidence.items():
            m = self._decide(wi, ev, item, None)
            if m is not None:
                out.append(m)
        return tuple(out)

    def explain(self, text: str, source: str) -> Explanation:
        """Like `match`, with the normalised text and, per watchlist, the reasons."""
        item = _Item(text)
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
            for rej in rejected:
                if any(rej.label == t for t in _terms_of(wl)):
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
                note(
                    f"person {wl.people[pi].name}: "
                    + ", ".join(_describe(item, h) for h in hits[:3])
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
            counted, near_used, tried = self._people_near(wi, ev, item, note)
            if counted:
                return self._build(wl, [*evidence, *near_used], counted, False, item)
            if tried:
                # SPEC §5: a listed person and a near term that miss the rules.
                people_hits = [h for hs in ev.people.values() for h in hs]
                return self._build(wl, [*evidence, *ev.near], people_hits, True, item)
            if note:
                note("listed person found but no `near` term")
            return None
        if wl.near:
            kept, near_used = self._terms_near(wl, ev.any, ev.near, item, note)
            if not kept:
                return None
            evidence = [*kept, *(h for hs in ev.all.values() for h in hs), *near_used]
        return self._build(wl, evidence, [], False, item)

    def _people_near(
        self, wi: int, ev: _Evidence, item: _Item, note: Callable[[str], None] | None
    ) -> tuple[list[Hit], list[Hit], bool]:
        """Person mentions that have a near term close enough (SPEC §5 proximity).

        Returns (counted person hits, near hits used, whether a near term was present).
        """
        wl = self.watchlists[wi]
        if not ev.near:
            return [], [], False
        mentions = self._mentions(wi, ev, item)
        counted: list[Hit] = []
        used: list[Hit] = []
        for hit in mentions:
            if _is_quoted_source(item, hit):
                if note is not None:
                    note(f"{_describe(item, hit)} is only the quoted source there")
                continue
            for near in ev.near:
                reason = self._proximity(hit, near, wl.within, item)
                if reason == "":
                    counted.append(hit)
                    used.append(near)
                    break
                if note is not None:
                    note(f"{_describe(item, hit)} / {_describe(item, near)}: {reason}")
        return counted, used, True

    def _mentions(self, wi: int, ev: _Evidence, item: _Item) -> list[Hit]:
        """Full mentions, plus later mentions by one name part (SPEC §5) when no other
        person found in the item shares that part."""
        mentions = [h for hs in ev.people.values() for h in hs]
        tokens = self._person_tokens[wi]
        owners: dict[str, set[int]] = {}
        for pi in ev.people:
            for tok in tokens.get(pi, ()):
                owners.setdefault(tok, set()).add(pi)
        text = item.text
        for pi, hits in ev.people.items():
            first_end = min(h.end for h in hits)
            role = hits[0].role
            for tok in tokens.get(pi, ()):
                if len(owners.get(tok, ())) > 1:
                    continue
                pos = text.find(tok, first_end)
                while pos >= 0:
                    end = pos + len(tok)
                    if self._is_name_part(item, pos, end, tok):
                        mentions.append(Hit(pos, end, role))
                    pos = text.find(tok, end)
        return mentions

    @staticmethod
    def _is_name_part(item: _Item, start: int, end: int, token: str) -> bool:
        text = item.text
        if is_khmer(token[0]):
            return starts_cluster(text, start) and ends_cluster(text, end)
        if (start > 0 and _is_word_char(text[start - 1])) or (
            end < len(text) and _is_word_char(text[end])
        ):
            return False
        # A name alone must be written as a name: "Am" yes, "I am" no.
        original = item.aligned.original
        at = item.aligned.to_original(start)
        return at < len(original) and original[at].isupper()

    def _proximity(self, person: Hit, near: Hit, within: int, item: _Item) -> str:
        """ "" if `near` is close enough to `person` (same sentence, or the next one when
        it refers back; at most `within` words between), else the reason it is not."""
        aligned = item.aligned
        s_person = aligned.sentence_of(person.start)
        s_near = aligned.sentence_of(near.start)
        if s_near != s_person:
            if s_near != s_person + 1:
                return "not in the same sentence"
            begin = aligned.sentences[s_near - 1] if s_near > 0 else 0
            if not _BACK_REFERENCE.search(item.text, begin, near.start):
                return "in the next sentence, which does not refer back to the person"
        lo, hi = (person.end, near.start) if person.end <= near.start else (near.end, person.start)
        gap = count_words(item.text[lo:hi]) if hi > lo else 0
        if gap > within:
            return f"{gap} words apart (within = {within})"
        return ""

    def _terms_near(
        self,
        wl: Watchlist,
        terms: list[Hit],
        nears: list[Hit],
        item: _Item,
        note: Callable[[str], None] | None,
    ) -> tuple[list[Hit], list[Hit]]:
        """With `near` and no people, an `any` term counts only near a near term."""
        kept: list[Hit] = []
        used: list[Hit] = []
        for hit in terms:
            for near in nears:
                if near.start == hit.start and near.end == hit.end:
                    continue
                reason = self._proximity(hit, near, wl.within, item)
                if reason == "":
                    kept.append(hit)
                    used.append(near)
                    break
                if note is not None:
                    note(f"{_describe(item, hit)} / {_describe(item, near)}: {reason}")
        if not nears and callable(note):
            note("no `near` term found")
        return kept, used

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
            snippet=snippet(item.aligned_until(first.end), first.start, first.end),
            possible=possible,
        )


# --- helpers ----------------------------------------------------------------------------


def snippet(aligned: Aligned, start: int, end: int, width: int = SNIPPET_CHARS) -> str:
    """About `width` characters of the ORIGINAL text around a hit, cut between words
    (or Khmer clusters), whitespace collapsed, `…` where it was cut."""
    original = aligned.original
    o_start = aligned.to_original(start)
    o_end = max(aligned.to_original(max(end - 1, start)) + 1, o_start)
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


def _is_quoted_source(item: _Item, hit: Hit) -> bool:
    """ "…, said Am Sam Ath." / "…, said Am Sam Ath, director of…": the person is only
    the source of the sentence (SPEC §5). "Police said Kem Sokha was arrested" is not."""
    if not _QUOTED_BEFORE.search(item.text, max(0, hit.start - 40), hit.start):
        return False
    original = item.aligned.original
    after = item.aligned.to_original(hit.end - 1) + 1
    rest = original[after : after + 8].lstrip(" \t\"'”’)")
    return not rest or rest[0] in ".,;:!?\n។៕"


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
    fuzzy = " (fuzzy)" if hit.fuzzy else ""
    return f"{hit.role.label!r} as '{found}'{fuzzy} at {_quote(item, hit.start)}"


def _quote(item: _Item, start: int) -> str:
    return f"word {item.text.count(' ', 0, start) + 1}"
