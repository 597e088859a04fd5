"""Load and validate the TOML config and the people list (SPEC §3, §4).

`load_config` returns a `watcher.models.Config` or raises `ConfigError` carrying *every*
problem it found, each as `FILE:LINE: field: message` (STYLE: "config errors are data").

How it works, and why (one module each):

- `locator`: `tomllib` parses the file but keeps no line numbers, so `Locator` scans the
  text for table headers and `key =` lines to map (table, entry, key) back to a line.
- `tables`: pydantic (strict, `extra="forbid"`) checks the shape of each table: unknown
  keys, missing keys, wrong types. Values with a meaning of their own (durations,
  severities, URLs, term lists) are read by the plain readers in `values`, so their
  messages say what is wrong in the config's own words rather than pydantic's.
- `loader`: checks that span tables (duplicate names, references between watchlists,
  sources and channels, the people file) run afterwards over the raw data, so one broken
  entry does not hide the mistakes in the others. `channel_urls` fills `${VAR}` in
  channel URLs and has Apprise check them in a child process (`watcher.channel_check`,
  so that Apprise's plugins stay out of this process); `people` reads the people CSV;
  `issues` holds `ConfigIssue`.

Field names in issues follow one convention: `settings.KEY`, and `TABLE[NAME].KEY` for
entries of `[[sources]]`, `[[watchlists]]` and `[[channels]]`, where NAME is the entry's
`name`; an entry without a usable name is `TABLE[#N]`, N counting its tables from 1.
Problems inside the people CSV name that file, its line and the column.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from watcher.channel_check import ChannelCheck
from watcher.config.channel_urls import PendingChannelCheck
from watcher.config.issues import ConfigError, ConfigIssue
from watcher.config.loader import Loader
from watcher.config.people import load_people
from watcher.matching.termsets import TERMSETS
from watcher.models import Config

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "KNOWN_TERM_SETS",
    "ConfigError",
    "ConfigIssue",
    "LoadedConfig",
    "check_config",
    "default_config_path",
    "load_config",
    "load_people",
    "read_config",
]

#: Term sets (`@arrest`) that `any`, `all`, `none` and `near` may name (SPEC §5). The
#: matching module owns their words; this is only the list of names `check` accepts
#: (watcher.config.values reads it from here each time it checks a term).
KNOWN_TERM_SETS: frozenset[str] = frozenset(TERMSETS)  # `@name` in any/all/none/near

#: Where the config lives when neither `-c` nor `$WATCHER_CONFIG` says (SPEC §3).
DEFAULT_CONFIG_PATH = Path("config/watcher.toml")


def default_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return `$WATCHER_CONFIG` if set and not empty, else `config/watcher.toml` (SPEC §3)."""
    env = os.environ if environ is None else environ
    value = env.get("WATCHER_CONFIG", "")
    return Path(value) if value else DEFAULT_CONFIG_PATH


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config with what `watcher check` reports beside it.

    `warnings`: problems that leave the config usable (`FILE:LINE: field: warning: …`).
    `people_counts`: each people list, as the config names it, and how many people it holds.
    `unchecked`: with `need_secrets=False`, each channel whose `${VAR}` are not set, and
    those variables; such a channel's `url` is empty.
    `pending_channels`: with `defer_channel_check=True`, Apprise's check of the channel
    URLs, still running; resolve it (`resolve_channels`) before polling or writing.
    """

    config: Config
    warnings: tuple[ConfigIssue, ...] = ()
    people_counts: tuple[tuple[str, int], ...] = ()
    unchecked: tuple[tuple[str, tuple[str, ...]], ...] = ()
    pending_channels: PendingChannelCheck | None = None

    def resolve_channels(self) -> Config:
        """The config once Apprise accepts every channel URL; raises `ConfigError` with
        each refused one (`FILE:LINE: field: message`) otherwise. Waits for the check."""
        if self.pending_channels is not None:
            issues = self.pending_channels.issues()
            if issues:
                raise ConfigError(issues)
        return self.config


def read_config(
    path: str | Path,
    environ: Mapping[str, str] | None = None,
    *,
    need_secrets: bool = True,
    probe_state: bool = False,
    defer_channel_check: bool = False,
    channel_check: ChannelCheck | None = None,
) -> LoadedConfig:
    """Read and validate the config at `path`, like `load_config`, keeping what `check` shows.

    `need_secrets=False` is for commands that send nothing (`status`, `export`, `explain`):
    a channel whose variables are not set is listed in `unchecked` instead of failing.
    `probe_state=True` (for `check`) also makes sure `state_dir` can be created and written.
    `defer_channel_check=True` (for `once` and `run`): when nothing else is wrong, return
    while Apprise's check of the channel URLs still runs in a child process; the caller
    calls `resolve_channels()` just before it polls. Otherwise the load waits for it.
    `channel_check`: a child started early to check the channel URLs (`once` starts it
    before it imports the config code); it is given the URLs, or stopped on an error.
    """
    loader = Loader(
        Path(path),
        os.environ if environ is None else environ,
        need_secrets=need_secrets,
        probe_state=probe_state,
        defer_channel_check=defer_channel_check,
        channel_check=channel_check,
    )
    try:
        config = loader.load()
    finally:
        if channel_check is not None and channel_check.urls is None:
            channel_check.close()  # the load stopped before the channels: not needed
    if loader.issues or config is None:
        raise ConfigError(loader.sorted_issues())
    return LoadedConfig(
        config=config,
        warnings=tuple(sorted(loader.warnings, key=lambda i: (i.file, i.line))),
        people_counts=tuple(loader.people_counts.items()),
        unchecked=tuple((name, tuple(names)) for name, names in loader.unchecked.items()),
        pending_channels=loader.pending_channels,
    )


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, validate and return the config at `path`; `${VAR}` in channel URLs reads `environ`.

    Relative paths in the file resolve against the file's folder. Raises `ConfigError` with
    every problem found (never a partial config).
    """
    return read_config(path, environ).config


def check_config(path: str | Path, environ: Mapping[str, str] | None = None) -> list[ConfigIssue]:
    """Return every problem in the config at `path` (an empty list when it is valid)."""
    try:
        load_config(path, environ)
    except ConfigError as error:
        return error.issues
    return []
