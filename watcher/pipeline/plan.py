"""What one poll records and sends, decided in one pure function (SPEC §6, §7).

`plan_poll(snapshot, observed, ...)` takes what the store knew when the poll's record began
(`Snapshot`, one batched read: `Store.poll_snapshot`) and the poll's new or changed items
(`Observed`), and returns a `PollPlan`: the stories to create, the stories to merge, the items
to save, the alerts and their outbox rows with due times, the fingerprints to keep. The store
applies it in one transaction (`Store.apply_plan`). No clock, database or network here: a
plan is tested with plain values (tests/test_plan.py).

The plan keeps the order in which a poll decides, because each decision sees the ones before
it: an item saved earlier in the poll gives later items its story by link; an alert makes
its watchlists "already alerted" for the story's later copies; a merge makes two stories'
alerts one. `_Working` holds that running state on top of the snapshot.

Stories created by the plan have negative ids (`-1`, `-2`, …) until the store gives them
real ones; every stored story sorts before every new one, as the store's own ids would
(which story of a merge is kept depends on it: the older).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from watcher.delivery.routing import due_time, route
from watcher.identity import stories
from watcher.identity.dedup import eligible, fresh_matches
from watcher.identity.keys import canonical_url, clean_url, names_one_article
from watcher.models import Alert, Channel, Item, Match, Source
from watcher.store.records import KnownItem


@dataclass(frozen=True)
class Observed:
    """One new or changed item of the poll, matched and fingerprinted."""

    item: Item
    key: str
    hash: str
    known: KnownItem | None
    matches: tuple[Match, ...]
    fingerprint: stories.Fingerprint | None


@dataclass(frozen=True)
class StoryFacts:
    """What the store knows of one story: the watchlists it alerted for (→ only as a
    possible match) and the sources that carried it, with when each first did."""

    alerts: Mapping[str, bool] = field(default_factory=dict)
    sources: tuple[tuple[str, float], ...] = ()  # (source, first seen), oldest first


@dataclass(frozen=True)
class Snapshot:
    """What one poll's decisions need from the store, read at once."""

    first_poll: bool  # the source has no stored item yet
    # This source's stored items by canonical link: (item id, title), by id.
    link_titles: Mapping[str, tuple[tuple[int, str], ...]] = field(default_factory=dict)
    # The story of the first stored item (any source) with each canonical link…
    item_story: Mapping[str, int] = field(default_factory=dict)
    # …else of the first story created with it.
    canonical_story: Mapping[str, int] = field(default_factory=dict)
    # Stored copies sharing a band with each observed item's fingerprint (by item key).
    candidates: Mapping[str, tuple[stories.Candidate, ...]] = field(default_factory=dict)
    stories: Mapping[int, StoryFacts] = field(default_factory=dict)
    digest_held: Mapping[str, datetime | None] = field(default_factory=dict)  # by channel


@dataclass(frozen=True)
class NewStory:
    ref: int  # negative: a story this plan creates
    canonical: str | None
    title: str


@dataclass(frozen=True)
class Merge:
    keep: int
    drop: int


@dataclass(frozen=True)
class SaveItem:
    observed: Observed
    canonical: str | None
    story: int
    first_poll: bool
    fingerprint_at: datetime  # the item's date, for its fingerprint


@dataclass(frozen=True)
class Delivery:
    channel: str
    due: datetime
    watchlists: tuple[str, ...]


@dataclass(frozen=True)
class AddAlert:
    key: str  # the item's key in this poll (the item is saved by an earlier step)
    story: int
    alert: Alert
    deliveries: tuple[Delivery, ...]


Step = NewStory | Merge | SaveItem | AddAlert


@dataclass(frozen=True)
class Skipped:
    """A matched item that may not alert (SPEC §6), and why: for the log."""

    title: str
    reason: str


@dataclass(frozen=True)
class PollPlan:
    """Everything one poll records, in the order it was decided."""

    steps: tuple[Step, ...]
    new_items: int
    changed_items: int
    skipped: tuple[Skipped, ...] = ()

    @property
    def alerts(self) -> tuple[AddAlert, ...]:
        return tuple(s for s in self.steps if isinstance(s, AddAlert))


def _order(ref: int) -> tuple[int, int]:
    """Stored stories (positive ids) before new ones (negative, in creation order)."""
    return (1, -ref) if ref < 0 else (0, ref)


class _Working:
    """The store as the plan has changed it so far: the snapshot plus the plan's steps."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.merged: dict[int, int] = {}
        self.item_story = dict(snapshot.item_story)
        self.canonical_story = dict(snapshot.canonical_story)
        self.link_titles = {c: dict(rows) for c, rows in snapshot.link_titles.items()}
        self.item_canonical = {i: c for c, rows in snapshot.link_titles.items() for i, _ in rows}
        self.alerts = {s: dict(f.alerts) for s, f in snapshot.stories.items()}
        self.sources = {s: dict(f.sources) for s, f in snapshot.stories.items()}
        self.held = dict(snapshot.digest_held)
        self.next_ref = -1
        self.new_titles: dict[str, list[str]] = {}  # canonical → titles of new items

    def resolve(self, story: int | None) -> int | None:
        while story is not None and story in self.merged:
            story = self.merged[story]
        return story

    def titles(self, canonical: str) -> list[str]:
        stored = [t for _, t in sorted(self.link_titles.get(canonical, {}).items())]
        return stored + self.new_titles.get(canonical, [])

    def story_by_link(self, canonical: str) -> int | None:
        found = self.item_story.get(canonical)
        if found is None:
            found = self.canonical_story.get(canonical)
        return self.resolve(found)

    def new_story(self, canonical: str | None) -> int:
        ref = self.next_ref
        self.next_ref -= 1
        if canonical and canonical not in self.canonical_story:
            self.canonical_story[canonical] = ref
        return ref

    def merge(self, keep: int, drop: int) -> None:
        self.merged[drop] = keep
        mine, theirs = self.alerts.setdefault(keep, {}), self.alerts.pop(drop, {})
        for watchlist, possible in theirs.items():
            mine[watchlist] = possible and mine.get(watchlist, True)
        carried = self.sources.setdefault(keep, {})
        for source, first in self.sources.pop(drop, {}).items():
            carried[source] = min(first, carried.get(source, first))

    def saved(
        self, known: KnownItem | None, canonical: str | None, title: str, story: int, source: str
    ) -> None:
        if known is not None and known.id in self.item_canonical:
            del self.link_titles[self.item_canonical.pop(known.id)][known.id]
        if canonical:
            if known is not None:
                self.link_titles.setdefault(canonical, {})[known.id] = title
                self.item_canonical[known.id] = canonical
            else:
                self.new_titles.setdefault(canonical, []).append(title)
            self.item_story.setdefault(canonical, story)
        # A new item is seen now, after everything stored: its source sorts last.
        carried = self.sources.setdefault(story, {})
        carried.setdefault(source, float("inf"))

    def story_sources(self, story: int) -> list[str]:
        carried = self.sources.get(story, {})
        return [s for s, _ in sorted(carried.items(), key=lambda kv: kv[1])]


def plan_poll(
    snapshot: Snapshot,
    observed: Sequence[Observed],
    *,
    source: Source,
    channels: Sequence[Channel],
    max_age: float,
    tz: tzinfo,
    now: datetime,
) -> PollPlan:
    """What this poll records and sends (see the module's docstring)."""
    work = _Working(snapshot)
    steps: list[Step] = []
    skipped: list[Skipped] = []
    first_poll = snapshot.first_poll
    for obs in observed:
        item = obs.item
        canonical = canonical_url(item.link) if item.link else None
        dated = min(item.when or now, now)  # a date in the future is a feed's error
        story = work.resolve(obs.known.story_id if obs.known else None)
        if story is None:
            story = _resolve_story(work, steps, obs, source, canonical, dated)
        elif obs.fingerprint is not None and obs.known and not obs.known.fingerprinted:
            story = _join_copies(work, steps, obs, source, story, dated)
        work.saved(obs.known, canonical, item.title, story, source.name)
        steps.append(SaveItem(obs, canonical, story, first_poll, dated))
        if not obs.matches:
            continue
        # An item of the first poll's back catalogue stays one when edited later.
        back_catalogue = first_poll or (obs.known is not None and obs.known.first_poll)
        why_not = eligible(item, first_poll=back_catalogue, now=now, max_age=max_age)
        if why_not:
            skipped.append(Skipped(item.title, why_not))
            continue
        matches = fresh_matches(obs.matches, work.alerts.get(story, {}))
        if not matches:
            continue
        others = tuple(s for s in work.story_sources(story) if s != source.name)
        alert = Alert(
            title=item.title or "(untitled)",
            link=clean_url(item.link) if item.link else source.url,
            source=source.name,
            matches=matches,
            published=item.when,
            also_reported_by=others,
        )
        alerted = work.alerts.setdefault(story, {})
        for match in matches:
            alerted[match.watchlist] = match.possible
        deliveries = []
        for channel, names in route(alert, channels):
            severity = max(m.severity for m in matches if m.watchlist in names)
            due = due_time(channel, severity, now, tz, work.held.get(channel.name))
            if due > now:  # held by a digest: what digest_held_until now finds
                held = work.held.get(channel.name)
                work.held[channel.name] = due if held is None else min(held, due)
            deliveries.append(Delivery(channel.name, due, tuple(names)))
        steps.append(AddAlert(obs.key, story, alert, tuple(deliveries)))
    new = sum(1 for o in observed if o.known is None)
    return PollPlan(tuple(steps), new, len(observed) - new, tuple(skipped))


def _resolve_story(
    work: _Working,
    steps: list[Step],
    obs: Observed,
    source: Source,
    canonical: str | None,
    dated: datetime,
) -> int:
    """The story a new item belongs to (SPEC §6), creating or merging stories as needed.

    The same canonical link from any source, else a near-identical text from another
    source within 7 days (watcher.identity.stories), else a new story.
    """
    item = obs.item
    by_link = by_text = None
    if canonical and names_one_article(canonical, item.title, work.titles(canonical)):
        by_link = work.story_by_link(canonical)
    if obs.fingerprint is not None:
        by_text = _story_by_text(work, obs, source, dated)
    if by_link is not None and by_text is not None and by_link != by_text:
        # This item ties two stories together: a repost that shares only the original's
        # link and a copy that shares only its text, recorded before the original. They
        # are one story (SPEC §6), whatever order sources finished in, so what either was
        # alerted for now counts for both.
        return _merge(work, steps, by_link, by_text)
    found = by_link if by_link is not None else by_text
    if found is not None:
        return found
    ref = work.new_story(canonical)
    steps.append(NewStory(ref, canonical, item.title))
    return ref


def _join_copies(
    work: _Working, steps: list[Step], obs: Observed, source: Source, story: int, dated: datetime
) -> int:
    """The story of a stored item fingerprinted for the first time (it newly matches).

    Only items that match are fingerprinted (watcher.pipeline.analysis), so this item's
    text copies from other sources may have been recorded, and alerted, as a story of
    their own while it matched nothing. They are one story (SPEC §6): the two merge,
    and what the copies were alerted for counts for this item too.
    """
    by_text = _story_by_text(work, obs, source, dated)
    if by_text is None or by_text == story:
        return story
    return _merge(work, steps, story, by_text)


def _story_by_text(work: _Working, obs: Observed, source: Source, dated: datetime) -> int | None:
    """The story whose stored copy of another source is most like the item's text."""
    assert obs.fingerprint is not None
    candidates = [
        c if (s := work.resolve(c.story_id)) == c.story_id else _restory(c, s)
        for c in work.snapshot.candidates.get(obs.key, ())
    ]
    return stories.choose_story(obs.fingerprint, source.name, dated, candidates)


def _merge(work: _Working, steps: list[Step], one: int, other: int) -> int:
    """Fold two stories into the older one; returns it."""
    keep, drop = sorted((one, other), key=_order)
    steps.append(Merge(keep, drop))
    work.merge(keep, drop)
    return keep


def _restory(candidate: stories.Candidate, story: int | None) -> stories.Candidate:
    return stories.Candidate(
        story if story is not None else candidate.story_id,
        candidate.source,
        candidate.at,
        candidate.signature,
        candidate.numbers,
    )
