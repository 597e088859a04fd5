"""What every source parser shares: its error type and lenient date reading."""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from watcher.models import Item


class SourceError(Exception):
    """A source's body could not be read as items; the message is for a person."""


@dataclass(frozen=True)
class Parsed:
    """What one fetched document holds: its items and, for an index, the further
    documents of the same source to read (newest first; the pipeline fetches them)."""

    items: list[Item]
    children: tuple[str, ...] = ()
    too_old: int = 0  # items dropped while parsing: older than max_age (sources.limits)
    cut: tuple[str, ...] = ()  # titles of items whose text was cut (sources.limits)


_KHMER_DIGITS = str.maketrans("០១២៣៤៥៦៧៨៩", "0123456789")

# Khmer solar month names as Cambodian ministries and newspapers print them
# ("ថ្ងៃទី២៥ ខែវិច្ឆិកា ឆ្នាំ២០២៦"). កុម្ភៈ is also written without its visarga-like
# sign, and មិថុនា/មិថុណា both occur in print.
_KHMER_MONTHS = {
    "មករា": "January",
    "កុម្ភៈ": "February",
    "កុម្ភះ": "February",
    "កុម្ភ": "February",
    "មីនា": "March",
    "មេសា": "April",
    "ឧសភា": "May",
    "មិថុនា": "June",
    "មិថុណា": "June",
    "កក្កដា": "July",
    "សីហា": "August",
    "កញ្ញា": "September",
    "តុលា": "October",
    "វិច្ឆិកា": "November",
    "ធ្នូ": "December",
}
_KHMER_MONTH_RE = re.compile("|".join(sorted(_KHMER_MONTHS, key=len, reverse=True)))
# Afternoon/evening/night words turn "ម៉ោង ៣ រសៀល" (3 in the afternoon) into 15:00.
_KHMER_PM = re.compile("រសៀល|ល្ងាច|យប់")
_KHMER_LETTERS = re.compile("[\u1780-\u17ff\u19e0-\u19ff]+")

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_WORD = re.compile(r"[a-z]+")
_TIME = re.compile(
    r"(?<!\d)(\d{1,2})[:h](\d{2})(?::(\d{2}))?(?:\s*([ap])\.?m\.?)?(?![\d])"
    r"|(?<!\d)(\d{1,2})\s*([ap])\.?m\b",
    re.IGNORECASE,
)
_OFFSET = re.compile(r"(?:(?<=\d)|\s)(?:utc|gmt)?\s*([+-])(\d{2}):?(\d{2})\b|\b(utc|gmt|z)\b")
_NUMERIC = re.compile(r"(?<!\d)(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})(?!\d)")
_YEAR = re.compile(r"(?<!\d)(19\d{2}|20\d{2})(?!\d)")
_DAY = re.compile(r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?(?!\d)")
_ZONE_NAMES = {"ict": 7 * 60}  # Indochina Time, printed by some Cambodian sites


def _zone(tz: str | tzinfo | None) -> tzinfo:
    if tz is None:
        return UTC
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def parse_date(text: str | None, tz: str | tzinfo | None = None) -> datetime | None:
    """Read a date leniently; returns an aware datetime, or None rather than a guess.

    Reads RFC 822, ISO 8601, English forms ("25 November 2026", "Nov. 25, 2026,
    3:05 pm", "25/11/2026"), and Khmer ones with Khmer numerals and month names
    ("ថ្ងៃទី២៥ ខែវិច្ឆិកា ឆ្នាំ២០២៦ ម៉ោង ១០:៣០"). A date or time without a zone is
    read in `tz` (the configured timezone; UTC when not given): a ministry page
    that says "25 November" means its own midnight, not UTC's.
    """
    if not text:
        return None
    zone = _zone(tz)
    value = " ".join(text.translate(_KHMER_DIGITS).split())
    if not value:
        return None
    exact = _exact(value, zone)
    if exact is not None:
        return exact
    pm_hint = bool(_KHMER_PM.search(value))
    value = _KHMER_MONTH_RE.sub(lambda m: f" {_KHMER_MONTHS[m.group(0)]} ", value)
    value = _KHMER_LETTERS.sub(" ", value)
    return _loose(value.lower(), zone, pm_hint)


def _exact(value: str, zone: tzinfo) -> datetime | None:
    """The strict standard forms, tried first."""
    if re.fullmatch(r"[A-Za-z]{3},? .*\d{2}:\d{2}.*", value) or re.search(r"[+-]\d{4}$", value):
        try:
            when = email.utils.parsedate_to_datetime(value)
            return when if when.tzinfo else when.replace(tzinfo=zone)
        except (TypeError, ValueError, IndexError):
            pass
    iso = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=zone)


def _loose(value: str, zone: tzinfo, pm_hint: bool) -> datetime | None:
    """Pick year, month, day, time and zone out of free text."""
    offset_minutes: int | None = None
    found = _OFFSET.search(value)
    if found:
        if found.group(4):
            offset_minutes = 0
        else:
            sign = -1 if found.group(1) == "-" else 1
            offset_minutes = sign * (int(found.group(2)) * 60 + int(found.group(3)))
        value = value[: found.start()] + " " + value[found.end() :]
    for name, minutes in _ZONE_NAMES.items():
        if re.search(rf"\b{name}\b", value):
            offset_minutes = minutes
    hour = minute = second = 0
    timed = _TIME.search(value)
    if timed:
        if timed.group(1):
            hour, minute = int(timed.group(1)), int(timed.group(2))
            second = int(timed.group(3) or 0)
            half = timed.group(4)
        else:
            hour, half = int(timed.group(5)), timed.group(6)
        if half and half.lower() == "p" and hour < 12:
            hour += 12
        elif half and half.lower() == "a" and hour == 12:
            hour = 0
        elif half is None and pm_hint and hour < 12:
            hour += 12
        value = value[: timed.start()] + " " + value[timed.end() :]
    date = _numeric_date(value) or _named_date(value)
    if date is None:
        return None
    year, month, day = date
    try:
        naive = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if offset_minutes is not None:
        return naive.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    return naive.replace(tzinfo=zone)


def _numeric_date(value: str) -> tuple[int, int, int] | None:
    found = _NUMERIC.search(value)
    if not found:
        return None
    a, b, c = (int(g) for g in found.groups())
    if len(found.group(1)) == 4:  # 2026-11-25, 2026/11/25
        return a, b, c
    if len(found.group(3)) != 4:
        return None
    # Cambodia, like most of the world, writes day/month/year; read month/day
    # only when the first number cannot be a month's day-first reading.
    if b > 12 >= a:
        return c, a, b
    return c, b, a


def _named_date(value: str) -> tuple[int, int, int] | None:
    month = None
    month_at = -1
    for word in _WORD.finditer(value):
        number = _MONTHS.get(word.group(0).rstrip("."))
        if number is not None:
            month, month_at = number, word.start()
            month_end = word.end()
            break
    if month is None:
        return None
    years = list(_YEAR.finditer(value))
    if not years:
        return None
    after = [y for y in years if y.start() > month_at]
    year_match = after[0] if after else years[-1]
    year = int(year_match.group(1))
    # Day: the nearest number before the month ("25 November", "ទី២៥ ខែវិច្ឆិកា"),
    # else the first after it ("November 25, 2026").
    before = [
        d
        for d in _DAY.finditer(value[:month_at])
        if 1 <= int(d.group(1)) <= 31 and month_at - d.end() <= 12
    ]
    if before:
        return year, month, int(before[-1].group(1))
    for d in _DAY.finditer(value, month_end):
        if d.start() == year_match.start():
            continue
        if 1 <= int(d.group(1)) <= 31:
            return year, month, int(d.group(1))
    return None
