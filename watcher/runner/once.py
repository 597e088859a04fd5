"""`watcher once`: every source polled once, what is due delivered, then exit (SPEC §3).

Run by hand or from cron, it retries every pending send at once (the daemon keeps the
retry backoff); a failing source or a channel that is down is reported, not a failure
of the command.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import TextIO
from zoneinfo import ZoneInfo

from watcher.delivery.messages import render_alert
from watcher.delivery.send import Deliverer
from watcher.fetch.client import new_fetcher
from watcher.models import Config
from watcher.pipeline.poll import Pipeline, PollReport, utcnow
from watcher.pipeline.pool import ParsePool
from watcher.runner.health import check_stale
from watcher.runner.service import daemon_running
from watcher.store.sqlite import Store


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 alert`, `2 alerts`; `nouns` for an irregular plural (`1 person`, `3 people`)."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


def print_poll(reports: Sequence[PollReport], out: TextIO | None = None) -> None:
    """One line per source: what its poll found, or why it did not."""
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
                f"  {r.source}: {plural(r.items, 'item')}, {r.new_items} new, "
                f"{r.changed_items} changed, {plural(len(r.alerts), 'alert')}",
                file=stream,
            )


async def run_once(config: Config, store: Store, *, dry_run: bool = False) -> int:
    """Poll every source once and deliver what is due; the body of `watcher once`."""
    fetcher = new_fetcher(config.settings)
    parse_pool = ParsePool()  # feed parsing on every core (watcher.pipeline.pool)
    try:
        if dry_run:
            with store.atomic(rollback=True):
                pipeline = Pipeline(config, store, fetcher, parse_pool=parse_pool)
                reports = await pipeline.poll_all()
                tz = ZoneInfo(config.settings.timezone)
                print("Dry run: nothing is sent or recorded.")
                print_poll(reports)
                alerts = [a for r in reports for _, a in r.alerts]
                print(f"{len(alerts)} alert(s) would be sent:")
                for alert in alerts:
                    print()
                    for rendered in render_alert(alert, "generic", tz):
                        print(rendered.body)
            return 0
        # A `sending` row is a crashed sender's, unless a daemon on this state is
        # sending it right now: then leave it to the daemon.
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
            f"Polled {plural(len(reports), 'source')}: {plural(len(alerts), 'new alert')}"
            + (
                f" ({possible} only possible {'match' if possible == 1 else 'matches'})"
                if possible
                else ""
            )
            + f", {plural(errors, 'source error')}."
        )
        print_poll(reports)
        counts = store.outbox_counts()
        print(
            f"Delivered {delivered.sent}; retrying {delivered.retrying}; "
            f"failed {delivered.failed}; outbox pending {counts.get('pending', 0)}, "
            f"failed {counts.get('failed', 0)}."
        )
        store.prune(utcnow(), config.settings.retention)  # old item text (SPEC §4 retention)
        return 0
    finally:
        parse_pool.close()
        await fetcher.aclose()
