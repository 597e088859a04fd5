"""RSS and Atom sources, parsed from bytes (never from a URL).

Well-formed RSS 2.0 and Atom 1.0 go through watcher.sources.fastfeed (lxml), which
builds the very Items feedparser would; anything it is unsure of goes to feedparser,
imported only then (6.5 MB resident in every parse worker, issue #8).

feedparser fetches URLs itself when handed a string that looks like one, so it
only ever gets the body we fetched, with its own sanitiser and URI resolution
off: we strip HTML ourselves before matching.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime
from typing import Any

from watcher.models import FetchResult, Item, Source
from watcher.sources.base import SourceError, parse_date
from watcher.sources.fastfeed import parse_fast
from watcher.text.normalise import html_to_text


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


_ENTITY = re.compile(rb"<!ENTITY\s+%?\s*[\w.:-]+\s+(SYSTEM|PUBLIC|[\"'])([^>]*)>", re.IGNORECASE)
_SINGLE_BYTE = ("iso-8859-1", "latin-1", "latin1", "windows-1252", "cp1252", "us-ascii", "ascii")


def _refuse_entities(body: bytes) -> None:
    """Refuse the two XML entity attacks before any parser sees the body.

    External entities (XXE: `<!ENTITY x SYSTEM "file:///etc/passwd">`) and
    entities built from other entities (billion laughs) have no place in a news
    feed; a plain `<!ENTITY nbsp "&#160;">`, seen in old hand-made feeds, is kept.
    """
    root = re.search(rb"<(?:rss|feed|rdf:RDF|channel)\b", body[:65536])
    prolog = body[: root.start()] if root else body[:65536]
    for found in _ENTITY.finditer(prolog):
        if found.group(1).upper() in (b"SYSTEM", b"PUBLIC"):
            raise SourceError("not a feed: it declares an external entity (refused: XXE)")
        if b"&" in found.group(2).replace(b"&#", b""):
            raise SourceError("not a feed: it nests XML entities (refused: entity expansion)")


def _content_type(body: bytes, declared: str | None) -> str | None:
    """The Content-Type to give feedparser. A UTF-8 body labelled with a single-byte
    charset (Khmer sites served as iso-8859-1 by a default server config) loses
    its label: decoded as Latin-1, every Khmer letter would be garbled."""
    if not declared or "charset=" not in declared.lower():
        return declared
    charset = declared.lower().split("charset=", 1)[1].split(";")[0].strip(" \"'")
    if charset in _SINGLE_BYTE:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return declared
        return declared.split(";")[0]
    return declared


def parse_feed(source: Source, result: FetchResult, tz: str = "UTC") -> list[Item]:
    """Items of an RSS/Atom body. Raises SourceError when the body is not a feed.

    The lxml fast path gives feedparser's very Items for the feeds it fully understands;
    feedparser reads the rest. Either reads zone-less feed dates as UTC; a date only we
    can read is read in `tz`.
    """
    body = result.body or b""
    if not body.strip():
        raise SourceError("empty response")
    _refuse_entities(body)
    items = parse_fast(source, result, tz)
    if items is not None:
        return items
    return _parse_with_feedparser(source, result, tz)


def _parse_with_feedparser(source: Source, result: FetchResult, tz: str) -> list[Item]:
    """parse_feed's fallback, for whatever the fast path declines; the reference it
    is tested against (tests/test_fastfeed.py)."""
    import feedparser  # here, not at the top: most processes never need it

    body = result.body or b""
    headers = {"content-location": result.final_url or source.url}
    content_type = _content_type(body, result.content_type)
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(
        body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )
    entries = parsed.get("entries") or []
    if not parsed.get("version") and not entries:
        head = body[:512].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
            raise SourceError("not a feed: got an HTML page")
        if not head.lstrip(b"\xef\xbb\xbf").startswith(b"<"):
            raise SourceError("not a feed: the response is not XML")
        reason = parsed.get("bozo_exception")
        line = getattr(reason, "getLineNumber", lambda: None)()
        message = getattr(reason, "getMessage", lambda: str(reason))()
        if reason and line:
            raise SourceError(f"not a feed: broken XML at line {line} ({message})")
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
