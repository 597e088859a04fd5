"""Pure decisions on who gets an alert, and when (SPEC §7 routing and digests)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, time, timedelta, tzinfo

from watcher.models import Alert, Channel, Severity

_DAILY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

RETRY_FIRST = 30.0  # seconds: the first retry comes within a minute
RETRY_CAP = 3600.0  # and delays double up to an hour


def route(alert: Alert, channels: Sequence[Channel]) -> list[tuple[Channel, tuple[str, ...]]]:
    """Each channel that gets this alert, with the watchlist names it gets it for.

    A channel gets a match when it lists the watchlist (or `*`), the match's
    severity reaches its `min_severity`, and, for a possible match, it has
    `possible = true`. A channel with `watchlists = []` gets nothing.
    """
    routed = []
    for channel in channels:
        names = tuple(
            m.watchlist
            for m in alert.matches
            if channel.wants(m.watchlist, m.severity) and (channel.possible or not m.possible)
        )
        if names:
            routed.append((channel, names))
    return routed


def due_time(
    channel: Channel,
    severity: Severity,
    now: datetime,
    tz: tzinfo,
    held_until: datetime | None = None,
) -> datetime:
    """When a new alert for `channel` should go out.

    Immediate channels and urgent alerts: now. `"1h"`-style digests: one period
    after the first alert the digest holds (`held_until` is the due time of what
    it already holds). `"08:00"`-style digests: the next such local time.
    """
    digest = channel.digest.strip()
    if not digest or severity >= Severity.URGENT:
        return now
    daily = _DAILY.match(digest)
    if daily:
        local = now.astimezone(tz)
        at = datetime.combine(local.date(), time(int(daily[1]), int(daily[2])), tzinfo=tz)
        if at <= local:
            at = datetime.combine(
                local.date() + timedelta(days=1), time(int(daily[1]), int(daily[2])), tzinfo=tz
            )
        return at.astimezone(now.tzinfo)
    period = _DURATION.match(digest)
    if period:
        if held_until is not None:
            return held_until
        return now + timedelta(seconds=float(period[1]) * _UNITS[period[2]])
    return now


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed send: 30 s, 60 s, … capped at 1 h."""
    return min(RETRY_CAP, RETRY_FIRST * 2.0 ** max(0, attempts - 1))
