"""Search and retro-match over retained items (SPEC §12; `watcher search`, the search page).

A query is written in a watchlist's own terms and becomes a `Watchlist`, which the
poll's `Matcher` (watcher.matching) runs over every retained item's kept text: the
answer to "what would this watchlist, or this new name, have caught in the last
`retention`?" is what the poll would have decided, not a second implementation.

Query syntax (docs/web.md), words separated by spaces, "double quotes" around a phrase:

- `term`, `"a phrase"`, `prefix*`, `@set`: any of them (a watchlist's `any`);
- `+term`: also required (one `all` entry each); `-term`: vetoes (`none`);
- `person:"Name"`: a person; a name (or alias) from a configured people list brings
  its aliases, any other name is searched as a new person (`|` separates aliases:
  `person:"Chhim Sithar|ឈឹម ស៊ីថា"`); `near:term` and `within:N` as in a watchlist;
  `fuzzy:yes` tolerates transliteration variants (reads every item: slower);
- `watchlist:"Name"`: a configured watchlist as it is (alone in the query).
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic_core import PydanticCustomError

from watcher.config.values import read_terms
from watcher.matching import Matcher
from watcher.models import Config, Match, Person, Severity, Watchlist
from watcher.store.reads import RetainedItem, StateReader
from watcher.store.search_index import SearchIndex

#: Hits a search shows at most (newest first); the count says how many there are.
MAX_HITS = 200
#: The name a query's watchlist has in results and explanations.
QUERY_NAME = "search"


class QueryError(ValueError):
    """A query that cannot be read; the message says why, in the query's terms."""


@dataclass(frozen=True)
class SearchHit:
    """One retained item the query matches, and how."""

    item: RetainedItem
    match: Match


@dataclass(frozen=True)
class SearchResult:
    """The newest hits (at most MAX_HITS), how many items match, and what it cost."""

    query: Watchlist
    hits: tuple[SearchHit, ...]
    total: int  # all that match, or (complete=False) at least this many
    complete: bool  # False: stopped after `limit` hits, older items not read
    read: int  # items the matcher read
    retained: int  # items with text retained
    indexed: bool  # whether the pre-filter narrowed the items read
    seconds: float


def _checked_terms(terms: list[str]) -> tuple[str, ...]:
    try:
        return read_terms(terms)
    except PydanticCustomError as error:
        raise QueryError(error.message()) from None


def _listed_person(config: Config, name: str) -> tuple[Person, bool] | None:
    """A person of a configured people list named (or aliased) `name`, and whether
    their watchlist matches names fuzzily."""
    wanted = name.casefold().strip()
    for wl in config.watchlists:
        for person in wl.people:
            if wanted in (n.casefold().strip() for n in (person.name, *person.aliases)):
                return person, wl.fuzzy
    return None


def parse_query(query: str, config: Config) -> Watchlist:
    """The watchlist a query stands for (see the module docstring); QueryError if none."""
    try:
        words = shlex.split(query)
    except ValueError as error:
        raise QueryError(f"cannot read the query: {error}") from None
    if not words:
        raise QueryError("empty query")
    any_terms: list[str] = []
    all_terms: list[str] = []
    none_terms: list[str] = []
    near: list[str] = []
    people: list[Person] = []
    within = Watchlist(name="").within
    fuzzy = False
    named: Watchlist | None = None
    for word in words:
        key, sep, value = word.partition(":")
        key = key.lower() if sep else ""
        if key == "watchlist":
            named = next((w for w in config.watchlists if w.name == value.strip()), None)
            if named is None:
                known = ", ".join(w.name for w in config.watchlists) or "none"
                raise QueryError(f"no watchlist named {value.strip()!r} (watchlists: {known})")
        elif key == "person":
            names = [n.strip() for n in value.split("|") if n.strip()]
            if not names:
                raise QueryError("person: needs a name")
            listed = _listed_person(config, names[0])
            if listed is not None and len(names) == 1:
                people.append(listed[0])
            else:
                people.append(Person(name=names[0], aliases=tuple(names[1:])))
        elif key == "near":
            near.append(value)
        elif key == "within":
            if not value.isdigit() or int(value) <= 0:
                raise QueryError(f"within: must be a whole number of words, not {value!r}")
            within = int(value)
        elif key == "fuzzy":
            fuzzy = value.lower() in ("yes", "true", "1", "on")
        elif word.startswith("+") and len(word) > 1:
            all_terms.append(word[1:])
        elif word.startswith("-") and len(word) > 1:
            none_terms.append(word[1:])
        else:
            any_terms.append(word)
    if named is not None:
        if len(words) > 1:
            raise QueryError("watchlist: stands alone; write its terms instead to change them")
        return named
    if not any_terms and not people:
        raise QueryError("a query needs a term or a person: (+term and -term only narrow it)")
    if near and not people:
        raise QueryError("near: applies to a person: add person:NAME")
    return Watchlist(
        name=QUERY_NAME,
        severity=Severity.NORMAL,
        any=_checked_terms(any_terms),
        all=tuple((t,) for t in _checked_terms(all_terms)),
        none=_checked_terms(none_terms),
        people=tuple(people),
        near=_checked_terms(near),
        within=within,
        fuzzy=fuzzy,
    )


def search(
    reader: StateReader,
    query: Watchlist,
    index: SearchIndex | None = None,
    *,
    limit: int = MAX_HITS,
    count_all: bool = True,
) -> SearchResult:
    """Every retained item `query` matches, newest first (the first `limit` of them).

    With an `index` (refreshed first), the matcher reads only the items that hold one
    of its strings; without, or when a string is too short to index, every item.
    `count_all=False` stops at the `limit`th hit (the page does, for common terms).
    """
    started = time.perf_counter()
    matcher = Matcher([query], searching=True)
    needles = matcher.needles()
    ids: Iterator[int] | None = None
    if index is not None and needles is not None:
        index.refresh(reader)
        ids = index.candidates(needles)
    # Counting retained items in the state reads every page of it (~0.1 s at 100,000):
    # the index holds one row per retained item.
    retained = index.size() if index is not None and ids is not None else 0
    items = reader.retained_items(ids)
    hits: list[SearchHit] = []
    total = read = 0
    complete = True
    for item in items:
        if not count_all and len(hits) >= limit:
            complete = False
            break
        read += 1
        found = matcher.match(item.text, item.source)
        if not found:
            continue
        total += 1
        if len(hits) < limit:
            hits.append(SearchHit(item, found[0]))
    return SearchResult(
        query=query,
        hits=tuple(hits),
        total=total,
        complete=complete,
        read=read,
        retained=retained if ids is not None else (read if complete else reader.retained_count()),
        indexed=ids is not None,
        seconds=time.perf_counter() - started,
    )
