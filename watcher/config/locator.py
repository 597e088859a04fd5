"""Where things are in the TOML text: line numbers for issues.

`tomllib` parses the file but keeps no line numbers, so `Locator` scans the text for
table headers and `key =` lines to map (table, entry, key) back to a line, and
`decode_error_position` reads the line out of a `tomllib` syntax error.
"""

from __future__ import annotations

import re


class Locator:
    """Line numbers of table headers and keys, found by scanning the TOML text.

    Keys are looked up as (table, index, key): `index` counts `[[table]]` headers from 0 and
    is None for a plain `[table]`; the root table is "". A key that is not written (a
    missing required key) falls back to its table's header, then to line 1.
    """

    def __init__(self, text: str) -> None:
        self.headers: dict[tuple[str, int | None], int] = {}
        self.keys: dict[tuple[str, int | None, str], int] = {}
        self._scan(text.splitlines())

    def line(self, table: str, index: int | None = None, key: str | None = None) -> int:
        """The line of `key` in that table (or of the table's header; see the class)."""
        if key is not None and (table, index, key) in self.keys:
            return self.keys[(table, index, key)]
        if (table, index) in self.headers:
            return self.headers[(table, index)]
        # `sources = [{...}]` written inline, or a table that is missing altogether.
        return self.keys.get(("", None, table), 1)

    def _scan(self, lines: list[str]) -> None:
        counts: dict[str, int] = {}
        table: tuple[str, int | None] = ("", None)
        state = _ValueState()
        for number, line in enumerate(lines, start=1):
            if state.open:
                # Inside a multi-line array or string: nothing here is a header or a key.
                state.feed(line)
                continue
            stripped = line.strip()
            if stripped.startswith("[["):
                name = _header_name(stripped[2:].split("]]", 1)[0])
                table = self._header(name, counts, array=True, line=number)
            elif stripped.startswith("["):
                name = _header_name(stripped[1:].split("]", 1)[0])
                table = self._header(name, counts, array=False, line=number)
            else:
                match = _KEY_LINE.match(line)
                if match is None:
                    continue
                key = _header_name(match.group(1))
                self.keys.setdefault((*table, key), number)
                state.feed(line[match.end() :])

    def _header(
        self, name: str, counts: dict[str, int], *, array: bool, line: int
    ) -> tuple[str, int | None]:
        index: int | None = None
        if array:
            index = counts.get(name, 0)
            counts[name] = index + 1
        self.headers.setdefault((name, index), line)
        # `[sources.extra]` after `[[sources]]` is a key `extra` of the latest source.
        parent, _, child = name.rpartition(".")
        if parent and child:
            parent_index = counts[parent] - 1 if parent in counts else None
            self.keys.setdefault((parent, parent_index, child), line)
        return name, index


_BARE_OR_QUOTED = r"(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
_KEY_LINE = re.compile(rf"\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=")


def _header_name(text: str) -> str:
    """`[ "sources" ]` and `[sources]` name the same table."""
    return ".".join(part.strip().strip("\"'") for part in text.split("."))


class _ValueState:
    """Tracks whether a TOML value continues on the next line (open brackets, `\"\"\"`)."""

    def __init__(self) -> None:
        self.depth = 0
        self.string: str | None = None  # the open multi-line delimiter, if any

    @property
    def open(self) -> bool:
        return self.depth > 0 or self.string is not None

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            if self.string is not None:
                end = text.find(self.string, i)
                if end < 0:
                    return
                self.string = None
                i = end + 3
                continue
            char = text[i]
            if char == "#":
                return
            if text.startswith(('"""', "'''"), i):
                self.string = text[i : i + 3]
                i += 3
            elif char in "\"'":
                i = _skip_string(text, i)
            elif char in "[{":
                self.depth += 1
                i += 1
            elif char in "]}":
                self.depth = max(0, self.depth - 1)
                i += 1
            else:
                i += 1


def _skip_string(text: str, start: int) -> int:
    """Index after the one-line string opened at `start` (backslash escapes in "…" only)."""
    quote = text[start]
    i = start + 1
    while i < len(text):
        if quote == '"' and text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    return i


def decode_error_position(message: str, text: str) -> tuple[int, str]:
    """Split tomllib's "Reason (at line 3, column 5)" into (3, "Reason (column 5)")."""
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match is not None:
        return int(match.group(1)), f"{message[: match.start()]} (column {match.group(2)})"
    match = re.search(r"\s*\(at end of document\)$", message)
    if match is not None:
        return max(1, len(text.splitlines())), f"{message[: match.start()]} (at end of file)"
    return 1, message
