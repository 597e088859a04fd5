"""What an item says, decided without I/O: its watchlist matches and its story fingerprint.

This is the CPU-heavy part of a poll (matching and MinHash cost about as much as parsing
itself), kept apart from the pipeline so that it can run in the pool's worker
processes (watcher.pipeline.pool) as well as in a thread of the main process: the same
function gives the same answer in either place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from watcher.identity import stories
from watcher.matching import Matcher
from watcher.models import Item, Match


@dataclass(frozen=True)
class Analysis:
    """One item's matches (empty: none) and its fingerprint: None when it matches no
    watchlist (it can never alert, so its story by text cannot matter; docs/stories.md)
    or when its text is too short to judge by."""

    matches: tuple[Match, ...]
    fingerprint: stories.Fingerprint | None


@dataclass(frozen=True)
class Job:
    """One item to analyse, with the text of its page when the source has `fulltext`."""

    item: Item
    page_text: str | None = None


def matched_text(item: Item, page_text: str | None) -> str:
    """What matching reads of an item, and what its evidence keeps: the item's own text,
    plus the fetched page's text with `fulltext = true` (SPEC §5, §10)."""
    return f"{item.text}\n\n{page_text}" if page_text else item.text


def analyse(matcher: Matcher, source: str, jobs: Sequence[Job]) -> list[Analysis]:
    """Match each item of `source`, in order, and fingerprint the ones that match.

    Only a candidate (an item matching a watchlist, certainly or possibly) is given a
    fingerprint: an item that matches nothing never alerts, so which story its text
    belongs to changes no message, and at ~5 % of items matching the story index is
    ~20 times smaller (issue 17). An item that matches later, when edited, is
    fingerprinted then and joined to its copies (watcher.pipeline.plan).
    """
    found = []
    for job in jobs:
        matches = matcher.match(matched_text(job.item, job.page_text), source)
        found.append(Analysis(matches, stories.fingerprint(job.item) if matches else None))
    return found
