"""Pure decisions on whether an item may alert, and for which watchlists (SPEC §6).

No clock, database or network: the pipeline passes in what the store knows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from watcher.models import Item, Match


def eligible(item: Item, *, first_poll: bool, now: datetime, max_age: float) -> str | None:
    """Why this item may not alert at all, or None when it may.

    A new source's undated items are its back catalogue: recorded, not alerted.
    Anything published (else updated) longer ago than `max_age` never alerts.
    """
    when = item.when
    if when is None:
        return "undated item on the source's first poll" if first_poll else None
    age = (now - when).total_seconds()
    if age > max_age:
        return f"published {age / 86400:.1f} days ago, older than max_age"
    return None


def fresh_matches(matches: Sequence[Match], already: Mapping[str, bool]) -> tuple[Match, ...]:
    """The matches that deserve an alert, given what the story was already alerted for.

    `already` maps watchlist → True when that alert was only a possible match.
    A story alerts at most once per watchlist; a possible match that becomes
    certain alerts once more, as a match (SPEC §6).
    """
    out = []
    for match in matches:
        previous = already.get(match.watchlist)
        if previous is None or (previous and not match.possible):
            out.append(match)
    return tuple(out)


@dataclass(frozen=True)
class Queued:
    """One outbox row of a story's alerts, as `unsent_duplicates` needs it."""

    id: int
    channel: str
    alert_id: int
    watchlists: frozenset[str]
    pending: bool  # not yet sent nor being sent


def unsent_duplicates(rows: Sequence[Queued]) -> list[int]:
    """Outbox rows that repeat, unsent, what an earlier alert of the same story says.

    Two items can alert as two stories before a third ties them into one (a
    one-line repost sharing the original's link and a copy sharing its text,
    recorded before the original; SPEC §6). When the stories merge, the later
    alert's message, if still unsent, is dropped on each channel where earlier
    alerts of the story already cover all of its watchlists.
    """
    covered: dict[str, set[str]] = {}
    dropped = []
    for row in sorted(rows, key=lambda r: (r.alert_id, r.id)):
        seen = covered.setdefault(row.channel, set())
        if row.pending and seen and row.watchlists <= seen:
            dropped.append(row.id)
            continue
        seen |= row.watchlists
    return dropped
