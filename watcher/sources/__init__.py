"""Turning fetched bytes into Items, one module per source `kind` (SPEC §4).

A registry maps each kind to its parser so that the config, the docs and the
pipeline agree on which kinds exist.
"""

from __future__ import annotations

from collections.abc import Callable

from watcher.models import FetchResult, Item, Source
from watcher.sources.base import SourceError
from watcher.sources.feed import parse_feed
from watcher.sources.html import parse_html_list

Parser = Callable[[Source, FetchResult], list[Item]]

PARSERS: dict[str, Parser] = {
    "feed": parse_feed,
    "html": parse_html_list,
}


def parse_items(source: Source, result: FetchResult) -> list[Item]:
    """The items in a fetched body; raises SourceError with a readable reason."""
    parser = PARSERS.get(source.kind)
    if parser is None:
        raise SourceError(f"source kind {source.kind!r} is not supported yet")
    return parser(source, result)


__all__ = ["PARSERS", "SourceError", "parse_items"]
