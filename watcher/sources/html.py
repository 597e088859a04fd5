"""List pages without a feed (ministry announcements, gazettes) read by CSS selectors.

Each `item` selector match is one entry; `title`, `link`, `date` and `summary`
selectors apply inside it. Links are made absolute against the page URL.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from watcher.models import FetchResult, Item, Source
from watcher.sources.base import SourceError, parse_date

_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_-]+)", re.IGNORECASE)


def _text(node: Node | None) -> str:
    if node is None:
        return ""
    return " ".join((node.text(separator=" ") or "").split())


def _decode(body: bytes, content_type: str | None) -> str:
    """Text of an HTML body. UTF-8 first when it decodes cleanly: Khmer sites often
    declare windows-1252 or iso-8859-1 for pages that are in fact UTF-8, and a
    wrong single-byte charset never fails, it only garbles every Khmer letter."""
    charset = None
    if content_type and "charset=" in content_type.lower():
        charset = content_type.lower().split("charset=", 1)[1].split(";")[0].strip(" \"'")
    meta = _META_CHARSET.search(body[:4096])
    declared = meta.group(1).decode("ascii", "replace").lower() if meta else None
    for candidate in ("utf-8", charset, declared):
        if not candidate:
            continue
        try:
            return body.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8", errors="replace")


def parse_html_list(source: Source, result: FetchResult, tz: str = "UTC") -> list[Item]:
    """Items of a list page by the source's selectors. Raises SourceError if none match.

    Dates are read leniently (Khmer or English); one without a zone is read in `tz`.
    """
    body = result.body or b""
    if not body.strip():
        raise SourceError("empty response")
    if not source.item:
        raise SourceError("html source has no `item` selector")
    tree = HTMLParser(_decode(body, result.content_type))
    base = result.final_url or source.url
    items = []
    for entry in tree.css(source.item):
        title_node = entry.css_first(source.title) if source.title else entry
        title = _text(title_node)
        link_node = entry.css_first(source.link) if source.link else None
        href = None
        if link_node is not None:
            href = link_node.attributes.get("href")
            if href is None:
                inner = link_node.css_first("[href]")
                href = inner.attributes.get("href") if inner is not None else None
        link = None
        if href:
            try:
                link = urljoin(base, href.strip())
            except ValueError:  # not a URL ("http://[…" unclosed): the entry keeps its title
                link = None
        date_node = entry.css_first(source.date) if source.date else None
        # <time datetime="2026-11-25T10:00+07:00"> is exact; the visible text may not be.
        machine = None
        if date_node is not None:
            inner = date_node.css_first("time[datetime]")
            machine = date_node.attributes.get("datetime") or (
                inner.attributes.get("datetime") if inner is not None else None
            )
        date_text = machine or _text(date_node)
        summary = _text(entry.css_first(source.summary)) if source.summary else ""
        if not title and not link:
            continue
        items.append(
            Item(
                source=source.name,
                guid=None,
                link=link,
                title=title,
                summary=summary,
                published=parse_date(date_text, tz),
            )
        )
    if not items:
        raise SourceError(f"no entries match the selector {source.item!r}")
    return items
