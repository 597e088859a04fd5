"""`watcher demo`: the whole pipeline on bundled sample feeds, on loopback only.

It serves `watcher/demo/data/site` from a local HTTP server, points a sample
config at it, and delivers alerts to a local stand-in of the signal-cli REST API,
printing each message exactly as the channel received it. A second poll then
shows that unchanged feeds are fetched conditionally and alert nothing again.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from watcher.config import ConfigError, load_config
from watcher.demo.loopback import SignalStandIn, demo_feed_server
from watcher.demo.sample import write_demo_config
from watcher.pipeline.poll import utcnow
from watcher.runner.once import run_once
from watcher.store.sqlite import Store

RULE = "─" * 72


@contextlib.contextmanager
def _folder(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="watcher-demo-") as tmp:
        yield Path(tmp)


def run_demo(keep: Path | None = None) -> int:
    """Run the demo; returns the exit status (0 when the demo alerted as expected)."""
    feeds = demo_feed_server(utcnow())
    signal = SignalStandIn()
    try:
        with _folder(keep) as folder:
            path = write_demo_config(folder, feeds.netloc, signal.netloc)
            try:
                config = load_config(path, {})
            except ConfigError as exc:  # a packaging mistake, not a user error
                for issue in exc.issues:
                    print(issue)
                return 1
            print(f"watcher demo: {len(config.sources)} sample sources served on {feeds.url}")
            print(f"alerts go to a loopback Signal stand-in on {signal.url}\n")
            store = Store.in_dir(config.settings.state_dir)
            try:
                print("First poll:")
                asyncio.run(run_once(config, store))
                received = signal.messages
                print(f"\n{len(received)} message(s) arrived on channel demo-signal:\n")
                for message in received:
                    print(RULE)
                    print(message.get("message", ""))
                print(RULE)
                signal.clear()
                print("\nSecond poll of the unchanged feeds:")
                asyncio.run(run_once(config, store))
                again = len(signal.messages)
                conditional = sum(1 for r in feeds.requests if r.conditional)
                print(
                    f"\n{again} new message(s) on the second poll; "
                    f"{conditional} of {len(config.sources)} requests were conditional GETs."
                )
            finally:
                store.close()
            return 0 if received else 1
    finally:
        feeds.close()
        signal.close()
