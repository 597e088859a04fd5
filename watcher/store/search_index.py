"""A pre-filter for the archive search (SPEC §12): which retained items could match.

Searching 100,000 retained items by running the matcher over each takes seconds
(bench/web.py: the normal form alone costs ~25 µs an item). Every hit of the matcher
starts as one of its automaton's strings found in the item's normal form
(`Matcher.needles`), so an index of normal forms answers "which items hold one of
these strings" and the matcher then reads only those. SQLite's FTS5 with the trigram
tokenizer finds any substring of three characters or more, in any script (Khmer has
no spaces between words, so a word tokenizer would not do), case-sensitively since the
normal form is already case-folded.

The index is a cache derived from the state, in its own file beside it
(`state_dir/search-index.sqlite3`): the state database is never written by a search,
deleting the file only costs a rebuild, and a changed normal form (a new watcher
version) rebuilds it. It can only ever widen the set of items read: an item it holds
out of date is read by the matcher on its current text (watcher.web.search).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import ahocorasick_rs

from watcher import __version__
from watcher.matching.names import match_normalise
from watcher.store.reads import IndexedText, StateReader

INDEX_NAME = "search-index.sqlite3"
#: Bump when what is indexed changes; a version from another watcher also rebuilds.
INDEX_FORMAT = f"3/{__version__}"
#: Trigram FTS5 finds substrings of at least this many characters.
MIN_NEEDLE = 3
#: Needles per MATCH expression (the FTS5 query parser has a bounded stack).
_NEEDLES_PER_QUERY = 200
#: Needles looked up as phrases; more go by their rarest trigram (see `candidates`).
_PHRASES_AT_MOST = 64
#: New items indexed per transaction.
BATCH = 2000
#: Seconds between full comparisons with the state (edited and pruned items).
FULL_CHECK_EVERY = 60.0


class SearchIndex:
    """Normal forms of retained items in an FTS5 trigram table, kept in step with the state."""

    def __init__(self, path: str | Path) -> None:
        """Open (creating, or rebuilding when stale) the index file at `path`."""
        self.path = str(path)
        # Used by one event loop at a time (see watcher.store.reads.StateReader).
        self.db = sqlite3.connect(
            self.path, isolation_level=None, timeout=30.0, check_same_thread=False
        )
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=OFF")  # a cache: a crash only costs a rebuild
        self._last_full = 0.0
        self._counts: dict[str, int] | None = None  # trigram document counts (candidates)
        self._dates: dict[int, float] | None = None  # item id → date (newest_first)
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = self.db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        if row is None or row[0] != INDEX_FORMAT:
            self.db.executescript(
                "DROP TABLE IF EXISTS texts; DROP TABLE IF EXISTS indexed;"
                "CREATE VIRTUAL TABLE texts USING fts5(norm, "
                "tokenize = 'trigram case_sensitive 1');"
                "CREATE TABLE indexed (id INTEGER PRIMARY KEY, hash TEXT, at REAL NOT NULL);"
            )
            self.db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('format', ?)", (INDEX_FORMAT,)
            )

    @classmethod
    def in_dir(cls, state_dir: str | Path) -> SearchIndex:
        """The index beside a state directory's database."""
        return cls(Path(state_dir) / INDEX_NAME)

    def close(self) -> None:
        """Close the index file."""
        self.db.close()

    def refresh(
        self,
        reader: StateReader,
        *,
        full: bool | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Index items new since the last refresh; every `FULL_CHECK_EVERY` seconds (or
        when `full`) also re-index edited items and drop pruned ones. Returns how many
        items were (re-)indexed. New items go in batches of BATCH, each its own
        transaction (a long first build keeps what it did, and stops between batches
        when `stop` is set); another process refreshing the same file waits its turn."""
        if full is None:
            full = time.monotonic() - self._last_full >= FULL_CHECK_EVERY
        done = 0
        if full:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                known = dict(self.db.execute("SELECT id, hash FROM indexed"))
                last = max(known, default=0)
                retained = reader.retained_ids()
                changed = [i for i, h in retained if i in known and known[i] != h]
                # Older than the newest indexed item, yet not indexed: its text was
                # pruned, and an edit brought it back.
                back = [i for i, _ in retained if i not in known and i < last]
                kept = {i for i, _ in retained}
                gone = [i for i in known if i not in kept]
                self._delete([*gone, *changed])
                done += self._add(reader.item_texts([*changed, *back]))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self._last_full = time.monotonic()
            if gone or changed or back:
                self._counts = self._dates = None
        while stop is None or not stop.is_set():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                last = self.db.execute("SELECT COALESCE(MAX(id), 0) FROM indexed").fetchone()[0]
                added = self._add(reader.item_texts_after(int(last), limit=BATCH))
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            done += added
            if added:
                self._counts = self._dates = None
            if added < BATCH:
                break
        return done

    def _add(self, rows: Sequence[IndexedText]) -> int:
        """Index `rows` (inside the caller's transaction)."""
        self.db.executemany(
            "INSERT INTO texts (rowid, norm) VALUES (?, ?)",
            [(i, match_normalise(text)) for i, _, _, text in rows],
        )
        self.db.executemany(
            "INSERT OR REPLACE INTO indexed (id, hash, at) VALUES (?, ?, ?)",
            [(i, h, at) for i, h, at, _ in rows],
        )
        return len(rows)

    def newest_first(self, ids: set[int]) -> list[int]:
        """`ids` ordered by their items' dates (published, else first seen), newest
        first, from the index: the state's rows are read only for the items matched."""
        if self._dates is None:
            self._dates = dict(self.db.execute("SELECT id, at FROM indexed"))
        dates = self._dates
        return sorted(ids, key=lambda i: (dates.get(i, 0.0), i), reverse=True)

    def size(self) -> int:
        """How many items the index holds (the retained ones, as of its last refresh)."""
        return int(self.db.execute("SELECT COUNT(*) FROM indexed").fetchone()[0])

    def _delete(self, ids: Sequence[int]) -> None:
        """Drop `ids` from the index (inside the caller's transaction)."""
        self.db.executemany("DELETE FROM texts WHERE rowid = ?", [(i,) for i in ids])
        self.db.executemany("DELETE FROM indexed WHERE id = ?", [(i,) for i in ids])

    def candidates(self, needles: Sequence[str]) -> Iterator[int] | None:
        """Ids of indexed items whose normal form holds one of `needles`, newest first,
        found as they are asked for; None when a needle is too short for trigrams (then
        every item is a candidate).

        A few needles are phrase queries. Many (a watchlist of 500 people has ~1,500)
        would cost ~1 ms each, so each needle is looked up by its rarest trigram alone
        (a superset), and those texts, newest first, are read for the needles themselves
        by an Aho-Corasick pass: the same items, and a search that stops at its first
        hits reads only the newest of them.
        """
        if any(len(n) < MIN_NEEDLE for n in needles):
            return None
        if len(needles) <= _PHRASES_AT_MOST:
            found = self._matching(['"' + n.replace('"', '""') + '"' for n in needles])
            return iter(self.newest_first(found))
        counts = self._trigram_counts()
        rarest = {
            min(_trigrams(n), key=lambda t: (counts.get(t, 0), t)) for n in dict.fromkeys(needles)
        }
        wide = self._matching(['"' + t.replace('"', '""') + '"' for t in sorted(rarest)])
        finder = ahocorasick_rs.AhoCorasick(list(dict.fromkeys(needles)))
        return self._holding(self.newest_first(wide), finder)

    def _holding(self, ordered: list[int], finder: ahocorasick_rs.AhoCorasick) -> Iterator[int]:
        """The ids of `ordered` whose normal form `finder` finds a needle in, in order."""
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            marks = ",".join("?" * len(chunk))
            norms = dict(
                self.db.execute(f"SELECT rowid, norm FROM texts WHERE rowid IN ({marks})", chunk)
            )
            for rowid in chunk:
                norm = norms.get(rowid)
                if norm and finder.find_matches_as_indexes(norm, overlapping=False)[:1]:
                    yield rowid

    def _matching(self, terms: Sequence[str]) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(terms), _NEEDLES_PER_QUERY):
            expression = " OR ".join(terms[start : start + _NEEDLES_PER_QUERY])
            found.update(
                r[0]
                for r in self.db.execute(
                    "SELECT rowid FROM texts WHERE texts MATCH ?", (expression,)
                )
            )
        return found

    def _trigram_counts(self) -> dict[str, int]:
        """Trigram → how many texts hold it (FTS5's vocabulary), kept until the index
        changes."""
        if self._counts is None:
            self.db.execute(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.trigrams "
                "USING fts5vocab(main, texts, 'row')"
            )
            self._counts = {t: n for t, n in self.db.execute("SELECT term, doc FROM temp.trigrams")}
        return self._counts


def _trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}
