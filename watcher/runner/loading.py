"""Reading the config for a command of the `watcher` command line (watcher.cli).

Every problem is printed (`FILE:LINE: field: message`) and the command gets None, so
it exits 2. Imported by the command line before anything heavy: the config package
(pydantic, the loader) is imported only when a config is read, after the child that
checks the channel URLs with Apprise (watcher.channel_check) has been started, so that
both run at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from watcher.channel_check import ChannelCheck

if TYPE_CHECKING:
    from watcher.config import LoadedConfig
    from watcher.models import Config


def config_path(args: argparse.Namespace) -> Path:
    """`-c FILE`, else `$WATCHER_CONFIG`, else config/watcher.toml (SPEC §3)."""
    from watcher.config import default_config_path

    return Path(args.config) if args.config else default_config_path(os.environ)


def read(
    args: argparse.Namespace,
    *,
    need_secrets: bool = True,
    probe_state: bool = False,
    defer_channel_check: bool = False,
) -> LoadedConfig | None:
    """Load the config, printing every problem; None when it is invalid.

    `need_secrets=False` (commands that send nothing): channels whose `${VAR}` are not set
    are named on stderr as not checked, and the command goes on without them.
    `defer_channel_check=True`: Apprise's check of the channel URLs may still be running;
    `resolve_channels` collects it before anything is polled or written.
    """
    # The child that checks the channel URLs starts first: it loads Apprise while this
    # process imports the config code and reads the config (it is stopped if there
    # turns out to be nothing to check).
    channel_check = ChannelCheck()
    from watcher.config import ConfigError, read_config

    path = config_path(args)
    if not args.config and not path.exists():
        # Run from another folder, the default relative path finds nothing: say how to
        # point at the config rather than only "No such file or directory".
        where = "$WATCHER_CONFIG" if os.environ.get("WATCHER_CONFIG") else f"in {Path.cwd()}"
        print(
            f"{path}:0: config: no config file ({where}); point at the config with "
            "-c FILE or the environment variable WATCHER_CONFIG",
            file=sys.stderr,
        )
        channel_check.close()
        return None
    try:
        loaded = read_config(
            path,
            os.environ,
            need_secrets=need_secrets,
            probe_state=probe_state,
            defer_channel_check=defer_channel_check,
            channel_check=channel_check,
        )
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return None
    for channel, names in loaded.unchecked:
        variables = f"variable {names[0]} is"
        if len(names) > 1:
            variables = f"variables {', '.join(names)} are"
        print(
            f"watcher: channel {channel} not checked: environment {variables} not set "
            f"({args.command} sends nothing, so it goes on)",
            file=sys.stderr,
        )
    return loaded


def load(args: argparse.Namespace, *, need_secrets: bool = True) -> Config | None:
    """Load the config, printing every problem; None when it is invalid (see `read`)."""
    loaded = read(args, need_secrets=need_secrets)
    return loaded.config if loaded is not None else None


def resolve_channels(loaded: LoadedConfig) -> Config | None:
    """Wait for Apprise's verdicts on the channel URLs; print each refused one as a config
    problem and return None, else the config."""
    from watcher.config import ConfigError

    try:
        return loaded.resolve_channels()
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return None
