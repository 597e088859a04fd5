"""Config problems as data: `ConfigIssue`, `ConfigError`, and the wording they share.

Every check in the config package reports a `ConfigIssue` (file, line, field, message)
rather than raising, so that `watcher check` can list every mistake at once (STYLE:
"config errors are data"). The helpers below word values and suggestions the same way
in every message, in the config's own (TOML) terms.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in the config or people list, located for the person who must fix it.

    `line` is 1-based; 0 means the file as a whole (it could not be read at all).
    """

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message}"


class ConfigError(Exception):
    """The config is not usable; `issues` lists every problem found, in file order."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(issue) for issue in issues))


def unknown_key_message(key: str, known: tuple[str, ...]) -> str:
    """`unknown key "KEY"`, with the closest known key as a suggestion if one is close."""
    return f'unknown key "{key}"' + suggest(key, set(known))


def suggest(name: str, known: set[str]) -> str:
    """` (did you mean "X"?)` for the known name closest to `name`, or "" if none is close."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def toml_type(value: object) -> str:
    """What kind of TOML value `value` is, as a message says it: "an integer", "a table"."""
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), "a date/time" if value is not None else "nothing")


def toml_repr(value: object) -> str:
    """A scalar as TOML writes it (`true`, `30`, `"x"`); other values by their type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return f'"{value}"'
    return toml_type(value)


def os_reason(error: OSError) -> str:
    """Why a file could not be read, without the path (the issue names the file)."""
    return error.strerror or str(error)
