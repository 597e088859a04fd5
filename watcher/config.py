"""Load and validate the TOML config and the people list (SPEC §3, §4).

`load_config` returns a `watcher.models.Config` or raises `ConfigError` carrying *every*
problem it found, each as `FILE:LINE: field: message` (STYLE: "config errors are data").

How it works, and why:

- `tomllib` parses the file but keeps no line numbers, so `_Locator` scans the text for
  table headers and `key =` lines to map (table, entry, key) back to a line.
- pydantic (strict, `extra="forbid"`) checks the shape of each table: unknown keys, missing
  keys, wrong types. Values with a meaning of their own (durations, severities, URLs, term
  lists) are read by the plain validators below, so their messages say what is wrong in the
  config's own words rather than pydantic's.
- Checks that span tables (duplicate names, references between watchlists, sources and
  channels, the people file) run afterwards over the raw data, so one broken entry does not
  hide the mistakes in the others.

Field names in issues follow one convention: `settings.KEY`, and `TABLE[NAME].KEY` for
entries of `[[sources]]`, `[[watchlists]]` and `[[channels]]`, where NAME is the entry's
`name`; an entry without a usable name is `TABLE[#N]`, N counting its tables from 1.
Problems inside the people CSV name that file, its line and the column.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import logging
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError

from watcher.durations import parse_duration, parse_size
from watcher.models import Channel, Config, Person, Settings, Severity, Source, Watchlist
from watcher.termsets import TERMSETS

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "KNOWN_TERM_SETS",
    "ConfigError",
    "ConfigIssue",
    "check_config",
    "default_config_path",
    "load_config",
    "load_people",
]

#: Term sets (`@arrest`) that `any`, `all`, `none` and `near` may name (SPEC §5). The
#: matching module owns their words; this is only the list of names `check` accepts.
KNOWN_TERM_SETS: frozenset[str] = frozenset(TERMSETS)  # `@name` in any/all/none/near

#: Where the config lives when neither `-c` nor `$WATCHER_CONFIG` says (SPEC §3).
DEFAULT_CONFIG_PATH = Path("config/watcher.toml")

_SOURCE_KINDS = ("feed", "html", "sitemap")
_HTML_SELECTORS = ("item", "title", "link", "date", "summary")
_HTML_REQUIRED = ("item", "title", "link")
_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_PEOPLE_COLUMNS = ("name", "aliases", "note")
_TABLES = ("settings", "sources", "watchlists", "channels")
_ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DAILY_TIME = re.compile(r"(\d{1,2}):(\d{2})")
# The defaults of SPEC §4 live in the dataclasses of watcher.models; read them from there.
_SETTINGS_DEFAULTS = Settings(state_dir="")
_WATCHLIST_DEFAULTS = Watchlist(name="")
_CHANNEL_DEFAULTS = Channel(name="", url="")


# --- issues ------------------------------------------------------------------------


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


# --- public API ----------------------------------------------------------------------


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return `$WATCHER_CONFIG` if set and not empty, else `config/watcher.toml` (SPEC §3)."""
    env = os.environ if environ is None else environ
    value = env.get("WATCHER_CONFIG", "")
    return Path(value) if value else DEFAULT_CONFIG_PATH


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and return the config at `path`; `${VAR}` in channel URLs reads `environ`.

    Relative paths in the file resolve against the file's folder. Raises `ConfigError` with
    every problem found (never a partial config).
    """
    loader = _Loader(Path(path), os.environ if environ is None else environ)
    config = loader.load()
    if loader.issues or config is None:
        raise ConfigError(loader.sorted_issues())
    return config


def check_config(path: str | Path, environ: Mapping[str, str] | None = None) -> list[ConfigIssue]:
    """Return every problem in the config at `path` (an empty list when it is valid)."""
    try:
        load_config(path, environ)
    except ConfigError as error:
        return error.issues
    return []


def load_people(path: Path, display: str | None = None) -> tuple[list[Person], list[ConfigIssue]]:
    """Read a people CSV (header `name,aliases,note`; aliases separated by `|`).

    Returns the people and the problems found; issues name the file as `display` (default
    `str(path)`) with the CSV line. An unreadable file is one issue at line 0.
    """
    shown = str(path) if display is None else display
    try:
        raw = path.read_bytes()
    except OSError as error:
        return [], [ConfigIssue(shown, 0, "people", _os_reason(error))]
    try:
        # utf-8-sig: spreadsheet programs save CSV with a byte-order mark.
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        return [], [ConfigIssue(shown, line, "people", "not UTF-8 text; save the CSV as UTF-8")]
    return _parse_people(text, shown)


# --- where things are in the file ----------------------------------------------------


class _Locator:
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


# --- value readers: each returns the value or raises with the config's own words --------


def _fail(message: str) -> PydanticCustomError:
    # The message goes through pydantic's template; pass it as context so "{" is safe.
    return PydanticCustomError("config", "{reason}", {"reason": message})


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise _fail(f"must be a string, not {_toml_type(value)}")
    return value


def _text(value: object) -> str:
    text = _string(value).strip()
    if not text:
        raise _fail("must not be empty")
    return text


def _entry_name(value: object) -> str:
    name = _text(value)
    if name == "*":
        raise _fail('"*" means "all" where names are listed; choose another name')
    return name


def _optional_name(value: object) -> str | None:
    return _string(value).strip() or None


def _duration(value: object) -> float:
    try:
        seconds = parse_duration(_string(value))
    except ValueError as error:
        raise _fail(str(error)) from None
    if seconds <= 0:
        raise _fail("must be longer than zero")
    return seconds


def _size(value: object) -> int:
    try:
        size = parse_size(_string(value))
    except ValueError as error:
        raise _fail(str(error)) from None
    if size <= 0:
        raise _fail("must be larger than zero")
    return size


def _timezone(value: object) -> str:
    name = _text(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(
            f'unknown time zone "{name}"; use an IANA name such as "Asia/Phnom_Penh"'
        ) from None
    return name


def _proxy(value: object) -> str | None:
    text = _string(value).strip()
    if not text:
        return None
    parts = urlsplit(text)
    # Only the scheme is echoed: a proxy URL may carry a user name and password.
    if parts.scheme.lower() not in _PROXY_SCHEMES:
        raise _fail(
            f'proxy scheme must be http, https, socks5 or socks5h, not "{parts.scheme}"'
            if parts.scheme
            else 'must be a proxy URL such as "socks5://127.0.0.1:9050"'
        )
    if not parts.hostname:
        raise _fail("proxy URL has no host")
    return text


def _http_url(value: object) -> str:
    url = _text(value)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _fail(f'must be an http:// or https:// URL, not "{url}"')
    if any(char.isspace() for char in url):
        raise _fail(f'URL contains a space: "{url}"')
    return url


def _kind(value: object) -> str:
    kind = _string(value).strip()
    if kind not in _SOURCE_KINDS:
        raise _fail(f'must be one of {", ".join(_SOURCE_KINDS)}, not "{kind}"')
    return kind


def _severity(value: object) -> Severity:
    text = _string(value)
    try:
        return Severity.parse(text)
    except KeyError:
        names = ", ".join(s.label for s in Severity)
        raise _fail(f'must be one of {names}, not "{text}"') from None


def _selector(value: object) -> str:
    selector = _text(value)
    if not _css_selector_ok(selector):
        raise _fail(f'not a CSS selector the HTML parser understands: "{selector}"')
    return selector


def _term_problem(term: object) -> str | None:
    if not isinstance(term, str):
        return f"a term must be a string, not {_toml_type(term)}"
    if not term.strip():
        return "empty term"
    if term.strip().startswith("@"):
        name = term.strip()[1:]
        if name not in KNOWN_TERM_SETS:
            known = ", ".join(f"@{n}" for n in sorted(KNOWN_TERM_SETS))
            return f"unknown term set @{name} (known: {known})"
    return None


def _terms(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(f"must be an array of strings, not {_toml_type(value)}")
    problems = [p for p in map(_term_problem, value) if p]
    if problems:
        raise _fail("; ".join(dict.fromkeys(problems)))
    return tuple(term.strip() for term in value)


def _all_terms(value: object) -> tuple[tuple[str, ...], ...]:
    """`all = ["x", ["y", "z"]]` → `(("x",), ("y", "z"))`: a list entry is "one of these"."""
    if not isinstance(value, list):
        raise _fail(f"must be an array, not {_toml_type(value)}")
    groups: list[tuple[str, ...]] = []
    problems: list[str] = []
    for entry in value:
        group = entry if isinstance(entry, list) else [entry]
        if not group:
            problems.append("an entry that is a list needs at least one term")
        problems.extend(p for p in map(_term_problem, group) if p)
        groups.append(tuple(t.strip() for t in group if isinstance(t, str)))
    if problems:
        raise _fail("; ".join(dict.fromkeys(problems)))
    return tuple(groups)


def _names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(f'must be an array of names (or ["*"]), not {_toml_type(value)}')
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail("every entry must be a name (a non-empty string)")
    return tuple(v.strip() for v in value)


def _within(value: object) -> int:
    # bool is an int in Python; `within = true` is a mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _fail(f"must be a whole number of words above zero, not {_toml_repr(value)}")
    return value


def _digest(value: object) -> str:
    text = _string(value).strip()
    if not text:
        return ""
    daily = _DAILY_TIME.fullmatch(text)
    if daily is not None:
        if int(daily.group(1)) > 23 or int(daily.group(2)) > 59:
            raise _fail(f'"{text}" is not a time of day (00:00 to 23:59)')
        return text
    try:
        if parse_duration(text) > 0:
            return text
    except ValueError:
        pass
    raise _fail(
        f'must be "" (send at once), a daily time "HH:MM", or a duration such as "1h"; not "{text}"'
    )


_T = TypeVar("_T")


def _reads(reader: Callable[[object], _T]) -> Any:
    """A pydantic annotation that hands the raw TOML value to `reader`."""
    return PlainValidator(reader)


Text = Annotated[str, _reads(_text)]
Name = Annotated[str, _reads(_entry_name)]
OptionalName = Annotated[str | None, _reads(_optional_name)]
Duration = Annotated[float, _reads(_duration)]
OptionalDuration = Annotated[float | None, _reads(_duration)]
Size = Annotated[int, _reads(_size)]
Timezone = Annotated[str, _reads(_timezone)]
Proxy = Annotated[str | None, _reads(_proxy)]
HttpUrl = Annotated[str, _reads(_http_url)]
Kind = Annotated[str, _reads(_kind)]
SeverityName = Annotated[Severity, _reads(_severity)]
Selector = Annotated[str | None, _reads(_selector)]
Terms = Annotated[tuple[str, ...], _reads(_terms)]
AllTerms = Annotated[tuple[tuple[str, ...], ...], _reads(_all_terms)]
Names = Annotated[tuple[str, ...], _reads(_names)]
Within = Annotated[int, _reads(_within)]
Digest = Annotated[str, _reads(_digest)]
PeopleFile = Annotated[str | None, _reads(_text)]


# --- the shape of each table ---------------------------------------------------------


class _Table(BaseModel):
    # strict: TOML already has types; "30" for a number or 1 for true is a mistake to report.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _SettingsTable(_Table):
    state_dir: Text
    timezone: Timezone = _SETTINGS_DEFAULTS.timezone
    interval: Duration = _SETTINGS_DEFAULTS.interval
    max_age: Duration = _SETTINGS_DEFAULTS.max_age
    user_agent: Text = _SETTINGS_DEFAULTS.user_agent
    admin_channel: OptionalName = None
    timeout: Duration = _SETTINGS_DEFAULTS.timeout
    max_size: Size = _SETTINGS_DEFAULTS.max_size
    proxy: Proxy = None
    stale_after: Duration = _SETTINGS_DEFAULTS.stale_after
    give_up: Duration = _SETTINGS_DEFAULTS.give_up
    retention: Duration = _SETTINGS_DEFAULTS.retention


class _SourceTable(_Table):
    name: Name
    url: HttpUrl
    kind: Kind = "feed"
    interval: OptionalDuration = None  # None: the settings' interval
    fulltext: bool = False
    allow_private: bool = False
    proxy: Proxy = None  # absent: the settings' proxy; "": no proxy for this source
    item: Selector = None
    title: Selector = None
    link: Selector = None
    date: Selector = None
    summary: Selector = None


class _WatchlistTable(_Table):
    name: Name
    severity: SeverityName = _WATCHLIST_DEFAULTS.severity
    any: Terms = ()
    all: AllTerms = ()
    none: Terms = ()
    sources: Names = _WATCHLIST_DEFAULTS.sources
    people: PeopleFile = None
    near: Terms = ()
    within: Within = _WATCHLIST_DEFAULTS.within
    fuzzy: bool = False


class _ChannelTable(_Table):
    name: Name
    url: Text
    watchlists: Names = _CHANNEL_DEFAULTS.watchlists
    min_severity: SeverityName = _CHANNEL_DEFAULTS.min_severity
    digest: Digest = ""
    possible: bool = False


_TABLE_MODELS: dict[str, type[_Table]] = {
    "sources": _SourceTable,
    "watchlists": _WatchlistTable,
    "channels": _ChannelTable,
}
_ENTRY_NOUN = {"sources": "source", "watchlists": "watchlist", "channels": "channel"}


@dataclass
class _Entry:
    """One `[[table]]` entry: its raw data, where it is, and its validated form if any."""

    table: str
    index: int
    raw: Mapping[str, object]
    label: str
    model: Any = None


# --- the loader ----------------------------------------------------------------------


class _Loader:
    """One validation run: reads the file, collects issues, builds the Config if clean."""

    def __init__(self, path: Path, environ: Mapping[str, str]) -> None:
        self.path = path
        self.file = str(path)
        self.folder = path.parent
        self.environ = environ
        self.issues: list[ConfigIssue] = []
        self.locator = _Locator("")
        self._people: dict[Path, list[Person]] = {}

    def sorted_issues(self) -> list[ConfigIssue]:
        # The config's own lines first, then other files (people lists), each in line order.
        return sorted(self.issues, key=lambda i: (i.file != self.file, i.file, i.line))

    def add(self, line: int, field: str, message: str, file: str | None = None) -> None:
        self.issues.append(ConfigIssue(file or self.file, line, field, message))

    def load(self) -> Config | None:
        data = self._parse()
        if data is None:
            return None
        self._check_root(data)
        settings = self._validate_settings(data.get("settings", {}))
        entries = {table: self._entries(data, table) for table in _TABLE_MODELS}
        for table in _TABLE_MODELS:
            self._check_duplicates(entries[table])
        names = {table: _known_names(entries[table]) for table in _TABLE_MODELS}

        sources = [self._source(e, settings) for e in entries["sources"]]
        watchlists = [self._watchlist(e, names["sources"]) for e in entries["watchlists"]]
        channels = [self._channel(e, names["watchlists"]) for e in entries["channels"]]
        self._check_admin_channel(data.get("settings"), names["channels"])

        if self.issues or settings is None:
            return None
        return Config(
            path=os.path.abspath(self.path),
            settings=self._settings(settings),
            sources=tuple(s for s in sources if s is not None),
            watchlists=tuple(w for w in watchlists if w is not None),
            channels=tuple(c for c in channels if c is not None),
        )

    # reading ----------------------------------------------------------------------

    def _parse(self) -> dict[str, Any] | None:
        try:
            raw = self.path.read_bytes()
        except OSError as error:
            self.add(0, "config", _os_reason(error))
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            # TOML is UTF-8 by definition (TOML 1.0, "Spec").
            line = raw[: error.start].count(b"\n") + 1
            self.add(line, "toml", "not UTF-8 text; save the file as UTF-8")
            return None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            line, message = _decode_error_position(str(error), text)
            self.add(line, "toml", message)
            return None
        self.locator = _Locator(text)
        return data

    def _check_root(self, data: Mapping[str, object]) -> None:
        for key, value in data.items():
            if key not in _TABLES:
                line = self.locator.line("", None, key)
                if isinstance(value, dict):
                    line = self.locator.line(key)
                elif isinstance(value, list) and value and isinstance(value[0], dict):
                    line = self.locator.line(key, 0)
                self.add(line, key, _unknown_key_message(key, _TABLES))
        settings = data.get("settings")
        if settings is not None and not isinstance(settings, dict):
            self.add(
                self.locator.line("", None, "settings"), "settings", "must be a [settings] table"
            )

    def _entries(self, data: Mapping[str, object], table: str) -> list[_Entry]:
        value = data.get(table, [])
        if not isinstance(value, list):
            line = self.locator.line(table)
            self.add(line, table, f"must be [[{table}]] tables (note the double brackets)")
            return []
        entries = []
        for index, raw in enumerate(value):
            if not isinstance(raw, dict):
                self.add(
                    self.locator.line(table, index), f"{table}[#{index + 1}]", "must be a table"
                )
                continue
            name = raw.get("name")
            label = name.strip() if isinstance(name, str) else ""
            label = label or f"#{index + 1}"
            entry = _Entry(table, index, raw, label)
            entry.model = self._validate(_TABLE_MODELS[table], raw, table, index, self.field(entry))
            entries.append(entry)
        return entries

    def _validate(
        self, model: type[_Table], raw: object, table: str, index: int | None, prefix: str
    ) -> Any:
        try:
            return model.model_validate(raw)
        except ValidationError as error:
            for problem in error.errors():
                key = str(problem["loc"][0]) if problem["loc"] else None
                field = f"{prefix}.{key}" if key else prefix
                line = self.locator.line(table, index, key)
                self.add(line, field, _pydantic_message(problem, model))
            return None

    def field(self, entry: _Entry, key: str | None = None) -> str:
        base = f"{entry.table}[{entry.label}]"
        return f"{base}.{key}" if key else base

    def line(self, entry: _Entry, key: str | None = None) -> int:
        return self.locator.line(entry.table, entry.index, key)

    # settings ---------------------------------------------------------------------

    def _validate_settings(self, raw: object) -> _SettingsTable | None:
        if not isinstance(raw, dict):
            return None
        model: _SettingsTable | None = self._validate(
            _SettingsTable, raw, "settings", None, "settings"
        )
        return model

    def _settings(self, table: _SettingsTable) -> Settings:
        return Settings(
            state_dir=self._resolve(table.state_dir),
            timezone=table.timezone,
            interval=table.interval,
            max_age=table.max_age,
            user_agent=table.user_agent,
            admin_channel=table.admin_channel,
            timeout=table.timeout,
            max_size=table.max_size,
            proxy=table.proxy,
            stale_after=table.stale_after,
            give_up=table.give_up,
            retention=table.retention,
        )

    def _resolve(self, relative: str) -> str:
        # SPEC §3: relative paths resolve against the config file's folder, not the cwd,
        # so `watcher -c /etc/watcher/watcher.toml` works from any directory.
        return os.path.abspath(self.folder / relative)

    def _check_admin_channel(self, raw: object, channels: set[str]) -> None:
        name = _read(raw, "admin_channel", _optional_name, None)
        if name is not None and name not in channels:
            line = self.locator.line("settings", None, "admin_channel")
            message = f'no channel named "{name}"' + _suggest(name, channels)
            self.add(line, "settings.admin_channel", message)

    # cross-entry checks -----------------------------------------------------------

    def _check_duplicates(self, entries: list[_Entry]) -> None:
        first: dict[str, int] = {}
        for entry in entries:
            if entry.label.startswith("#"):
                continue
            line = self.line(entry, "name")
            if entry.label in first:
                noun = _ENTRY_NOUN[entry.table]
                earlier = first[entry.label]
                message = f'duplicate name "{entry.label}": the {noun} on line {earlier} has it too'
                self.add(line, self.field(entry, "name"), message)
            else:
                first[entry.label] = line

    def _check_references(self, entry: _Entry, key: str, known: set[str], noun: str) -> None:
        nothing: tuple[str, ...] = ()
        for name in _read(entry.raw, key, _names, nothing) or nothing:
            if name != "*" and name not in known:
                message = f'no {noun} named "{name}"' + _suggest(name, known)
                self.add(self.line(entry, key), self.field(entry, key), message)

    # Each entry is checked from its raw values, field by field, so that a mistake in one
    # key (already reported by pydantic) does not hide the mistakes in the others. The
    # domain object is built only from an entry that validated cleanly.

    # sources ----------------------------------------------------------------------

    def _source(self, entry: _Entry, settings: _SettingsTable | None) -> Source | None:
        kind = _read(entry.raw, "kind", _kind, "feed")
        if kind == "html":
            for key in _HTML_REQUIRED:
                if key not in entry.raw:
                    self.add(
                        self.line(entry, "kind"),
                        self.field(entry, key),
                        'required when kind = "html" (a CSS selector)',
                    )
        elif kind is not None:
            for key in _HTML_SELECTORS:
                if key in entry.raw:
                    self.add(
                        self.line(entry, key),
                        self.field(entry, key),
                        f'only used when kind = "html" (this source is "{kind}")',
                    )
        table: _SourceTable | None = entry.model
        if table is None or settings is None:
            return None
        # A source without `proxy` uses the global one; `proxy = ""` turns it off for this
        # source (e.g. a local gazette mirror that Tor cannot reach).
        proxy = table.proxy if "proxy" in table.model_fields_set else settings.proxy
        return Source(
            name=table.name,
            url=table.url,
            kind=table.kind,
            interval=table.interval if table.interval is not None else settings.interval,
            fulltext=table.fulltext,
            allow_private=table.allow_private,
            proxy=proxy,
            item=table.item,
            title=table.title,
            link=table.link,
            date=table.date,
            summary=table.summary,
        )

    # watchlists -------------------------------------------------------------------

    def _watchlist(self, entry: _Entry, sources: set[str]) -> Watchlist | None:
        self._check_references(entry, "sources", sources, "source")
        if not entry.raw.get("any") and "people" not in entry.raw:
            self.add(
                self.line(entry),
                self.field(entry),
                'needs "any" (terms) or "people" (a people list), or both',
            )
        if entry.raw.get("near") and "people" not in entry.raw:
            self.add(
                self.line(entry, "near"),
                self.field(entry, "near"),
                'only used with "people": it is how close a term must stand to a name',
            )
        written = _read(entry.raw, "people", _text, None)
        people = self._load_people(entry, written) if written else []
        table: _WatchlistTable | None = entry.model
        if table is None:
            return None
        return Watchlist(
            name=table.name,
            severity=table.severity,
            any=table.any,
            all=table.all,
            none=table.none,
            sources=table.sources,
            people=tuple(people),
            near=table.near,
            within=table.within,
            fuzzy=table.fuzzy,
        )

    def _load_people(self, entry: _Entry, written: str) -> list[Person]:
        path = Path(self._resolve(written))
        if path in self._people:  # several watchlists may share one list; report once
            return self._people[path]
        shown = str(self.folder / written)
        people, issues = load_people(path, shown)
        for issue in issues:
            if issue.line == 0:
                # Cannot read it at all: point at the config line that names it.
                message = f"cannot read people list {shown}: {issue.message}"
                self.add(self.line(entry, "people"), self.field(entry, "people"), message)
            else:
                self.issues.append(issue)
        self._people[path] = people
        return people

    # channels ---------------------------------------------------------------------

    def _channel(self, entry: _Entry, watchlists: set[str]) -> Channel | None:
        self._check_references(entry, "watchlists", watchlists, "watchlist")
        template = _read(entry.raw, "url", _text, None)
        url = self._expand(entry, template) if template else None
        table: _ChannelTable | None = entry.model
        if table is None or url is None:
            return None
        return Channel(
            name=table.name,
            url=url,
            url_template=table.url,
            watchlists=table.watchlists,
            min_severity=table.min_severity,
            digest=table.digest,
            possible=table.possible,
        )

    def _expand(self, entry: _Entry, template: str) -> str | None:
        """Fill `${VAR}` from the environment and check Apprise can use the result.

        Messages name the variable or the URL's scheme only: the rest of a channel URL
        holds tokens, passwords or phone numbers (SPEC §7).
        """
        line, field = self.line(entry, "url"), self.field(entry, "url")
        problems: list[str] = []
        unset: dict[str, None] = {}  # ordered set: one message naming every missing variable
        empty: dict[str, None] = {}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if not _ENV_NAME.fullmatch(name):
                problems.append(f'"${{{name}}}" is not a valid environment variable name')
            elif name not in self.environ:
                unset[name] = None
            elif not self.environ[name]:
                empty[name] = None
            else:
                # Inserted as written, not URL-encoded: a variable may hold "host:port" or
                # a path. Passwords with "@" or "/" must be stored percent-encoded.
                return self.environ[name]
            return ""

        url = _ENV_REFERENCE.sub(substitute, template)
        if "${" in _ENV_REFERENCE.sub("", template):
            problems.append('"${" without a closing "}"')
        for names, state in ((unset, "not set"), (empty, "empty")):
            if len(names) == 1:
                problems.append(f"environment variable {next(iter(names))} is {state}")
            elif names:
                problems.append(f"environment variables {', '.join(names)} are {state}")
        for problem in problems:
            self.add(line, field, problem)
        if problems:
            return None
        if not _apprise_accepts(url):
            scheme = urlsplit(template).scheme or template.split(":", 1)[0][:20]
            self.add(
                line,
                field,
                f'not a URL that Apprise accepts (service "{scheme}://"); '
                "check its form in the Apprise documentation for that service",
            )
            return None
        return url


# --- helpers -------------------------------------------------------------------------


def _read(raw: object, key: str, reader: Callable[[object], _T], default: _T) -> _T | None:
    """`raw[key]` read by `reader`; `default` if absent; None if unreadable (reported elsewhere)."""
    if not isinstance(raw, Mapping) or key not in raw:
        return default
    try:
        return reader(raw[key])
    except PydanticCustomError:
        return None


def _known_names(entries: list[_Entry]) -> set[str]:
    # From the raw data, so an entry with a mistake elsewhere still counts as existing and
    # references to it do not raise a second, misleading error.
    return {e.label for e in entries if not e.label.startswith("#")}


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


def _decode_error_position(message: str, text: str) -> tuple[int, str]:
    """Split tomllib's "Reason (at line 3, column 5)" into (3, "Reason (column 5)")."""
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match is not None:
        return int(match.group(1)), f"{message[: match.start()]} (column {match.group(2)})"
    match = re.search(r"\s*\(at end of document\)$", message)
    if match is not None:
        return max(1, len(text.splitlines())), f"{message[: match.start()]} (at end of file)"
    return 1, message


def _pydantic_message(problem: Mapping[str, Any], model: type[_Table]) -> str:
    kind, value = problem["type"], problem.get("input")
    if kind == "config":
        return str(problem["msg"])
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        key = str(problem["loc"][0])
        return _unknown_key_message(key, tuple(model.model_fields))
    if kind == "bool_type":
        return f"must be true or false, not {_toml_repr(value)}"
    if kind == "string_type":
        return f"must be a string, not {_toml_type(value)}"
    return str(problem["msg"])


def _unknown_key_message(key: str, known: tuple[str, ...]) -> str:
    return f'unknown key "{key}"' + _suggest(key, set(known))


def _suggest(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), "a date/time" if value is not None else "nothing")


def _toml_repr(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return f'"{value}"'
    return _toml_type(value)


def _os_reason(error: OSError) -> str:
    return error.strerror or str(error)


def _css_selector_ok(selector: str) -> bool:
    """Whether the HTML parser the sources use can compile `selector` (unknown: assume yes)."""
    try:
        from selectolax.lexbor import LexborHTMLParser, SelectolaxError
    except ImportError:  # pragma: no cover - selectolax is a declared dependency
        return True
    try:
        LexborHTMLParser("<p></p>").css(selector)
    except SelectolaxError:
        return False
    return True


@contextlib.contextmanager
def _apprise_quiet() -> Iterator[None]:
    # Apprise logs the URLs it fails to load (and, at debug level, the ones it loads) with
    # phone numbers and tokens in them; keep its logger silent while we probe.
    logger = logging.getLogger("apprise")
    was_disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was_disabled


def _apprise_accepts(url: str) -> bool:
    """Whether Apprise can build a notifier from `url` (parses only; sends nothing)."""
    import apprise  # imported here: loading its plugins takes a noticeable fraction of a second

    with _apprise_quiet():
        return apprise.Apprise.instantiate(url) is not None
