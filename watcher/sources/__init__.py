"""Turning fetched bytes into Items, one module per source `kind` (SPEC §4).

A registry maps each kind to its parser so that the config, the docs and the
pipeline agree on which kinds exist. Every parser takes the configured timezone,
in which a date printed without a zone is read.
"""

from __future__ import annotations

from collections.abc import Callable

from watcher.models import FetchResult, Item, Source
from watcher.sources.base import SourceError
from watcher.sources.feed import parse_feed
from watcher.sources.html import parse_html_list
from watcher.sources.sitemap import parse_sitemap

Parser = Callable[[Source, FetchResult, str], list[Item]]

PARSERS: dict[str, Parser] = {
    "feed": parse_feed,
    "html": parse_html_list,
    "sitemap": parse_sitemap,
}


def parse_items(source: Source, result: FetchResult, tz: str = "UTC") -> list[Item]:
    """The items in a fetched body; raises SourceError with a readable reason.

    `tz` is the configured timezone (settings.timezone), for dates without a zone.
    """
    parser = PARSERS.get(source.kind)
    if parser is None:
        raise SourceError(f"source kind {source.kind!r} is not supported yet")
    return parser(source, result, tz)


__all__ = ["PARSERS", "SourceError", "parse_items"]
