"""The people list: a CSV of names and aliases that a `[[watchlists]]` entry names.

Header `name,aliases,note`; aliases are separated by `|`. Blank lines and lines whose
first cell starts with `#` are skipped. Problems name the CSV file, its line and the
column, as `ConfigIssue`s.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from watcher.config.issues import ConfigIssue, os_reason
from watcher.models import Person

_PEOPLE_COLUMNS = ("name", "aliases", "note")


def load_people(path: Path, display: str | None = None) -> tuple[list[Person], list[ConfigIssue]]:
    """Read a people CSV (header `name,aliases,note`; aliases separated by `|`).

    Returns the people and the problems found; issues name the file as `display` (default
    `str(path)`) with the CSV line. An unreadable file is one issue at line 0.
    """
    shown = str(path) if display is None else display
    try:
        raw = path.read_bytes()
    except OSError as error:
        return [], [ConfigIssue(shown, 0, "people", os_reason(error))]
    try:
        # utf-8-sig: spreadsheet programs save CSV with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        return [], [ConfigIssue(shown, line, "people", "not UTF-8 text; save the CSV as UTF-8")]
    return _parse_people(text, shown)


def _parse_people(text: str, shown: str) -> tuple[list[Person], list[ConfigIssue]]:
    issues: list[ConfigIssue] = []
    people: list[Person] = []
    header: list[str] | None = None
    reader = csv.reader(io.StringIO(text, newline=""))
    end_of_previous = 0
    for row in reader:
        # csv reports the line a record ends on; a quoted field may span lines.
        line, end_of_previous = end_of_previous + 1, reader.line_num
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue  # blank lines and "# comments" help staff keep the list tidy
        if header is None:
            header = [cell.strip().lower() for cell in row]
            unknown = [c for c in header if c not in _PEOPLE_COLUMNS]
            if "name" not in header:
                issues.append(
                    ConfigIssue(
                        shown, line, "header", 'first row must be the header "name,aliases,note"'
                    )
                )
                return [], issues
            for column in unknown:
                message = f'unknown column "{column}"; columns are name, aliases, note'
                issues.append(ConfigIssue(shown, line, "header", message))
            continue
        if len(row) > len(header):
            message = (
                f"{len(row)} fields but the header has {len(header)}; "
                "quote a field that holds a comma"
            )
            issues.append(ConfigIssue(shown, line, "row", message))
            continue
        cells = dict(zip(header, [cell.strip() for cell in row], strict=False))
        name = cells.get("name", "")
        if not name:
            issues.append(ConfigIssue(shown, line, "name", "empty name"))
            continue
        aliases_text = cells.get("aliases", "")
        aliases = [a.strip() for a in aliases_text.split("|")] if aliases_text else []
        if any(not alias for alias in aliases):
            issues.append(ConfigIssue(shown, line, "aliases", 'empty alias (a stray "|")'))
            continue
        people.append(Person(name=name, aliases=tuple(aliases), note=cells.get("note", "")))
    if header is None:
        issues.append(
            ConfigIssue(shown, 1, "header", 'empty file; first row must be "name,aliases,note"')
        )
    elif not people and not issues:
        # A people watchlist with nobody on it can never alert: a silent miss (SPEC §1).
        issues.append(ConfigIssue(shown, 1, "name", "the list has no people"))
    return people, issues
