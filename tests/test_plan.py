"""The poll planner (watcher.pipeline.plan): what one poll records and sends, decided from
plain values, without a database (SPEC §6 stories and dedup, §7 outbox due times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from watcher.identity import stories
from watcher.models import Channel, Item, Match, Severity, Source
from watcher.pipeline.plan import (
    AddAlert,
    Merge,
    NewStory,
    Observed,
    SaveItem,
    Snapshot,
    StoryFacts,
    plan_poll,
)
from watcher.store.records import KnownItem

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
SOURCE = Source(name="Civic", url="https://civic.example/feed")
SIGNAL = Channel(name="signal", url="json://x")
DIGEST = Channel(name="digest", url="json://y", digest="1h")
SUBDECREES = Match("Sub-decrees", Severity.HIGH, terms=("sub-decree",))
ARRESTS = Match("Arrests", Severity.URGENT, terms=("arrested",))
BODY = " ".join(f"word{n * 7919 % 1000}" for n in range(120))


def _obs(
    key: str,
    title: str = "Sub-decree adopted",
    link: str | None = "https://civic.example/a",
    *,
    matches: tuple[Match, ...] = (SUBDECREES,),
    when: datetime | None = NOW - timedelta(hours=1),
    known: KnownItem | None = None,
    text: str = "",
) -> Observed:
    item = Item(source=SOURCE.name, guid=key, link=link, title=title, content=text, published=when)
    fingerprint = stories.fingerprint(item) if text else None
    return Observed(item, key, f"hash-{key}", known, matches, fingerprint)


def _plan(snapshot: Snapshot, *observed: Observed, channels: tuple[Channel, ...] = (SIGNAL,)):  # type: ignore[no-untyped-def]
    return plan_poll(
        snapshot, observed, source=SOURCE, channels=channels, max_age=7 * 86400.0, tz=UTC, now=NOW
    )


def test_a_new_matching_item_is_a_new_story_with_one_alert_due_now() -> None:
    plan = _plan(Snapshot(first_poll=False), _obs("g1"))
    new, save, alert = plan.steps
    assert isinstance(new, NewStory) and new.ref < 0 and new.canonical == "civic.example/a"
    assert isinstance(save, SaveItem) and save.story == new.ref
    assert isinstance(alert, AddAlert) and alert.story == new.ref
    assert [(d.channel, d.due, d.watchlists) for d in alert.deliveries] == [
        ("signal", NOW, ("Sub-decrees",))
    ]
    assert plan.new_items == 1 and plan.changed_items == 0


def test_a_story_already_alerted_for_a_watchlist_alerts_only_for_a_new_one() -> None:
    snapshot = Snapshot(
        first_poll=False,
        item_story={"civic.example/a": 7},
        stories={7: StoryFacts({"Sub-decrees": False}, (("Mekong", 1.0),))},
    )
    plan = _plan(snapshot, _obs("g1", matches=(SUBDECREES, ARRESTS)))
    (alert,) = plan.alerts
    assert alert.story == 7
    assert [m.watchlist for m in alert.alert.matches] == ["Arrests"]
    assert alert.alert.also_reported_by == ("Mekong",)
    assert not any(isinstance(s, NewStory) for s in plan.steps)


def test_two_copies_in_one_poll_are_one_story_and_one_alert() -> None:
    # The second item finds the first's story by link, and its alert as already sent.
    plan = _plan(Snapshot(first_poll=False), _obs("g1"), _obs("g2"))
    saves = [s for s in plan.steps if isinstance(s, SaveItem)]
    assert len(saves) == 2 and saves[0].story == saves[1].story
    assert len(plan.alerts) == 1


def test_an_item_tying_two_stories_merges_them_into_the_older() -> None:
    text = BODY
    copy = stories.fingerprint(Item(source="x", guid="c", link=None, title="t", content=text))
    assert copy is not None
    # The link points at story 5 (alerted for Sub-decrees); the text at story 3's copy
    # from another source (alerted for nothing yet).
    snapshot = Snapshot(
        first_poll=False,
        item_story={"civic.example/a": 5},
        candidates={"g1": (stories.Candidate(3, "Mekong", NOW, copy.signature, copy.numbers),)},
        stories={
            3: StoryFacts({}, (("Mekong", 1.0),)),
            5: StoryFacts({"Sub-decrees": False}, (("Reposts", 2.0),)),
        },
    )
    plan = _plan(snapshot, _obs("g1", title="t", text=text))
    merges = [s for s in plan.steps if isinstance(s, Merge)]
    assert merges == [Merge(keep=3, drop=5)]
    # What story 5 was alerted for counts for the merged story: no second alert.
    assert plan.alerts == ()


def test_a_first_polls_undated_item_is_recorded_not_alerted() -> None:
    plan = _plan(Snapshot(first_poll=True), _obs("g1", when=None))
    assert plan.alerts == ()
    assert [s.reason for s in plan.skipped] == ["undated item on the source's first poll"]
    save = next(s for s in plan.steps if isinstance(s, SaveItem))
    assert save.first_poll


def test_a_digest_gathers_a_polls_alerts_under_one_due_time() -> None:
    plan = _plan(
        Snapshot(first_poll=False),
        _obs("g1", "Sub-decree one", "https://civic.example/1"),
        _obs("g2", "Sub-decree two", "https://civic.example/2"),
        channels=(DIGEST,),
    )
    first, second = plan.alerts
    assert first.deliveries[0].due == NOW + timedelta(hours=1)
    assert second.deliveries[0].due == first.deliveries[0].due


def test_a_known_item_keeps_its_story_and_an_edit_alerts_only_newly() -> None:
    known = KnownItem(id=11, content_hash="old", story_id=4)
    snapshot = Snapshot(
        first_poll=False,
        link_titles={"civic.example/a": ((11, "Sub-decree adopted"),)},
        stories={4: StoryFacts({"Sub-decrees": False}, (("Civic", 1.0),))},
    )
    plan = _plan(snapshot, _obs("g1", matches=(SUBDECREES, ARRESTS), known=known))
    (save,) = [s for s in plan.steps if isinstance(s, SaveItem)]
    assert save.story == 4 and plan.changed_items == 1
    (alert,) = plan.alerts
    assert [m.watchlist for m in alert.alert.matches] == ["Arrests"]
    assert alert.alert.also_reported_by == ()


def test_a_known_item_fingerprinted_for_the_first_time_joins_its_alerted_copy() -> None:
    """Only matching items are fingerprinted: an item stored while it matched nothing has
    a story of its own; when an edit makes it match, its copy's story is found by text
    and the two merge, so the watchlist the copy alerted for is not alerted again."""
    obs = _obs("g1", matches=(ARRESTS,), text=BODY, known=KnownItem(11, "old", 4, False, False))
    assert obs.fingerprint is not None
    copy = stories.Candidate(2, "Mekong", NOW - timedelta(hours=2), obs.fingerprint.signature)
    snapshot = Snapshot(
        first_poll=False,
        candidates={"g1": (copy,)},
        stories={
            4: StoryFacts({}, (("Civic", 1.0),)),
            2: StoryFacts({"Arrests": False}, (("Mekong", 0.5),)),
        },
    )
    plan = _plan(snapshot, obs)
    merge, save = plan.steps
    assert merge == Merge(keep=2, drop=4)
    assert isinstance(save, SaveItem) and save.story == 2
    assert plan.alerts == ()
    # Already fingerprinted (its story took its copies into account): no lookup, no merge.
    again = _obs("g1", matches=(ARRESTS,), text=BODY, known=KnownItem(11, "old", 4, False, True))
    plan = _plan(snapshot, again)
    assert not any(isinstance(s, Merge) for s in plan.steps)
    (alert,) = plan.alerts
    assert alert.story == 4
