"""`watcher user add NAME` and `watcher search QUERY` (SPEC §3, §12)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from watcher.models import Config
from watcher.pipeline.poll import utcnow
from watcher.store.reads import StateReader, save_user
from watcher.store.search_index import SearchIndex
from watcher.store.sqlite import DB_NAME, Store
from watcher.web.auth import hash_password
from watcher.web.search import QueryError, parse_query, search

#: Shortest password accepted (a feed URL with Basic is only as safe as it).
MIN_PASSWORD = 8


def read_password(stdin: TextIO, stderr: TextIO) -> str | None:
    """The new password: asked twice on a terminal, else the first line of `stdin`.
    None (after saying why on `stderr`) when it is refused."""
    if stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            print("the two passwords differ; nothing changed", file=stderr)
            return None
        password = first
    else:
        password = stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        print(f"a password needs at least {MIN_PASSWORD} characters; nothing changed", file=stderr)
        return None
    return password


def user_add(config: Config, name: str, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """Create or reset a web login; only its argon2 hash is stored. Exit status."""
    name = name.strip()
    if not name or ":" in name or any(c.isspace() or ord(c) < 32 for c in name):
        print("a login name is one word without ':' (HTTP Basic splits at it)", file=stderr)
        return 2
    password = read_password(stdin, stderr)
    if password is None:
        return 1
    store = Store.in_dir(config.settings.state_dir)
    try:
        new = save_user(store, name, hash_password(password), utcnow())
    finally:
        store.close()
    print(f"{'created' if new else 'reset the password of'} web login {name!r}", file=stdout)
    return 0


def search_command(config: Config, query: str, limit: int, stdout: TextIO, stderr: TextIO) -> int:
    """`watcher search QUERY`: the search page's answer on standard output. Exit status."""
    try:
        watchlist = parse_query(query, config)
    except QueryError as exc:
        print(f"search: {exc}", file=stderr)
        return 2
    path = Path(config.settings.state_dir) / DB_NAME
    if not path.exists():
        print(f"No state yet ({path}): run `watcher once` or `watcher run` first.", file=stdout)
        return 0
    Store(path).close()  # migrates a state from an older watcher, as `run` would
    reader = StateReader.in_dir(config.settings.state_dir)
    index = SearchIndex.in_dir(config.settings.state_dir)
    try:
        result = search(reader, watchlist, index, limit=limit)
    finally:
        index.close()
        reader.close()
    zone = ZoneInfo(config.settings.timezone)
    days = round(config.settings.retention / 86400)
    for hit in result.hits:
        item = hit.item
        when = item.published or item.first_seen
        stamp = when.astimezone(zone).strftime("%Y-%m-%d %H:%M") if when else "undated"
        kind = " (possible)" if hit.match.possible else ""
        print(f"{stamp}  {item.source}: {item.title}{kind}", file=stdout)
        if item.link:
            print(f"    {item.link}", file=stdout)
        matched = ", ".join((*hit.match.terms, *hit.match.people))
        print(f"    matched: {matched}", file=stdout)
        if hit.match.snippet:
            print(f"    {hit.match.snippet}", file=stdout)
    shown = f" (newest {len(result.hits)} shown)" if result.total > len(result.hits) else ""
    print(
        f"{result.total} of {result.retained} retained items (last {days} days) match{shown}.",
        file=stdout,
    )
    return 0
