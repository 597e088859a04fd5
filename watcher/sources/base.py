"""What every source parser shares: its error type and lenient date reading."""

from __future__ import annotations

import email.utils
import re
from datetime import UTC, datetime


class SourceError(Exception):
    """A source's body could not be read as items; the message is for a person."""


_KHMER_DIGITS = str.maketrans("០១២៣៤៥៦៧៨៩", "0123456789")


def parse_date(text: str | None) -> datetime | None:
    """Read a date leniently (RFC 822, ISO 8601, `25 November 2026`, `2026-11-25`).

    Naive results are taken as UTC. Returns None rather than guessing wildly.
    """
    if not text:
        return None
    value = " ".join(text.translate(_KHMER_DIGITS).split())
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError):
        pass
    iso = value.replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(iso)
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    except ValueError:
        pass
    for fmt in ("%d %B %Y", "%B %d, %Y", "%d %b %Y", "%b %d, %Y", "%d/%m/%Y", "%Y/%m/%d"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    match = re.search(r"(\d{4})-(\d{2})-(\d{2})", value)
    if match:
        try:
            return datetime(*map(int, match.groups()), tzinfo=UTC)
        except ValueError:
            return None
    return None
