"""Pure scheduling decisions of the daemon (SPEC §9): when a source is polled first after a
start or reload, how far its runs may drift, and how long one poll may take."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from watcher.models import Settings

START_SPREAD = 60.0  # first polls of due sources are spread over at most this many seconds


def poll_deadline(settings: Settings) -> float:
    """The hard limit, in seconds, on one poll of one source: fetch, parse, match, record.

    The fetcher's own `timeout` covers one request; this covers everything else (waiting
    for a per-host slot, fulltext pages, a parser that never returns).
    """
    return settings.timeout * 3 + 30.0


def first_poll(
    interval: float, last_poll: datetime | None, now: datetime, rng: random.Random
) -> datetime:
    """When a source is polled first after a (re)start or a reload.

    A source polled less than an interval ago keeps its cadence; one that is due is
    polled at a random point within `min(interval, START_SPREAD)`, so many due sources
    do not all go at once.
    """
    if last_poll is not None:
        due = last_poll + timedelta(seconds=interval)
        if due > now:
            return due
    return now + timedelta(seconds=rng.uniform(0, min(interval, START_SPREAD)))


def jitter(interval: float) -> float:
    """Seconds of random delay APScheduler may add to each run of a poll job: up to a
    tenth of the interval (at most a minute), so that sources that share an interval
    drift apart instead of polling in lockstep."""
    return min(interval * 0.1, 60.0)
