"""What scanning an item finds: accepted `Hit`s, `Rejected` candidates (for explain),
and the `Evidence` one watchlist's decision is made from."""

from __future__ import annotations

from dataclasses import dataclass, field

from watcher.matching.automaton import Role


@dataclass(frozen=True, slots=True)
class Hit:
    """One accepted hit in the normalised text: [start, end) and the role it plays."""

    start: int
    end: int
    role: Role
    fuzzy: bool = False
    form: str = ""


@dataclass(frozen=True)
class Rejected:
    """A candidate the automaton found that the word or cluster rules refused."""

    start: int
    end: int
    label: str
    reason: str


@dataclass
class Evidence:
    """Hits of one item for one watchlist, gathered in one pass."""

    any: list[Hit] = field(default_factory=list)
    all: dict[int, list[Hit]] = field(default_factory=dict)
    none: list[Hit] = field(default_factory=list)
    near: list[Hit] = field(default_factory=list)
    people: dict[int, list[Hit]] = field(default_factory=dict)
