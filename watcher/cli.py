"""The `watcher` command line (SPEC §3).

Exit status: 0 success; 2 bad config or usage; 1 anything else that prevented
the command's job. A failing source or a channel that is down is not a failing
command: `once` reports it and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import io
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from watcher import __version__
from watcher.config import ConfigError, default_config_path, load_config
from watcher.delivery.messages import channel_kind, render_alert, render_notice
from watcher.delivery.send import Deliverer, apprise_send, redact, secrets_of
from watcher.fetch.client import Fetcher
from watcher.logs import redaction_filter, setup_logging
from watcher.matching import Matcher
from watcher.models import Config
from watcher.pipeline.poll import Pipeline, PollReport, utcnow
from watcher.pipeline.pool import ParsePool
from watcher.runner.health import check_stale
from watcher.store.backend import open_store, state_exists
from watcher.store.evidence import Evidence
from watcher.store.sqlite import DB_NAME, Store, StoredAlert

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors, which is what SPEC §3 asks for."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = _Parser(prog="watcher", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-c", "--config", help="config file (default $WATCHER_CONFIG, else config/watcher.toml)"
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("--version", action="version", version=f"watcher {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("check", help="validate the config and people lists")
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
    migrate = sub.add_parser(
        "migrate", help="copy this SQLite state into an empty PostgreSQL database"
    )
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://… (${VAR} read)")
    demo = sub.add_parser("demo", help="poll bundled sample feeds on loopback and print the alerts")
    demo.add_argument("--keep", metavar="DIR", help="keep the demo state in DIR")
    return parser


def _config_path(args: argparse.Namespace) -> Path:
    return Path(args.config) if args.config else default_config_path(os.environ)


def _load(args: argparse.Namespace) -> Config | None:
    """Load the config, printing every problem; None when it is invalid."""
    try:
        return load_config(_config_path(args), os.environ)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=sys.stderr)
        return None


def _protect_secrets(config: Config) -> None:
    filt = redaction_filter()
    for channel in config.channels:
        filt.update(secrets_of(channel))
    filt.update(config.settings.database_secrets)


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args)
    if config is None:
        return EXIT_USAGE
    people = sum(len(w.people) for w in config.watchlists)
    print(
        f"{config.path}: OK — {len(config.sources)} sources, {len(config.watchlists)} watchlists "
        f"({people} people), {len(config.channels)} channels"
    )
    return EXIT_OK


def _fetcher(config: Config) -> Fetcher:
    s = config.settings
    return Fetcher(user_agent=s.user_agent, timeout=s.timeout, max_size=s.max_size, proxy=s.proxy)


def _print_poll(reports: Sequence[PollReport], out: io.TextIOBase | None = None) -> None:
    stream = out or sys.stdout
    for r in reports:
        if r.status == "error":
            print(f"  {r.source}: ERROR {r.error}", file=stream)
        elif r.status == "waiting":
            print(f"  {r.source}: skipped, {r.error}", file=stream)
        elif r.status == "not-modified":
            print(f"  {r.source}: not modified", file=stream)
        else:
            print(
                f"  {r.source}: {r.items} items, {r.new_items} new, {r.changed_items} changed, "
                f"{len(r.alerts)} alerts",
                file=stream,
            )


async def run_once(config: Config, store: Store, *, dry_run: bool = False) -> int:
    """Poll every source once and deliver what is due; the body of `watcher once`."""
    fetcher = _fetcher(config)
    parse_pool = ParsePool()  # feed parsing on every core (watcher.pipeline.pool)
    try:
        if dry_run:
            with store.atomic(rollback=True):
                pipeline = Pipeline(config, store, fetcher, parse_pool=parse_pool)
                reports = await pipeline.poll_all()
                tz = ZoneInfo(config.settings.timezone)
                print("Dry run: nothing is sent or recorded.")
                _print_poll(reports)
                alerts = [a for r in reports for _, a in r.alerts]
                print(f"{len(alerts)} alert(s) would be sent:")
                for alert in alerts:
                    print()
                    for rendered in render_alert(alert, "generic", tz):
                        print(rendered.body)
            return EXIT_OK
        # A `sending` row is a crashed sender's, unless a daemon on this state is
        # sending it right now: then leave it to the daemon.
        from watcher.runner.service import daemon_running

        recovered = 0 if daemon_running(config.settings.state_dir) else store.recover()
        if recovered:
            logging.getLogger("watcher").warning("event=recovered deliveries=%d", recovered)
        pipeline = Pipeline(config, store, fetcher, parse_pool=parse_pool)
        reports = await pipeline.poll_all()
        parse_pool.close()  # its workers' memory is not needed for delivery
        # Source failures go to the admin channel only; queued before delivery so
        # that this run sends them.
        check_stale(config, store, utcnow())
        # Run by hand or from cron, `once` retries every pending send now.
        deliverer = Deliverer(config, store, utcnow, skip_backoff=True)
        delivered = await deliverer.deliver_due()
        alerts = [a for r in reports for _, a in r.alerts]
        possible = sum(1 for a in alerts if a.possible)
        errors = sum(1 for r in reports if r.status == "error")
        print(
            f"Polled {len(reports)} sources: {len(alerts)} new alerts"
            + (f" ({possible} only possible matches)" if possible else "")
            + f", {errors} source errors."
        )
        _print_poll(reports)
        counts = store.outbox_counts()
        print(
            f"Delivered {delivered.sent}; retrying {delivered.retrying}; "
            f"failed {delivered.failed}; outbox pending {counts.get('pending', 0)}, "
            f"failed {counts.get('failed', 0)}."
        )
        store.prune(utcnow(), config.settings.retention)  # old item text (SPEC §4 retention)
        return EXIT_OK
    finally:
        parse_pool.close()
        await fetcher.aclose()


def _open_store(config: Config, *, dry_run: bool = False) -> Store:
    # A dry run records nothing, not even an empty database: with SQLite it works on a
    # copy in memory (and still inside a transaction it rolls back, which keeps evidence
    # off the disk), so a daemon on the same state is never blocked by it.
    return open_store(config.settings, dry_run=dry_run)


def cmd_once(args: argparse.Namespace) -> int:
    config = _load(args)
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
    config = _load(args)
    if config is None:
        return EXIT_USAGE
    tz = ZoneInfo(config.settings.timezone)
    _protect_secrets(config)
    if not state_exists(config.settings):
        path = Path(config.settings.state_dir) / DB_NAME
        print(f"No state yet ({path}): run `watcher once` or `watcher run` first.")
        return EXIT_OK
    store = open_store(config.settings)
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
    from watcher.runner.explain import explain_target

    config = _load(args)
    if config is None:
        return EXIT_USAGE
    try:
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
    config = _load(args)
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
    if not state_exists(config.settings):
        rows: list[dict[str, object]] = []
    else:
        _protect_secrets(config)
        store = open_store(config.settings)
        try:
            rows = [
                _export_row(s, config, store.evidence_for(s.id)) for s in store.alerts_since(since)
            ]
        finally:
            store.close()
    if args.format == "json":
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=2)
        print()
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=EXPORT_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: ("; ".join(v) if isinstance(v, list) else v) for k, v in row.items()}
            )
    return EXIT_OK


EXPORT_FIELDS = (
    "id", "created", "severity", "watchlists", "possible", "title", "link", "source",
    "also_reported_by", "published", "terms", "people", "snippet",
    "evidence_path", "evidence_sha256", "evidence_text_path", "evidence_text_sha256",
)  # fmt: skip


def _export_row(
    stored: StoredAlert, config: Config, kept: Evidence | None = None
) -> dict[str, object]:
    alert = stored.alert
    tz = ZoneInfo(config.settings.timezone)
    return {
        "id": stored.id,
        "created": stored.created.astimezone(tz).isoformat(timespec="seconds"),
        "severity": alert.severity.label,
        "watchlists": [m.watchlist for m in alert.matches],
        "possible": alert.possible,
        "title": alert.title,
        "link": alert.link,
        "source": alert.source,
        "also_reported_by": list(alert.also_reported_by),
        "published": alert.published.astimezone(tz).isoformat(timespec="seconds")
        if alert.published
        else "",
        "terms": sorted({t for m in alert.matches for t in m.terms}),
        "people": sorted({p for m in alert.matches for p in m.people}),
        "snippet": next((m.snippet for m in alert.matches if m.snippet), ""),
        # Paths relative to the state directory; hashes let anyone check the files (SPEC §10).
        "evidence_path": kept.path if kept else "",
        "evidence_sha256": kept.sha256 if kept else "",
        "evidence_text_path": kept.text_path if kept else "",
        "evidence_text_sha256": kept.text_sha256 if kept else "",
    }


def cmd_run(args: argparse.Namespace) -> int:
    from watcher.runner.daemon import run_daemon

    return run_daemon(_config_path(args), verbose=args.verbose)


def cmd_migrate(args: argparse.Namespace) -> int:
    """`watcher migrate --to URL` (SPEC §11): the config's SQLite state into PostgreSQL."""
    from watcher.config.database import expand_database_url, redact_database_url

    config = _load(args)
    if config is None:
        return EXIT_USAGE
    url, problems, secrets = expand_database_url(args.to, os.environ)
    redaction_filter().update(secrets)
    if url is None:
        for problem in problems:
            if "password written" not in problem:  # on the command line it is the user's
                print(f"--to: {problem}", file=sys.stderr)
                return EXIT_USAGE
        url = args.to
    path = Path(config.settings.state_dir) / DB_NAME
    if not path.exists():
        print(f"No SQLite state to copy ({path}).", file=sys.stderr)
        return EXIT_FAIL
    from watcher.store.migrate import NotEmpty, migrate
    from watcher.store.postgres import PostgresStore

    source = Store(path)
    try:
        target = PostgresStore(url, config.settings.state_dir)
    except Exception as exc:
        source.close()
        print(f"cannot open {redact_database_url(url)}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    try:
        copied = migrate(source, target, config.settings.state_dir)
    except NotEmpty as exc:
        print(f"refused: {exc}; migrate copies into an empty database only", file=sys.stderr)
        return EXIT_FAIL
    finally:
        source.close()
        target.close()
    counts = ", ".join(f"{n} {table}" for table, n in copied.rows.items())
    print(f"copied {counts}, {copied.files} evidence files into {redact_database_url(url)}")
    print('Now set database = "postgresql://…${PGPASSWORD}…" in [settings] (docs/ha.md).')
    return EXIT_OK


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
    except RuntimeError as exc:  # e.g. a database from a newer watcher
        print(f"watcher: {exc}", file=sys.stderr)
        return EXIT_FAIL
