"""Turning fetched bytes into Items, one module per source `kind` (SPEC §4).

`KINDS` is the one place that knows which kinds exist: each `SourceKind` declares its
parser, the config keys it requires and allows, and whether a document of that kind may
be an index of further documents (a sitemap index). Config validation, the docs' key
table (tests/test_sources.py checks docs/sources.md against it) and the pipeline all ask
it, so a new kind is one entry here and one parser module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from watcher.models import FetchResult, Item, Source
from watcher.sources.base import Parsed, SourceError
from watcher.sources.feed import parse_feed
from watcher.sources.html import parse_html_list
from watcher.sources.limits import trim
from watcher.sources.sitemap import read_sitemap_document

Parser = Callable[[Source, FetchResult, str], Parsed]


@dataclass(frozen=True)
class KindKey:
    """A config key that only some kinds use (an html source's CSS selectors)."""

    name: str
    required: bool
    meaning: str


@dataclass(frozen=True)
class SourceKind:
    """One source `kind`: how its documents are parsed and which keys it takes."""

    name: str
    description: str
    parse: Parser
    keys: tuple[KindKey, ...] = ()
    expands: bool = False  # a document may list further documents to fetch (`children`)

    def required(self) -> tuple[KindKey, ...]:
        """The keys a source of this kind must set."""
        return tuple(key for key in self.keys if key.required)


def _items_only(parse: Callable[[Source, FetchResult, str], list[Item]]) -> Parser:
    def parse_document(source: Source, result: FetchResult, tz: str) -> Parsed:
        return Parsed(parse(source, result, tz))

    return parse_document


_SELECTOR = "a CSS selector"

KINDS: dict[str, SourceKind] = {
    kind.name: kind
    for kind in (
        SourceKind("feed", "RSS or Atom", _items_only(parse_feed)),
        SourceKind(
            "html",
            "a list page read with CSS selectors",
            _items_only(parse_html_list),
            keys=(
                KindKey("item", True, _SELECTOR),
                KindKey("title", True, _SELECTOR),
                KindKey("link", True, _SELECTOR),
                KindKey("date", False, _SELECTOR),
                KindKey("summary", False, _SELECTOR),
            ),
        ),
        SourceKind(
            "sitemap",
            "a news or plain sitemap, or a sitemap index",
            read_sitemap_document,
            expands=True,
        ),
    )
}

# Every key some kind takes; a source of another kind may not set it.
KIND_KEYS: tuple[str, ...] = tuple(
    dict.fromkeys(key.name for kind in KINDS.values() for key in kind.keys)
)


def parse_document(
    source: Source, result: FetchResult, tz: str = "UTC", *, since: datetime | None = None
) -> Parsed:
    """The items of a fetched body, or the further documents it lists; raises
    SourceError with a readable reason.

    `tz` is the configured timezone (settings.timezone), for dates without a zone.
    Items dated before `since` (the poll's time less `max_age`) are dropped, and every
    item is brought within watcher.sources.limits' bounds on title and text.
    """
    kind = KINDS.get(source.kind)
    if kind is None:
        raise SourceError(f"source kind {source.kind!r} is not supported yet")
    parsed = kind.parse(source, result, tz)
    trimmed = trim(parsed.items, since)
    return Parsed(trimmed.items, parsed.children, trimmed.too_old, trimmed.cut)


def parse_listing(
    source: Source, result: FetchResult, tz: str = "UTC", *, since: datetime | None = None
) -> Parsed:
    """A fetched body that must list items itself (e.g. a document an index named): what
    `parse_document` gives; raises SourceError for an unreadable body and for an index."""
    parsed = parse_document(source, result, tz, since=since)
    if parsed.children:
        raise SourceError(f"an index of {len(parsed.children)} documents, not a list of items")
    return parsed


def parse_items(
    source: Source, result: FetchResult, tz: str = "UTC", *, since: datetime | None = None
) -> list[Item]:
    """The items of a fetched body; raises SourceError for an unreadable body and for
    an index, whose items are in the documents it lists (see `parse_document`)."""
    return parse_listing(source, result, tz, since=since).items


__all__ = [
    "KINDS",
    "KIND_KEYS",
    "KindKey",
    "Parsed",
    "SourceError",
    "SourceKind",
    "parse_document",
    "parse_items",
    "parse_listing",
]
