"""Sitemaps as sources (kind = "sitemap"): Google News sitemaps and plain ones.

A news sitemap (`<news:news>`) carries a title and a publication date for each
article, which is all an alert needs; many Cambodian news sites publish one and
no full feed. A plain sitemap has only `<loc>` and `<lastmod>`: its items get a
title made from the link's last path segment ("…/ministry-bans-gatherings/" →
"ministry bans gatherings"), so plain sitemaps are best used with
`fulltext = true`.

A sitemap index (`<sitemapindex>`) lists other sitemaps. `read_sitemap_document`
returns the child sitemaps, newest first, as the document's `children`, and the
pipeline fetches them: at most `MAX_CHILDREN`: the newest articles are in the newest child
(Yoast's `post-sitemap9.xml`, WordPress's highest-numbered `wp-sitemap-posts-post-N.xml`),
and following hundreds of archive sitemaps every poll would hammer the site.

Sitemaps never declare a DTD, so a body that does is refused before parsing:
no entity expansion (billion laughs) and no external entities (XXE) can occur.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urljoin, urlsplit
from xml.etree import ElementTree

from watcher.models import FetchResult, Item, Source
from watcher.sources.base import Parsed, SourceError, parse_date

MAX_CHILDREN = 2
_GZIP_LIMIT = 50_000_000  # the sitemap protocol's own limit for one uncompressed file
_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True)
class _Entry:
    loc: str
    lastmod: str | None = None
    title: str | None = None
    published: str | None = None


def _local(tag: object) -> str:
    name = tag if isinstance(tag, str) else ""
    return name.rsplit("}", 1)[-1].lower()


def _child_text(element: ElementTree.Element, name: str) -> str | None:
    for child in element.iter():
        if child is not element and _local(child.tag) == name and child.text:
            return child.text.strip()
    return None


def _gunzip(body: bytes) -> bytes:
    # `sitemap.xml.gz` is served as a file (application/x-gzip), not with
    # Content-Encoding, so the fetcher does not inflate it; cap the output here.
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        out = inflater.decompress(body, _GZIP_LIMIT + 1)
    except zlib.error as exc:
        raise SourceError(f"not a sitemap: broken gzip ({exc})") from exc
    if len(out) > _GZIP_LIMIT or inflater.unconsumed_tail:
        raise SourceError("not a sitemap: larger than 50 MB uncompressed")
    return out


def _title_from_link(link: str) -> str:
    path = unquote(urlsplit(link).path).rstrip("/")
    slug = path.rsplit("/", 1)[-1]
    slug = re.sub(r"\.(?:html?|php|aspx?)$", "", slug)
    if slug.isdigit():
        return ""
    return " ".join(re.split(r"[-_+]+", slug)).strip()


def read_sitemap(body: bytes) -> tuple[str, list[_Entry]]:
    """("urlset" | "sitemapindex", entries) of a sitemap body; raises SourceError."""
    if body[:2] == b"\x1f\x8b":
        body = _gunzip(body)
    if not body.strip():
        raise SourceError("empty response")
    head = body[:4096]
    root_at = re.search(rb"<(?:[A-Za-z_][\w.-]*:)?(?:urlset|sitemapindex)\b", head)
    if _DTD.search(body[: root_at.start()] if root_at else head):
        raise SourceError("not a sitemap: it declares a DTD (refused: entity expansion)")
    lowered = head.lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered[:512]:
        raise SourceError("not a sitemap: got an HTML page")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise SourceError(f"not a sitemap: {exc}") from exc
    kind = _local(root.tag)
    if kind not in ("urlset", "sitemapindex"):
        raise SourceError(f"not a sitemap: the document is <{kind}>")
    entries = []
    wanted = "url" if kind == "urlset" else "sitemap"
    for node in root:
        if _local(node.tag) != wanted:
            continue
        loc = _child_text(node, "loc")
        if not loc:
            continue
        entries.append(
            _Entry(
                loc=loc,
                lastmod=_child_text(node, "lastmod"),
                title=_child_text(node, "title"),
                published=_child_text(node, "publication_date"),
            )
        )
    return kind, entries


def read_sitemap_document(source: Source, result: FetchResult, tz: str = "UTC") -> Parsed:
    """Items of a (news) sitemap, or an index's child sitemaps, newest first, as
    `children`; raises SourceError if unreadable."""
    kind, entries = read_sitemap(result.body or b"")
    base = result.final_url or source.url
    if kind == "sitemapindex":
        return Parsed([], tuple(_newest_children(entries, base)))
    items = []
    for entry in entries:
        link = _join(base, entry.loc)
        if link is None:
            continue
        items.append(
            Item(
                source=source.name,
                guid=None,
                link=link,
                title=" ".join((entry.title or _title_from_link(link)).split()),
                published=parse_date(entry.published, tz),
                updated=parse_date(entry.lastmod, tz),
            )
        )
    return Parsed(items)


def _newest_children(entries: list[_Entry], base: str) -> list[str]:
    epoch = datetime.min.replace(tzinfo=UTC)
    indexed = list(enumerate(entries))
    # Newest lastmod first; without lastmod, later-listed first (WordPress numbers
    # its post sitemaps oldest first).
    indexed.sort(key=lambda pair: (parse_date(pair[1].lastmod) or epoch, pair[0]), reverse=True)
    joined = (_join(base, entry.loc) for _, entry in indexed)
    return [link for link in joined if link is not None][:MAX_CHILDREN]


def _join(base: str, loc: str) -> str | None:
    """`loc` made absolute, or None when it is not a URL at all ("http://[…" unclosed):
    one broken entry must not fail the whole sitemap."""
    try:
        return urljoin(base, loc)
    except ValueError:
        return None
