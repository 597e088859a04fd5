"""The people list: a CSV of names and aliases that a `[[watchlists]]` entry names.

Header `name,aliases,note`; aliases are separated by `|`. Blank lines and lines whose
first cell starts with `#` are skipped. Problems name the CSV file, its line and the
column, as `ConfigIssue`s.

A person dropped without a word is the worst failure of this file: nobody watches them any
more (SPEC §1). So the reader is strict where the `csv` module is lenient. A quote that is
never closed, or closed only lines later, would read the following rows into one field, so
it is an error on the line where the quote opens; a name or alias cannot hold a quote, a
comma or a line break (each is a sign that the row was cut wrong); a row with more fields
than the header is an error, and one with fewer a warning.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from watcher.config.issues import ConfigIssue, os_reason
from watcher.models import Person

_PEOPLE_COLUMNS = ("name", "aliases", "note")
#: Characters that cannot be part of a name or an alias, with how a message names them.
_NOT_IN_NAMES = {'"': 'a quote (")', ",": "a comma", "\n": "a line break", "\r": "a line break"}
#: Prefix of the message of an issue that does not stop the list from being used.
WARNING = "warning: "


@dataclass(frozen=True)
class PeopleList:
    """What reading one people CSV found: the people, the errors, and the warnings
    (problems that leave every person readable, such as a row with fewer fields)."""

    people: tuple[Person, ...]
    issues: tuple[ConfigIssue, ...]
    warnings: tuple[ConfigIssue, ...] = ()


def load_people(path: Path, display: str | None = None) -> tuple[list[Person], list[ConfigIssue]]:
    """Read a people CSV (header `name,aliases,note`; aliases separated by `|`).

    Returns the people and the errors found (warnings are left out: see `read_people`);
    issues name the file as `display` (default `str(path)`) with the CSV line. An
    unreadable file is one issue at line 0.
    """
    found = read_people(path, display)
    return list(found.people), list(found.issues)


def read_people(path: Path, display: str | None = None) -> PeopleList:
    """Read a people CSV like `load_people`, keeping the warnings too."""
    shown = str(path) if display is None else display
    try:
        raw = path.read_bytes()
    except OSError as error:
        return PeopleList((), (ConfigIssue(shown, 0, "people", os_reason(error)),))
    try:
        # utf-8-sig: spreadsheet programs save CSV with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        issue = ConfigIssue(shown, line, "people", "not UTF-8 text; save the CSV as UTF-8")
        return PeopleList((), (issue,))
    return _PeopleReader(text, shown).read()


class _Lines:
    """The CSV text as physical lines, handed to `csv.reader` one at a time, so that the
    reader knows where a record starts and ends and can start again after a broken one."""

    def __init__(self, text: str) -> None:
        # newline="": the lines end where csv's own reader ends them (\n, \r\n or \r).
        self.lines = list(io.StringIO(text, newline=""))
        self.next = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.next >= len(self.lines):
            raise StopIteration
        self.next += 1
        return self.lines[self.next - 1]


class _PeopleReader:
    """One pass over one people CSV; `read` returns what it found."""

    def __init__(self, text: str, shown: str) -> None:
        self.shown = shown
        self.lines = _Lines(text)
        self.header: list[str] | None = None
        self.people: list[Person] = []
        self.issues: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []

    def add(self, line: int, field: str, message: str) -> None:
        self.issues.append(ConfigIssue(self.shown, line, field, message))

    def read(self) -> PeopleList:
        # strict: a closing quote followed by more text, or a quote still open at the end of
        # the file, is an error rather than text silently glued into the field.
        reader = csv.reader(self.lines, strict=True)
        while True:
            start = self.lines.next  # index of the record's first line
            if start < len(self.lines.lines) and self.lines.lines[start].lstrip().startswith("#"):
                # "# comments" help staff keep the list tidy; skipped before csv reads them,
                # so a quote in a comment cannot open a field.
                self.lines.next += 1
                continue
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                self._quote_problem(start, str(error))
                # Read on from the next line: the rows after a stray quote are still
                # checked and counted, instead of vanishing into one field.
                self.lines.next = start + 1
                continue
            if self.lines.next - start > 1 and self._swallows_rows(start, self.lines.next):
                self.lines.next = start + 1
                continue
            if self.header is None:
                if not self._read_header(row, start + 1):
                    return self._result()
                continue
            self._read_row(row, start + 1)
        if self.header is None and not self.issues:
            self.add(1, "header", 'empty file; first row must be "name,aliases,note"')
        elif self.header is not None and not self.people and not self.issues:
            # A people watchlist with nobody on it can never alert: a silent miss (SPEC §1).
            self.add(1, "name", "the list has no people")
        return self._result()

    def _result(self) -> PeopleList:
        return PeopleList(tuple(self.people), tuple(self.issues), tuple(self.warnings))

    # quotes ---------------------------------------------------------------------------

    def _column_at(self, start: int) -> str:
        """The column of line `start` whose quote is the problem (see `_quoted_field`)."""
        return self._column(_quoted_field(self.lines.lines[start]))

    def _column(self, index: int) -> str:
        if self.header is None:
            return "header"
        return self.header[index] if index < len(self.header) else "row"

    def _quote_problem(self, start: int, reason: str) -> None:
        """Report a record that `csv` refused, on the line where it starts."""
        failed_on = self.lines.next  # the line the reader was on when it gave up
        column = self._column_at(start)
        if failed_on - start > 1 or "end of data" in reason:
            later = (
                "the rest of the file"
                if "end of data" in reason
                else _lines_phrase(start + 2, failed_on)
            )
            self.add(
                start + 1,
                column,
                f'the quote (") that opens the {column} here is not closed on this line, '
                f"so {later} would be read into it; end the {column} with a closing "
                '" on this line, or remove the stray quote',
            )
        else:
            # A note may hold a quote, written "" inside a quoted note; a name may not.
            fix = (
                "remove the quotes"
                if column in ("name", "aliases")
                else f'put the whole {column} in quotes and write a quote inside it as ""'
            )
            self.add(start + 1, column, f'text after the closing quote (") of the {column}: {fix}')

    def _swallows_rows(self, start: int, end: int) -> bool:
        """Whether a record spanning lines `start`..`end - 1` read later rows into a field.

        A note may span lines (a quoted field may hold line breaks), but a continuation line
        with as many commas as a row has is a row of its own, read in because the quote on
        line `start` was not closed where it should have been.
        """
        commas = max(1, len(self.header or _PEOPLE_COLUMNS) - 1)
        swallowed = [
            start + 1 + offset
            for offset, line in enumerate(self.lines.lines[start + 1 : end], start=1)
            if line.count(",") >= commas
        ]
        if not swallowed:
            return False
        column = self._column_at(start)
        self.add(
            start + 1,
            column,
            f'the quote (") that opens the {column} here is not closed on this line, so '
            f"{_lines_phrase(swallowed[0], end)} would be read into it; end the {column} "
            'with a closing " on this line, or remove the stray quote',
        )
        return True

    # rows -----------------------------------------------------------------------------

    def _read_header(self, row: list[str], line: int) -> bool:
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            return True  # blank lines and "# comments" before the header
        header = [cell.strip().lower() for cell in row]
        if "name" not in header:
            self.add(line, "header", 'first row must be the header "name,aliases,note"')
            return False
        for column in header:
            if column not in _PEOPLE_COLUMNS:
                message = f'unknown column "{column}"; columns are name, aliases, note'
                self.add(line, "header", message)
        self.header = header
        return True

    def _read_row(self, row: list[str], line: int) -> None:
        assert self.header is not None
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            return  # blank lines and "# comments" help staff keep the list tidy
        header = self.header
        if len(row) > len(header):
            self.add(
                line,
                "row",
                f"{_fields(len(row))} but the header has {len(header)} ({', '.join(header)}): "
                'a note that holds a comma must be in quotes ("…, …"); '
                "a name or alias cannot hold a comma",
            )
            return
        if len(row) < len(header):
            missing = ", ".join(header[len(row) :])
            self.warnings.append(
                ConfigIssue(
                    self.shown,
                    line,
                    "row",
                    f"{WARNING}{_fields(len(row))} but the header has {len(header)} "
                    f"({', '.join(header)}): {missing} read as empty",
                )
            )
        cells = dict(zip(header, [cell.strip() for cell in row], strict=False))
        name = cells.get("name", "")
        if not name:
            self.add(line, "name", "empty name")
            return
        aliases_text = cells.get("aliases", "")
        aliases = [a.strip() for a in aliases_text.split("|")] if aliases_text else []
        if any(not alias for alias in aliases):
            self.add(line, "aliases", 'empty alias (a stray "|")')
            return
        bad = [
            (column, text)
            for column, text in [("name", name)] + [("aliases", a) for a in aliases]
            if _not_a_name(text)
        ]
        for column, text in bad:
            self.add(
                line,
                column,
                f"holds {_not_a_name(text)}; a name or alias is plain text: no quotes, "
                "commas or line breaks (put remarks in the note)",
            )
        if not bad:
            self.people.append(
                Person(name=name, aliases=tuple(aliases), note=cells.get("note", ""))
            )


def _quoted_field(line: str) -> int:
    """Index of the field of `line` (one CSV line) whose quote is wrong: the one still open
    at the end of the line, else the first one with text after its closing quote."""
    index, quoted, at_start, i = 0, False, True, 0
    while i < len(line):
        char = line[i]
        if quoted:
            if char == '"':
                if line.startswith('""', i):  # an escaped quote inside the field
                    i += 2
                    continue
                quoted = False
                if line[i + 1 : i + 2] not in (",", "\n", "\r", ""):
                    return index
        elif char == ",":
            index, at_start = index + 1, True
            i += 1
            continue
        elif char == '"' and at_start:
            quoted = True  # csv opens a quoted field only at the field's first character
        at_start = False
        i += 1
    return index


def _not_a_name(text: str) -> str:
    """What in `text` cannot be part of a name ("a comma"), or "" if nothing."""
    return next((what for char, what in _NOT_IN_NAMES.items() if char in text), "")


def _fields(count: int) -> str:
    return "1 field" if count == 1 else f"{count} fields"


def _lines_phrase(first: int, last: int) -> str:
    return f"line {first}" if first >= last else f"lines {first}–{last}"
