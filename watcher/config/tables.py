"""The shape of each config table, as pydantic models (strict, unknown keys refused).

One model per table: `[settings]`, `[[sources]]`, `[[watchlists]]`, `[[channels]]`,
`[web]`.
Each key names its type from watcher.config.values, so a value is read by the reader
that words its problems in the config's terms; `pydantic_message` words the rest
(missing keys, unknown keys, wrong types). Defaults come from the dataclasses of
watcher.models, where SPEC §4's defaults live.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from watcher.config.issues import toml_repr, toml_type, unknown_key_message
from watcher.config.values import (
    AllTerms,
    Digest,
    Duration,
    HttpUrl,
    Kind,
    Listen,
    Name,
    Names,
    OptionalDuration,
    OptionalName,
    PeopleFile,
    Proxy,
    Selector,
    SeverityName,
    Size,
    Terms,
    Text,
    Timezone,
    Within,
)
from watcher.models import Channel, Settings, Watchlist, WebSettings

#: The tables a config may have at its root.
TABLES = ("settings", "sources", "watchlists", "channels", "web")
# The defaults of SPEC §4 live in the dataclasses of watcher.models; read them from there.
_SETTINGS_DEFAULTS = Settings(state_dir="")
_WATCHLIST_DEFAULTS = Watchlist(name="")
_CHANNEL_DEFAULTS = Channel(name="", url="")


class Table(BaseModel):
    """Base of the table models: unknown keys refused, values never coerced."""

    # strict: TOML already has types; "30" for a number or 1 for true is a mistake to report.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SettingsTable(Table):
    """`[settings]`: the global settings."""

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
    database: Text | None = None  # checked and filled by watcher.config.database


class WebTable(Table):
    """`[web]`: the staff pages of SPEC §12, served by `watcher run` when present."""

    listen: Listen = WebSettings().listen


class SourceTable(Table):
    """One `[[sources]]` entry: a feed, HTML list page or sitemap to poll."""

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


class WatchlistTable(Table):
    """One `[[watchlists]]` entry: the terms and people that make an item an alert."""

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


class ChannelTable(Table):
    """One `[[channels]]` entry: where alerts go (an Apprise URL)."""

    name: Name
    url: Text
    watchlists: Names = _CHANNEL_DEFAULTS.watchlists
    min_severity: SeverityName = _CHANNEL_DEFAULTS.min_severity
    digest: Digest = ""
    possible: bool = False


#: The model of each array of tables.
TABLE_MODELS: dict[str, type[Table]] = {
    "sources": SourceTable,
    "watchlists": WatchlistTable,
    "channels": ChannelTable,
}
#: What messages call one entry of each array of tables.
ENTRY_NOUN = {"sources": "source", "watchlists": "watchlist", "channels": "channel"}


@dataclass
class Entry:
    """One `[[table]]` entry: its raw data, where it is, and its validated form if any."""

    table: str
    index: int
    raw: Mapping[str, object]
    label: str
    model: Any = None


def pydantic_message(problem: Mapping[str, Any], model: type[Table]) -> str:
    """One problem pydantic found in a table of `model`, in the config's own words."""
    kind, value = problem["type"], problem.get("input")
    if kind == "config":
        return str(problem["msg"])
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        key = str(problem["loc"][0])
        return unknown_key_message(key, tuple(model.model_fields))
    if kind == "bool_type":
        return f"must be true or false, not {toml_repr(value)}"
    if kind == "string_type":
        return f"must be a string, not {toml_type(value)}"
    return str(problem["msg"])
