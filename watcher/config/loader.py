"""One validation run over a config file: `Loader` reads it, collects every issue, and
builds the `watcher.models.Config` only when there are none.

Checks that span tables (duplicate names, references between watchlists, sources and
channels, the people file) run over the raw data after each table's shape is checked,
so one broken entry does not hide the mistakes in the others.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from watcher.channel_check import ChannelCheck
from watcher.config.channel_urls import (
    ChannelUrl,
    PendingChannelCheck,
    fill_channel_url,
    missing_variables,
)
from watcher.config.database import expand_database_url
from watcher.config.issues import ConfigIssue, os_reason, suggest, unknown_key_message
from watcher.config.locator import Locator, decode_error_position
from watcher.config.people import read_people
from watcher.config.state_dir import state_dir_problem
from watcher.config.tables import (
    ENTRY_NOUN,
    TABLE_MODELS,
    TABLES,
    ChannelTable,
    Entry,
    SettingsTable,
    SourceTable,
    Table,
    WatchlistTable,
    WebTable,
    pydantic_message,
)
from watcher.config.values import read_kind, read_names, read_optional_name, read_text
from watcher.models import Channel, Config, Person, Settings, Source, Watchlist, WebSettings
from watcher.sources import KIND_KEYS, KINDS, SourceKind

_T = TypeVar("_T")


class Loader:
    """One validation run: reads the file, collects issues, builds the Config if clean."""

    def __init__(
        self,
        path: Path,
        environ: Mapping[str, str],
        *,
        need_secrets: bool = True,
        probe_state: bool = False,
        defer_channel_check: bool = False,
        channel_check: ChannelCheck | None = None,
    ) -> None:
        """`need_secrets=False`: a channel whose `${VAR}` are not set is listed in
        `unchecked` (with an empty URL) instead of being an error, for commands that send
        nothing. `probe_state=True`: check that `state_dir` can be created and written.
        `defer_channel_check=True`: when nothing else is wrong, `load` returns the Config
        with Apprise's check of the channel URLs still running in `pending_channels`;
        the caller must resolve it before it polls or writes anything. `channel_check`:
        a child already started (and loading Apprise) to check the channel URLs with;
        otherwise one is started when there are URLs to check."""
        self.path = path
        self.file = str(path)
        self.folder = path.parent
        self.environ = environ
        self.need_secrets = need_secrets
        self.probe_state = probe_state
        self.defer_channel_check = defer_channel_check
        self.channel_check = channel_check
        #: Apprise's check of the channel URLs, when `load` left it to the caller
        self.pending_channels: PendingChannelCheck | None = None
        self._channel_urls: list[tuple[ChannelUrl, str]] = []
        self.issues: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []
        #: channel name → the variables that are not set (only with need_secrets=False)
        self.unchecked: dict[str, list[str]] = {}
        #: people list as the config names it → how many people it holds
        self.people_counts: dict[str, int] = {}
        self.locator = Locator("")
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
        entries = {table: self._entries(data, table) for table in TABLE_MODELS}
        for table in TABLE_MODELS:
            self._check_duplicates(entries[table])
        names = {table: _known_names(entries[table]) for table in TABLE_MODELS}

        sources = [self._source(e, settings) for e in entries["sources"]]
        watchlists = [self._watchlist(e, names["sources"]) for e in entries["watchlists"]]
        channels = [self._channel(e, names["watchlists"]) for e in entries["channels"]]
        # One child process checks every URL while the rest of the config is read.
        pending = self._submit_channel_urls()
        self._check_admin_channel(data.get("settings"), names["channels"])
        web = self._web(data.get("web"))
        database = self._database(settings)

        if settings is not None and self.probe_state:
            self._check_state_dir(settings)

        if self.defer_channel_check and not self.issues and settings is not None:
            self.pending_channels = pending
        else:
            self.issues.extend(pending.issues())
        if self.issues or settings is None:
            return None
        return Config(
            path=os.path.abspath(self.path),
            settings=dataclasses.replace(self._settings(settings), **database),
            sources=tuple(s for s in sources if s is not None),
            watchlists=tuple(w for w in watchlists if w is not None),
            channels=tuple(c for c in channels if c is not None),
            web=web,
        )

    # reading ----------------------------------------------------------------------

    def _parse(self) -> dict[str, Any] | None:
        try:
            raw = self.path.read_bytes()
        except OSError as error:
            self.add(0, "config", os_reason(error))
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
            line, message = decode_error_position(str(error), text)
            self.add(line, "toml", message)
            return None
        self.locator = Locator(text)
        return data

    def _check_root(self, data: Mapping[str, object]) -> None:
        for key, value in data.items():
            if key not in TABLES:
                line = self.locator.line("", None, key)
                if isinstance(value, dict):
                    line = self.locator.line(key)
                elif isinstance(value, list) and value and isinstance(value[0], dict):
                    line = self.locator.line(key, 0)
                self.add(line, key, unknown_key_message(key, TABLES))
        for table in ("settings", "web"):
            value = data.get(table)
            if value is not None and not isinstance(value, dict):
                self.add(self.locator.line("", None, table), table, f"must be a [{table}] table")

    def _entries(self, data: Mapping[str, object], table: str) -> list[Entry]:
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
            entry = Entry(table, index, raw, label)
            entry.model = self._validate(TABLE_MODELS[table], raw, table, index, self.field(entry))
            entries.append(entry)
        return entries

    def _validate(
        self, model: type[Table], raw: object, table: str, index: int | None, prefix: str
    ) -> Any:
        try:
            return model.model_validate(raw)
        except ValidationError as error:
            for problem in error.errors():
                key = str(problem["loc"][0]) if problem["loc"] else None
                field = f"{prefix}.{key}" if key else prefix
                line = self.locator.line(table, index, key)
                self.add(line, field, pydantic_message(problem, model))
            return None

    def field(self, entry: Entry, key: str | None = None) -> str:
        base = f"{entry.table}[{entry.label}]"
        return f"{base}.{key}" if key else base

    def line(self, entry: Entry, key: str | None = None) -> int:
        return self.locator.line(entry.table, entry.index, key)

    # settings ---------------------------------------------------------------------

    def _validate_settings(self, raw: object) -> SettingsTable | None:
        if not isinstance(raw, dict):
            return None
        model: SettingsTable | None = self._validate(
            SettingsTable, raw, "settings", None, "settings"
        )
        return model

    def _settings(self, table: SettingsTable) -> Settings:
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

    def _web(self, raw: object) -> WebSettings | None:
        """`[web]` (SPEC §12); None when the config has no such table."""
        if not isinstance(raw, dict):
            return None
        table: WebTable | None = self._validate(WebTable, raw, "web", None, "web")
        return WebSettings(listen=table.listen) if table is not None else None

    def _database(self, table: SettingsTable | None) -> dict[str, Any]:
        """`settings.database` with `${VAR}` filled (SPEC §11); problems on its line."""
        if table is None or not table.database:
            return {}
        url, problems, secrets = expand_database_url(table.database, self.environ)
        line = self.locator.line("settings", None, "database")
        for problem in problems:
            self.add(line, "settings.database", problem)
        return {"database": url, "database_secrets": tuple(sorted(secrets))}

    def _resolve(self, relative: str) -> str:
        # SPEC §3: relative paths resolve against the config file's folder, not the cwd,
        # so `watcher -c /etc/watcher/watcher.toml` works from any directory.
        return os.path.abspath(self.folder / relative)

    def _check_state_dir(self, table: SettingsTable) -> None:
        # Only `check` asks: the commands that use the state report it themselves.
        problem = state_dir_problem(self._resolve(table.state_dir))
        if problem is not None:
            line = self.locator.line("settings", None, "state_dir")
            self.add(line, "settings.state_dir", problem)

    def _check_admin_channel(self, raw: object, channels: set[str]) -> None:
        name = _read(raw, "admin_channel", read_optional_name, None)
        if name is not None and name not in channels:
            line = self.locator.line("settings", None, "admin_channel")
            message = f'no channel named "{name}"' + suggest(name, channels)
            self.add(line, "settings.admin_channel", message)

    # cross-entry checks -----------------------------------------------------------

    def _check_duplicates(self, entries: list[Entry]) -> None:
        first: dict[str, int] = {}
        for entry in entries:
            if entry.label.startswith("#"):
                continue
            line = self.line(entry, "name")
            if entry.label in first:
                noun = ENTRY_NOUN[entry.table]
                earlier = first[entry.label]
                message = f'duplicate name "{entry.label}": the {noun} on line {earlier} has it too'
                self.add(line, self.field(entry, "name"), message)
            else:
                first[entry.label] = line

    def _check_references(self, entry: Entry, key: str, known: set[str], noun: str) -> None:
        nothing: tuple[str, ...] = ()
        for name in _read(entry.raw, key, read_names, nothing) or nothing:
            if name != "*" and name not in known:
                message = f'no {noun} named "{name}"' + suggest(name, known)
                self.add(self.line(entry, key), self.field(entry, key), message)

    # Each entry is checked from its raw values, field by field, so that a mistake in one
    # key (already reported by pydantic) does not hide the mistakes in the others. The
    # domain object is built only from an entry that validated cleanly.

    # sources ----------------------------------------------------------------------

    def _source(self, entry: Entry, settings: SettingsTable | None) -> Source | None:
        name = _read(entry.raw, "kind", read_kind, "feed")
        if name is not None:
            self._check_kind_keys(entry, KINDS[name])
        table: SourceTable | None = entry.model
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

    def _check_kind_keys(self, entry: Entry, kind: SourceKind) -> None:
        """The keys only some kinds take (watcher.sources.KINDS): this kind's required
        ones present, other kinds' absent."""
        for key in kind.required():
            if key.name not in entry.raw:
                self.add(
                    self.line(entry, "kind"),
                    self.field(entry, key.name),
                    f'required when kind = "{kind.name}" ({key.meaning})',
                )
        own = {key.name for key in kind.keys}
        for name in KIND_KEYS:
            if name in entry.raw and name not in own:
                users = " or ".join(
                    f'"{k.name}"' for k in KINDS.values() if name in {x.name for x in k.keys}
                )
                self.add(
                    self.line(entry, name),
                    self.field(entry, name),
                    f'only used when kind = {users} (this source is "{kind.name}")',
                )

    # watchlists -------------------------------------------------------------------

    def _watchlist(self, entry: Entry, sources: set[str]) -> Watchlist | None:
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
        written = _read(entry.raw, "people", read_text, None)
        people = self._load_people(entry, written) if written else []
        table: WatchlistTable | None = entry.model
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

    def _load_people(self, entry: Entry, written: str) -> list[Person]:
        path = Path(self._resolve(written))
        if path in self._people:  # several watchlists may share one list; report once
            return self._people[path]
        shown = str(self.folder / written)
        found = read_people(path, shown)
        people = list(found.people)
        self.warnings.extend(found.warnings)
        if not any(issue.line == 0 for issue in found.issues):
            self.people_counts[shown] = len(people)
        for issue in found.issues:
            if issue.line == 0:
                # Cannot read it at all: point at the config line that names it.
                message = f"cannot read people list {shown}: {issue.message}"
                self.add(self.line(entry, "people"), self.field(entry, "people"), message)
            else:
                self.issues.append(issue)
        self._people[path] = people
        return people

    # channels ---------------------------------------------------------------------

    def _channel(self, entry: Entry, watchlists: set[str]) -> Channel | None:
        self._check_references(entry, "watchlists", watchlists, "watchlist")
        template = _read(entry.raw, "url", read_text, None)
        url = self._expand(entry, template) if template else None
        table: ChannelTable | None = entry.model
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

    def _submit_channel_urls(self) -> PendingChannelCheck:
        urls = [url for _, url in self._channel_urls]
        check = self.channel_check
        if check is None and urls:
            check = ChannelCheck()
        if check is not None:
            check.submit(urls)
        return PendingChannelCheck([place for place, _ in self._channel_urls], check)

    def _expand(self, entry: Entry, template: str) -> str | None:
        """Fill `${VAR}` from the environment; report what stops it on the channel's
        `url` line (see `fill_channel_url`). The filled URL is queued for Apprise's
        check, which `load` runs for every channel at once."""
        if not self.need_secrets:
            missing = missing_variables(template, self.environ)
            if missing:
                # Nothing is sent through it by this command: no URL needed.
                self.unchecked[entry.label] = missing
                return ""
        url, problems = fill_channel_url(template, self.environ)
        line, field = self.line(entry, "url"), self.field(entry, "url")
        for problem in problems:
            self.add(line, field, problem)
        if url is not None:
            self._channel_urls.append((ChannelUrl(self.file, line, field, template), url))
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


def _known_names(entries: list[Entry]) -> set[str]:
    # From the raw data, so an entry with a mistake elsewhere still counts as existing and
    # references to it do not raise a second, misleading error.
    return {e.label for e in entries if not e.label.startswith("#")}
