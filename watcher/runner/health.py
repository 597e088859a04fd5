"""Stale-source checks: tell the admin channel, once, when a source has been failing
for longer than `stale_after`, and once again when it recovers (SPEC §8, §4).

`decide_stale` is the pure decision over remembered source states; `check_stale` is the
thin shell that queues the notices in the outbox and remembers that they were queued,
in one transaction, so a crash can neither lose nor repeat a report. Source failures
go only to the admin channel, never to staff channels; without an admin channel they
are only logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

from watcher.delivery.messages import format_time
from watcher.delivery.send import tell_admin
from watcher.models import Config, Source
from watcher.store.sqlite import SourceState, Store

log = logging.getLogger("watcher.health")


@dataclass(frozen=True)
class StaleNotice:
    """One report about one source: it went stale, or it recovered."""

    source: str
    kind: Literal["stale", "recovered"]
    title: str
    body: str


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h".replace(".0 h", " h")
    return f"{round(seconds / 60)} min"


def decide_stale(
    sources: Sequence[Source],
    states: Mapping[str, SourceState],
    now: datetime,
    stale_after: float,
    tz: tzinfo,
) -> list[StaleNotice]:
    """The reports due now, one per source at most.

    A source failing since at least `stale_after` ago and not yet reported is
    "stale"; a source reported stale whose failure streak has ended (a poll
    succeeded, which clears `failing_since`) is "recovered". Sources no longer in
    the config are left alone.
    """
    notices = []
    for source in sources:
        state = states.get(source.name)
        if state is None:
            continue
        if state.failing_since is not None and not state.stale_reported:
            failing_for = (now - state.failing_since).total_seconds()
            if failing_for >= stale_after:
                notices.append(
                    StaleNotice(
                        source.name,
                        "stale",
                        f"watcher: source failing: {source.name}",
                        f"{source.name} has failed every poll for {_hours(failing_for)}, "
                        f"since {format_time(state.failing_since, tz)} "
                        f"({state.failures} failed polls).\n"
                        f"Last error: {state.last_error or 'unknown'}\n"
                        "Alerts from this source are missed until it works again; "
                        "check its URL, or whether the site changed or blocks us.",
                    )
                )
        elif state.failing_since is None and state.stale_reported:
            since = format_time(state.last_success, tz) if state.last_success else "now"
            notices.append(
                StaleNotice(
                    source.name,
                    "recovered",
                    f"watcher: source working again: {source.name}",
                    f"{source.name} was polled successfully at {since}; "
                    "its alerts are flowing again.",
                )
            )
    return notices


def check_stale(config: Config, store: Store, now: datetime) -> list[StaleNotice]:
    """Queue due stale/recovered reports for the admin channel; returns them.

    Call after polling (as `watcher once` does) or on a schedule (the daemon). Each
    report is queued (through `delivery.tell_admin`, which redacts secrets: an error
    text can quote a URL) and marked reported in one transaction; with no
    admin channel configured it is logged instead, and still marked, so it is told once.
    """
    tz = ZoneInfo(config.settings.timezone)
    notices = decide_stale(
        config.sources, store.all_source_states(), now, config.settings.stale_after, tz
    )
    reported = []
    for notice in notices:
        with store.atomic():
            # Several instances may decide the same report at once (SPEC §11): the one
            # that flips the flag tells the admin channel, the others see it flipped.
            if not store.set_stale_reported(notice.source, notice.kind == "stale"):
                continue
            told = tell_admin(config, store, now, notice.title, notice.body)
        reported.append(notice)
        log.warning(
            "event=source-%s source=%s admin_channel=%s",
            notice.kind,
            notice.source,
            config.settings.admin_channel if told else "none",
        )
    return reported
