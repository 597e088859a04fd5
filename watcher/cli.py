"""The `watcher` command line (SPEC §3).

Exit status: 0 success; 2 bad config or usage; 1 anything else that prevented
the command's job. A failing source or a channel that is down is not a failing
command: `once` reports it and exits 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import sqlite3
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from watcher import __version__
from watcher.logs import redact, redaction_filter, secrets_of, setup_logging
from watcher.runner.loading import config_path as _config_path
from watcher.runner.loading import load as _load
from watcher.runner.loading import read as _read
from watcher.runner.loading import resolve_channels as _resolve_channels

if TYPE_CHECKING:
    from watcher.models import Config
    from watcher.store.sqlite import Store

# Most imports are inside the commands that use them: `watcher once` from cron starts
# the child that checks its channel URLs with Apprise first, so that Apprise loads
# while this process imports the config code, and reaches its first request without
# the matcher, the delivery code or the web pages (docs/performance.md, "Start-up and
# the channel check").

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2

DESCRIPTION = (
    "Watch English and Khmer news feeds and government pages, and alert staff "
    "on Signal, email and Telegram."
)


class StateUnusable(Exception):
    """The state folder (`settings.state_dir`) cannot be used; the message is the one
    line to show. `main` prints it and exits 1 (SPEC §3: it prevented the command's job)."""


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors, which is what SPEC §3 asks for."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = _Parser(prog="watcher", description=DESCRIPTION)
    parser.add_argument(
        "-c", "--config", help="config file (default $WATCHER_CONFIG, else config/watcher.toml)"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("--version", action="version", version=f"watcher {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="validate the config and people lists")
    check.add_argument(
        "--examples",
        metavar="FILE",
        help="also run labelled examples (JSON lines) through the watchlists",
    )
    once = sub.add_parser("once", help="poll every source once, deliver, exit")
    once.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be alerted; send and record nothing",
    )
    sub.add_parser("run", help="the daemon: poll and deliver until SIGTERM")
    sub.add_parser("status", help="per-source health and the outbox")
    test = sub.add_parser("test-notify", help="send a test message through one channel")
    test.add_argument("channel")
    explain = sub.add_parser(
        "explain", help="show per watchlist what matched in one item, or why not"
    )
    explain.add_argument("target", metavar="URL-or-FILE")
    explain.add_argument("--source", help="read the item as coming from this source")
    export = sub.add_parser("export", help="alerts with sources and matched terms, for reports")
    export.add_argument("--since", help="only alerts recorded on or after this date (YYYY-MM-DD)")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    web = sub.add_parser("web", help="serve the staff pages and feeds until SIGTERM")
    web.add_argument(
        "--listen", metavar="HOST:PORT", help="default: [web] listen, else 127.0.0.1:8080"
    )
    user = sub.add_parser("user", help="web logins")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    user_sub.add_parser(
        "add", help="create or reset a login (password from a terminal or stdin)"
    ).add_argument("name")
    search = sub.add_parser("search", help="retained items a query in watchlist syntax matches")
    search.add_argument("query", nargs="+", help='e.g. \'"sub-decree" @arrest person:"Name"\'')
    search.add_argument("--limit", type=int, default=50, help="most items listed (default 50)")
    migrate = sub.add_parser(
        "migrate", help="copy this SQLite state into an empty PostgreSQL database"
    )
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://… (${VAR} read)")
    demo = sub.add_parser("demo", help="poll bundled sample feeds on loopback and print the alerts")
    demo.add_argument("--keep", metavar="DIR", help="keep the demo state in DIR")
    return parser


def _usable_state(config: Config) -> None:
    """Create the state folder if needed and make sure it can be written; raise
    `StateUnusable` with one line saying why not."""
    from watcher.config.state_dir import state_dir_problem

    problem = state_dir_problem(config.settings.state_dir, keep=True)
    if problem is not None:
        raise _state_error(config, problem)


def _state_error(config: Config, reason: str | Exception) -> StateUnusable:
    """One line: what is wrong with the state folder, and which config setting names it."""
    if isinstance(reason, Exception):
        why = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        reason = f"cannot use the state folder {config.settings.state_dir}: {why}"
    return StateUnusable(f"watcher: {reason} (settings.state_dir in {config.path})")


def _protect_secrets(config: Config) -> None:
    filt = redaction_filter()
    for channel in config.channels:
        filt.update(secrets_of(channel))
    filt.update(config.settings.database_secrets)


def cmd_check(args: argparse.Namespace) -> int:
    from watcher.runner.once import plural

    loaded = _read(args, probe_state=True)
    if loaded is None:
        return EXIT_USAGE
    config = loaded.config
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    print(
        f"{config.path}: OK — {plural(len(config.sources), 'source')}, "
        f"{plural(len(config.watchlists), 'watchlist')}, {plural(len(config.channels), 'channel')}"
    )
    for people_list, count in loaded.people_counts:
        print(f"{people_list}: {plural(count, 'person', 'people')}")
    if getattr(args, "examples", None):
        from watcher.matching import examples

        path = Path(args.examples)
        try:
            loaded = examples.load_examples(path)
        except examples.ExamplesError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_USAGE
        results, unknown = examples.run_examples(config.watchlists, loaded)
        print(examples.render(path, results, unknown))
        return EXIT_FAIL if examples.any_missed(results) else EXIT_OK
    return EXIT_OK


def _open_store(config: Config, *, dry_run: bool = False) -> Store:
    """The state's store; raises `StateUnusable` when the state folder cannot be used."""
    from watcher.store.backend import open_store

    try:
        if not dry_run:
            _usable_state(config)
        # A dry run records nothing, not even an empty database: with SQLite it works on
        # a copy in memory (and still inside a transaction it rolls back, which keeps
        # evidence off the disk), so a daemon on the same state is never blocked by it.
        return open_store(config.settings, dry_run=dry_run)
    except (OSError, sqlite3.Error) as error:
        raise _state_error(config, error) from error


def _state_exists(config: Config) -> bool:
    """Whether there is state to read; `status` and `export` read it, never create it.

    A database server always has one. Without one, no SQLite file is "no state yet",
    unless the folder could never be made: then `once` would fail too, and saying "run
    `watcher once` first" would send staff in a circle.
    """
    from watcher.config.state_dir import state_dir_problem
    from watcher.store.backend import state_exists

    try:
        if state_exists(config.settings):
            return True
    except OSError as error:  # a parent folder that cannot be searched
        raise _state_error(config, error) from error
    problem = state_dir_problem(config.settings.state_dir)  # leaves nothing behind
    if problem is not None:
        raise _state_error(config, problem)
    return False


def _open_existing_store(config: Config) -> Store:
    from watcher.store.backend import open_store

    try:
        return open_store(config.settings)
    except (OSError, sqlite3.Error) as error:
        raise _state_error(config, error) from error


def cmd_once(args: argparse.Namespace) -> int:
    # The child that checks the channel URLs loads Apprise while this process imports
    # the config code, reads the config and imports the pipeline; a refused URL is
    # still exit 2 before the state is opened or anything polled.
    loaded = _read(args, defer_channel_check=True)
    if loaded is None:
        return EXIT_USAGE
    import asyncio

    from watcher.runner.once import run_once

    config = _resolve_channels(loaded)
    if config is None:
        return EXIT_USAGE
    _protect_secrets(config)
    store = _open_store(config, dry_run=args.dry_run)
    try:
        return asyncio.run(run_once(config, store, dry_run=args.dry_run))
    finally:
        store.close()


def _when(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "never"


def cmd_status(args: argparse.Namespace) -> int:
    from watcher.pipeline.poll import utcnow
    from watcher.store.sqlite import DB_NAME

    config = _load(args, need_secrets=False)
    if config is None:
        return EXIT_USAGE
    tz = ZoneInfo(config.settings.timezone)
    _protect_secrets(config)
    path = Path(config.settings.state_dir) / DB_NAME
    if not _state_exists(config):
        print(f"No state yet ({path}): run `watcher once` or `watcher run` first.")
        return EXIT_OK
    store = _open_existing_store(config)
    try:
        from watcher.runner.service import daemon_running, describe_daemon, describe_instances

        running = daemon_running(config.settings.state_dir)
        if config.settings.database:
            # Several instances share this state (SPEC §11): each is named, not this
            # machine's lock; a planned poll is shown when any of them is alive.
            live = store.instances(utcnow())
            print(describe_instances(live, utcnow(), tz))
            running = bool(live)
        else:
            print(describe_daemon(running, store.daemon_state(), utcnow(), tz))
        states = store.all_source_states()
        print(f"Sources ({len(config.sources)}), times in {config.settings.timezone}:")
        for source in config.sources:
            st = states.get(source.name)
            line = f"  {source.name}: never polled"
            if st is not None and st.polls:
                line = (
                    f"  {source.name}: last success {_when(st.last_success, tz)}, "
                    f"failures {st.failures}, items seen {st.items_seen}, alerts {st.alerts}"
                )
            # A planned poll means something only while the daemon runs.
            if st is not None and st.next_poll and running is not False:
                line += f", next poll {st.next_poll.astimezone(tz):%Y-%m-%d %H:%M:%S}"
            print(line)
            if st is None:
                continue
            if st.last_error and st.failures:
                print(f"      last error {_when(st.last_error_at, tz)}: {st.last_error}")
            if st.retry_after and st.retry_after > utcnow():
                print(f"      waiting (Retry-After) until {_when(st.retry_after, tz)}")
            if st.moved_to:
                print(f"      moved permanently to {st.moved_to}: update its url in the config")
            warning = store.source_warning(source.name)
            if warning is not None:
                print(f"      last warning {_when(warning[1], tz)}: {warning[0]}")
        counts = store.outbox_counts()
        print(
            f"Outbox: pending {counts.get('pending', 0) + counts.get('sending', 0)}, "
            f"failed {counts.get('failed', 0)}, sent {counts.get('sent', 0)}"
        )
        by_channel = store.outbox_by_channel()
        # Errors are stored redacted; redact again in case a secret changed since.
        secrets = {s for c in config.channels for s in secrets_of(c)}
        stuck = {row[0]: row for row in store.pending_by_channel()}
        for channel in sorted({c for c, _ in by_channel}):
            pending = by_channel.get((channel, "pending"), 0) + by_channel.get(
                (channel, "sending"), 0
            )
            failed = by_channel.get((channel, "failed"), 0)
            if not (pending or failed):
                continue
            line = f"  {channel}: pending {pending}, failed {failed}"
            if channel in stuck:
                _name, _count, oldest, next_try, error = stuck[channel]
                line += f", oldest since {_when(oldest, tz)}, next try {_when(next_try, tz)}"
                if error:
                    line += f"\n      last error: {redact(error, secrets)}"
            if config.channel(channel) is None:
                line += "\n      (no such channel in the config: these are kept, not sent)"
            print(line)
        for _id, channel, error in store.failed_deliveries()[-5:]:
            print(f"  failed to {channel}: {redact(error or 'unknown error', secrets)}")
        return EXIT_OK
    finally:
        store.close()


def cmd_test_notify(args: argparse.Namespace) -> int:
    from watcher.delivery.messages import channel_kind, render_notice
    from watcher.delivery.transport import apprise_send

    config = _load(args)
    if config is None:
        return EXIT_USAGE
    _protect_secrets(config)
    channel = config.channel(args.channel)
    if channel is None:
        names = ", ".join(c.name for c in config.channels) or "none"
        print(f"no channel named {args.channel!r} (channels: {names})", file=sys.stderr)
        return EXIT_USAGE
    when = datetime.now(ZoneInfo(config.settings.timezone)).strftime("%Y-%m-%d %H:%M %Z")
    rendered = render_notice(
        "watcher test message",
        f"This is a test from watcher to channel {channel.name}, sent {when}.",
        channel_kind(channel.url),
    )
    outcome = apprise_send(channel, rendered)
    # Per service: one channel URL may hold several Apprise services.
    for service in outcome.services:
        if service.delivered:
            print(f"  {service.service}: delivered")
        else:
            print(f"  {service.service}: NOT delivered: {service.reason}")
    if outcome.delivered:
        print(f"{channel.name}: delivered")
        return EXIT_OK
    print(f"{channel.name}: NOT delivered: {outcome.reason}")
    return EXIT_FAIL


def cmd_explain(args: argparse.Namespace) -> int:
    from watcher.matching import Matcher
    from watcher.runner.explain import explain_target

    config = _load(args, need_secrets=False)
    if config is None:
        return EXIT_USAGE
    try:
        import asyncio

        texts = asyncio.run(explain_target(config, args.target))
    except OSError as exc:
        print(f"cannot read {args.target}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAIL
    if args.source is not None and config.source(args.source) is None:
        print(f"--source: no source named {args.source!r}", file=sys.stderr)
        return EXIT_USAGE
    watchlists = config.watchlists
    if args.source is None:
        # Without a source, read the item as every watchlist would from any source.
        watchlists = tuple(dataclasses.replace(w, sources=("*",)) for w in watchlists)
    matcher = Matcher(watchlists)
    for label, text in texts:
        if len(texts) > 1:
            print(f"=== {label}")
        print(matcher.explain(text, args.source or "*").render())
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from watcher.runner.export import export_row, write_csv

    config = _load(args, need_secrets=False)
    if config is None:
        return EXIT_USAGE
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            print(f"--since: not a date: {args.since!r} (use YYYY-MM-DD)", file=sys.stderr)
            return EXIT_USAGE
        if since.tzinfo is None:
            since = since.replace(tzinfo=ZoneInfo(config.settings.timezone))
    if not _state_exists(config):
        rows: list[dict[str, object]] = []
    else:
        _protect_secrets(config)
        store = _open_existing_store(config)
        try:
            rows = [
                export_row(s, config, store.evidence_for(s.id)) for s in store.alerts_since(since)
            ]
        finally:
            store.close()
    if args.format == "json":
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        write_csv(rows, sys.stdout)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    # Checked here so that a missing config or an unusable state folder is one line and
    # an exit status, not a traceback from inside the daemon, which is given this config.
    loaded = _read(args, defer_channel_check=True)
    if loaded is None:
        return EXIT_USAGE
    from watcher.runner.run import run_daemon  # imported while the channel URLs are checked

    config = _resolve_channels(loaded)
    if config is None:
        return EXIT_USAGE
    _usable_state(config)
    return run_daemon(_config_path(args), verbose=args.verbose, config=config)


def _web_unavailable(config: Config, command: str) -> bool:
    """The staff pages, `search` and `user add` read a SQLite state in `state_dir`; on a
    shared PostgreSQL state (SPEC §11) they would show an empty one, so they refuse."""
    if not config.settings.database:
        return False
    print(
        f"watcher: `{command}` reads the SQLite state in state_dir; with settings.database "
        "(PostgreSQL) it is not available yet (docs/ha.md)",
        file=sys.stderr,
    )
    return True


def cmd_web(args: argparse.Namespace) -> int:
    from watcher.config.values import read_listen
    from watcher.web.server import listen_of, serve

    config = _load(args)
    if config is None:
        return EXIT_USAGE
    if _web_unavailable(config, "web"):
        return EXIT_FAIL
    listen = listen_of(config, args.listen)
    try:
        read_listen(listen)
    except ValueError as exc:  # pydantic's error is a ValueError
        print(f"--listen: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _protect_secrets(config)
    return serve(config, listen)


def cmd_user(args: argparse.Namespace) -> int:
    from watcher.web.commands import user_add

    config = _load(args)
    if config is None:
        return EXIT_USAGE
    if _web_unavailable(config, "user add"):
        return EXIT_FAIL
    return user_add(config, args.name, sys.stdin, sys.stdout, sys.stderr)


def cmd_search(args: argparse.Namespace) -> int:
    from watcher.web.commands import search_command

    config = _load(args)
    if config is None:
        return EXIT_USAGE
    if _web_unavailable(config, "search"):
        return EXIT_FAIL
    # One argument is the query as typed in the page's box; several (a shell split
    # them) are one word each, so `person:"Kem Sokha"` stays one word.
    query = args.query[0] if len(args.query) == 1 else shlex.join(args.query)
    return search_command(config, query, args.limit, sys.stdout, sys.stderr)


def cmd_migrate(args: argparse.Namespace) -> int:
    """`watcher migrate --to URL` (SPEC §11): the config's SQLite state into PostgreSQL."""
    from watcher.runner.migrate import migrate_command

    config = _load(args)
    if config is None:
        return EXIT_USAGE
    return migrate_command(config, args.to, os.environ)


def cmd_demo(args: argparse.Namespace) -> int:
    from watcher.demo.run import run_demo

    return run_demo(keep=Path(args.keep) if args.keep else None)


COMMANDS = {
    "check": cmd_check,
    "once": cmd_once,
    "run": cmd_run,
    "status": cmd_status,
    "test-notify": cmd_test_notify,
    "explain": cmd_explain,
    "export": cmd_export,
    "demo": cmd_demo,
    "web": cmd_web,
    "user": cmd_user,
    "search": cmd_search,
    "migrate": cmd_migrate,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `watcher` console script."""
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    if args.command == "run":
        level = logging.INFO - 10 * min(args.verbose, 1)
    setup_logging(level, sys.stdout if args.command == "run" else sys.stderr)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        return EXIT_FAIL
    except StateUnusable as exc:
        print(exc, file=sys.stderr)
        return EXIT_FAIL
    except RuntimeError as exc:  # e.g. a database from a newer watcher
        print(f"watcher: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except (OSError, sqlite3.Error) as exc:
        # The last resort: a file or database problem is one line and exit 1, not a
        # traceback (SPEC §3); the commands name the state folder themselves where they can.
        print(f"watcher: {exc}", file=sys.stderr)
        return EXIT_FAIL
