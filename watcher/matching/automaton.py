"""Compiled patterns: the roles a pattern plays and the Aho-Corasick automaton they live in.

A pattern string (a normalised term, a stem, a name in one order) may serve several
watchlists in several roles; `Automaton` keeps one entry per string and, behind it, the
`Group`s of boundary rules and the `Role`s each plays. One pass of the automaton over an
item's text finds every candidate whatever the number of watchlists and people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import ahocorasick_rs

from watcher.text.khmer import is_khmer

# Roles a hit can play for one watchlist.
ANY: Final = -1
NONE: Final = -2
NEAR: Final = -3
PERSON: Final = -4
ANCHOR: Final = -5  # one part of a fuzzy name; the other is looked up around the hit

# Forms of a listed person's name, as `explain` shows them.
FORM_NAME: Final = "full name"
FORM_OTHER_ORDER: Final = "name in the other order"
FORM_ALONE: Final = "name part alone, after a full mention"


@dataclass(frozen=True, slots=True)
class Role:
    """What a hit of one pattern means for one watchlist."""

    watchlist: int
    slot: int  # ANY, NONE, NEAR, PERSON, ANCHOR, or the index of an `all` requirement
    label: str  # the term as configured, or the person's display name
    person: int = -1
    form: str = ""  # people: which written form of the name this pattern is


@dataclass(slots=True)
class Group:
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
    roles: list[Role] = field(default_factory=list)


class Automaton:
    """Pattern strings → groups, compiled into one Aho-Corasick automaton."""

    def __init__(self) -> None:
        self.patterns: dict[str, int] = {}
        self.groups: list[list[Group]] = []
        self.automaton: ahocorasick_rs.AhoCorasick | None = None
        self.compiled_patterns: tuple[str, ...] = ()  # every pattern, if compile kept them

    def add(self, pattern: str, group: Group, role: Role) -> None:
        """Give `pattern` the role `role` under `group`'s rules (merged with an equal group)."""
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

    def compile(self, *, keep_patterns: bool = False) -> None:
        """Build the automaton over every pattern added (none: `find` finds nothing).

        A contiguous NFA, not a DFA: with the benchmark's 500 people the DFA took
        5.4 MiB (23 MiB with 3,000 people) against 0.4 (1.1), in every process that
        matches, and saved ~6 µs a 1.7 kB item (bench/match_profile.py: 0.071 →
        0.065 ms an item).
        """
        if self.patterns:
            self.automaton = ahocorasick_rs.AhoCorasick(
                list(self.patterns), implementation=ahocorasick_rs.Implementation.ContiguousNFA
            )
        # Only `add` needs the index; the archive search's pre-filter (`Matcher.needles`)
        # the strings, which the poll's matchers do not keep (memory in every worker).
        if keep_patterns:
            self.compiled_patterns = tuple(self.patterns)
        self.patterns = {}

    def find(self, text: str) -> list[tuple[int, int, int]]:
        """Every (pattern index, start, end) in `text`, overlapping ones included."""
        if self.automaton is None or not text:
            return []
        result: list[tuple[int, int, int]] = self.automaton.find_matches_as_indexes(
            text, overlapping=True
        )
        return result


def is_word_char(ch: str) -> bool:
    """Whether `ch` continues a Latin word (Khmer letters do not: clusters have rules)."""
    return ch.isalnum() and not is_khmer(ch)


def exact_group(pattern: str, acronym: str = "") -> Group:
    """A group for a pattern that must stand as a whole word (or whole Khmer clusters)."""
    return Group("exact", (), (), 0, acronym, not is_khmer(pattern[0]), not is_khmer(pattern[-1]))
