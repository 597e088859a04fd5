"""Durations ("30s", "15m", "2h", "7d") and sizes ("10MB", "512KB") as the config writes them.

Pure functions: they turn text into seconds or bytes, or raise `ValueError` with a message
a person can act on. The config loader turns that message into a `FILE:LINE` issue.
"""

from __future__ import annotations

import re

#: Seconds per duration unit (SPEC §4: "s, m, h, d").
DURATION_UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400}

#: Bytes per size unit. KB/MB/GB are decimal (the SPEC's "10MB" default is 10,000,000 bytes,
#: as HTTP tooling counts); KiB/MiB/GiB are there for people who think in powers of two.
SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}

# One or more number+unit parts, so "1h30m" reads as people write it; spaces between
# parts are allowed ("1h 30m").
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?\s*[a-z]+\s*)+")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")


def parse_duration(text: str) -> float:
    """Return the seconds in a duration such as "30s", "15m", "2h", "7d" or "1h30m".

    A bare number has no unit and is refused: "15" could mean seconds or minutes, and a
    monitoring interval that is silently 60 times too short or too long is worse than an error.
    """
    cleaned = text.strip().lower()
    if not cleaned:
        raise ValueError('empty duration; write a number and a unit, e.g. "15m"')
    if re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        raise ValueError(f'"{text}" has no unit; add s, m, h or d (e.g. "{cleaned}m")')
    if not _DURATION.fullmatch(cleaned):
        raise ValueError(f'"{text}" is not a duration; write e.g. "30s", "15m", "2h" or "7d"')
    total = 0.0
    for number, unit in _DURATION_PART.findall(cleaned):
        if unit not in DURATION_UNITS:
            raise ValueError(f'"{text}": unknown unit "{unit}"; use s, m, h or d')
        total += float(number) * DURATION_UNITS[unit]
    return total


def parse_size(text: str) -> int:
    """Return the bytes in a size such as "10MB", "512KB", "1MiB" or "800B"."""
    cleaned = text.strip().lower()
    match = _SIZE.fullmatch(cleaned)
    if match is None:
        raise ValueError(f'"{text}" is not a size; write e.g. "10MB" or "512KB"')
    number, unit = match.groups()
    if unit not in SIZE_UNITS:
        raise ValueError(f'"{text}": unknown unit "{unit}"; use B, KB, MB, GB, KiB, MiB or GiB')
    return int(float(number) * SIZE_UNITS[unit])
