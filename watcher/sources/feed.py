"""RSS and Atom sources, parsed by feedparser from bytes (never from a URL).

feedparser fetches URLs itself when handed a string that looks like one, so it
only ever gets the body we fetched, with its own sanitiser and URI resolution
off: we strip HTML ourselves before matching.
"""

from __future__ import annotations

import calendar
import time
from datetime import UTC, datetime
from typing import Any

import feedparser

from watcher.models import FetchResult, Item, Source
from watcher.normalise import html_to_text
from watcher.sources.base import SourceError, parse_date


def _when(entry: Any, key: str, tz: str) -> datetime | None:
    parsed: time.struct_time | None = entry.get(f"{key}_parsed")
    if parsed:
        try:
            return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
        except (OverflowError, ValueError, OSError):
            return None
    return parse_date(entry.get(key), tz)


def _content(entry: Any) -> str:
    parts = []
    for block in entry.get("content") or []:
        value = block.get("value") if hasattr(block, "get") else None
        if value:
            parts.append(html_to_text(value))
    return "\n\n".join(parts)


def parse_feed(source: Source, result: FetchResult, tz: str = "UTC") -> list[Item]:
    """Items of an RSS/Atom body. Raises SourceError when the body is not a feed.

    feedparser reads zone-less feed dates as UTC; a date only we can read is read in `tz`.
    """
    body = result.body or b""
    if not body.strip():
        raise SourceError("empty response")
    headers = {"content-location": result.final_url or source.url}
    if result.content_type:
        headers["content-type"] = result.content_type
    parsed = feedparser.parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    entries = parsed.get("entries") or []
    if not parsed.get("version") and not entries:
        head = body[:512].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
            raise SourceError("not a feed: got an HTML page")
        reason = parsed.get("bozo_exception")
        raise SourceError(f"not a feed: {reason}" if reason else "not a feed")
    items = []
    for entry in entries:
        summary = entry.get("summary") or ""
        content = _content(entry)
        summary_text = html_to_text(summary) if summary else ""
        if content and summary_text and summary_text in content:
            summary_text = ""  # RSS description is often the content's first lines
        items.append(
            Item(
                source=source.name,
                guid=(entry.get("id") or None),
                link=(entry.get("link") or None),
                title=html_to_text(entry.get("title") or ""),
                summary=summary_text,
                content=content,
                published=_when(entry, "published", tz),
                updated=_when(entry, "updated", tz),
            )
        )
    return items
