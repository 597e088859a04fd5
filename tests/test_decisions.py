"""The pure decisions: eligibility, fresh matches, routing, digest timing, retry delays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from watcher.delivery.routing import due_time, retry_delay, route
from watcher.identity.dedup import Queued, eligible, fresh_matches, unsent_duplicates
from watcher.models import Alert, Channel, Item, Match, Severity

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 10:00 in Phnom Penh
PP = ZoneInfo("Asia/Phnom_Penh")
WEEK = 7 * 86400.0


def _item(when: datetime | None) -> Item:
    return Item(source="s", guid="g", link=None, title="t", published=when)


def test_undated_items_on_first_poll_do_not_alert() -> None:
    assert eligible(_item(None), first_poll=True, now=NOW, max_age=WEEK) is not None
    assert eligible(_item(None), first_poll=False, now=NOW, max_age=WEEK) is None


def test_dated_items_on_first_poll_alert_when_recent() -> None:
    recent = _item(NOW - timedelta(hours=2))
    assert eligible(recent, first_poll=True, now=NOW, max_age=WEEK) is None


def test_items_older_than_max_age_never_alert() -> None:
    old = _item(NOW - timedelta(days=8))
    reason = eligible(old, first_poll=False, now=NOW, max_age=WEEK)
    assert reason is not None and "max_age" in reason


def test_updated_time_counts_when_no_published_time() -> None:
    item = Item(source="s", guid="g", link=None, title="t", updated=NOW - timedelta(days=30))
    assert eligible(item, first_poll=False, now=NOW, max_age=WEEK) is not None


def _m(name: str, possible: bool = False, severity: Severity = Severity.HIGH) -> Match:
    return Match(watchlist=name, severity=severity, possible=possible)


def test_a_story_alerts_once_per_watchlist() -> None:
    assert fresh_matches([_m("A")], {"A": False}) == ()
    assert fresh_matches([_m("A"), _m("B")], {"A": False}) == (_m("B"),)


def test_possible_then_certain_alerts_again_but_not_the_reverse() -> None:
    assert fresh_matches([_m("A")], {"A": True}) == (_m("A"),)
    assert fresh_matches([_m("A", possible=True)], {"A": True}) == ()
    assert fresh_matches([_m("A", possible=True)], {"A": False}) == ()


def _alert(*matches: Match) -> Alert:
    return Alert(title="t", link="https://x.org/a", source="s", matches=matches)


def test_route_by_watchlist_severity_and_possible() -> None:
    everyone = Channel(name="all", url="json://x")
    high_only = Channel(name="high", url="json://x", min_severity=Severity.HIGH)
    arrests = Channel(name="arrests", url="json://x", watchlists=("Arrests",))
    review = Channel(name="review", url="json://x", possible=True)
    admin = Channel(name="ops", url="json://x", watchlists=())
    channels = [everyone, high_only, arrests, review, admin]
    alert = _alert(_m("Sub-decrees", severity=Severity.NORMAL), _m("Arrests", possible=True))
    routed = {c.name: names for c, names in route(alert, channels)}
    assert routed == {"all": ("Sub-decrees",), "review": ("Sub-decrees", "Arrests")}


def test_immediate_and_urgent_are_due_now() -> None:
    daily = Channel(name="d", url="json://x", digest="08:00")
    assert due_time(Channel(name="i", url="json://x"), Severity.LOW, NOW, PP) == NOW
    assert due_time(daily, Severity.URGENT, NOW, PP) == NOW


def test_daily_digest_is_due_at_the_next_local_time() -> None:
    daily = Channel(name="d", url="json://x", digest="08:00")
    due = due_time(daily, Severity.HIGH, NOW, PP)
    assert due.astimezone(PP) == datetime(2026, 11, 26, 8, 0, tzinfo=PP)
    early = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # 06:00 local
    assert due_time(daily, Severity.HIGH, early, PP).astimezone(PP).day == 25


def test_hourly_digest_goes_one_hour_after_its_first_alert() -> None:
    hourly = Channel(name="h", url="json://x", digest="1h")
    first = due_time(hourly, Severity.HIGH, NOW, PP)
    assert first == NOW + timedelta(hours=1)
    later = due_time(hourly, Severity.HIGH, NOW + timedelta(minutes=20), PP, held_until=first)
    assert later == first


def test_retry_delays_double_and_cap_at_an_hour() -> None:
    delays = [retry_delay(n) for n in range(1, 10)]
    assert delays[0] <= 60
    assert delays[1] == 2 * delays[0]
    assert max(delays) == 3600


# -- unsent duplicates after a story merge (watcher.identity.dedup.unsent_duplicates) ------------


def _queued(id: int, alert: int, watchlists: set[str], *, channel: str = "signal",
            pending: bool = True) -> Queued:  # fmt: skip
    return Queued(id, channel, alert, frozenset(watchlists), pending)


def test_a_later_unsent_alert_covered_by_an_earlier_one_is_dropped() -> None:
    rows = [_queued(2, 2, {"Arrests"}), _queued(1, 1, {"Arrests", "Decrees"})]
    assert unsent_duplicates(rows) == [2]


def test_the_earliest_alert_is_kept_even_when_it_is_unsent() -> None:
    assert unsent_duplicates([_queued(1, 1, {"Arrests"}), _queued(2, 2, {"Arrests"})]) == [2]


def test_a_later_alert_with_a_new_watchlist_still_goes_out() -> None:
    rows = [_queued(1, 1, {"Arrests"}), _queued(2, 2, {"Arrests", "Decrees"})]
    assert unsent_duplicates(rows) == []


def test_a_message_already_sent_is_never_dropped() -> None:
    rows = [_queued(1, 1, {"Arrests"}), _queued(2, 2, {"Arrests"}, pending=False)]
    assert unsent_duplicates(rows) == []


def test_channels_are_judged_apart() -> None:
    rows = [
        _queued(1, 1, {"Arrests"}, channel="signal"),
        _queued(2, 2, {"Arrests"}, channel="email"),
        _queued(3, 2, {"Arrests"}, channel="signal"),
    ]
    assert unsent_duplicates(rows) == [3]
