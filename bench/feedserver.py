"""A fast loopback feed server for the benchmarks, run as its own process.

Run: .venv/bin/python bench/feedserver.py --feeds 1000 --items 50 [--port 0]
It prints `READY <port>` once every feed is rendered and every socket listens.

A raw asyncio HTTP/1.1 server with keep-alive: bodies are rendered (and gzipped)
once, up front, so a request costs a dictionary lookup and a socket write. The
stdlib ThreadingHTTPServer spends a thread and a Python-level header parser on
every request and, with the client on the same two cores, measured the server
rather than the client (see docs/performance.md).

Feeds are served on several loopback addresses (127.0.1.1, 127.0.1.2, …),
FEEDS_PER_HOST feeds each, because watcher limits requests per host name (SPEC §8)
and a national desk's 1,000 feeds come from a few hundred sites, not one.

It answers conditional requests (ETag / If-None-Match, Last-Modified /
If-Modified-Since) with 304, and gzip when asked (for the feeds marked gzip).
Control endpoints, on any address:
  GET /_control/change?fraction=0.1&round=1  change that fraction of the feeds
  GET /_control/stats[?reset=1]               counters since the last reset
  GET /_control/log                            every feed request: [t, feed, status]
With --churn-every S --churn-fraction F it changes F of the feeds every S seconds
by itself (the daemon benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import random
import sys
import time
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feedgen import (
    FeedSpec,
    default_epoch,
    feed_specs,
    feed_xml,
    people,
)

MAX_HEADER = 16 * 1024


class Feeds:
    """Rendered feeds and their validators, by path."""

    def __init__(self, specs: list[FeedSpec], items: int, epoch: datetime) -> None:
        self.specs = specs
        self.items = items
        self.epoch = epoch
        self.names = [name for name, _ in people()]
        self.version = [0] * len(specs)
        self.plain: list[bytes] = [b""] * len(specs)
        self.gzipped: list[bytes | None] = [None] * len(specs)
        self.modified: list[datetime] = [epoch] * len(specs)
        self.item_count: list[int] = [items] * len(specs)
        self.by_path = {spec.path: spec.index for spec in specs}
        self.started = time.monotonic()
        self.log: list[tuple[float, int, int]] = []
        self.stats = {"requests": 0, "ok": 0, "not_modified": 0, "bytes": 0, "items": 0}
        for spec in specs:
            self.render(spec.index)

    def render(self, index: int) -> None:
        spec = self.specs[index]
        body = feed_xml(spec, self.version[index], self.items, self.epoch, self.names)
        self.plain[index] = body
        self.gzipped[index] = gzip.compress(body, compresslevel=6) if spec.gzip else None
        # Whole seconds: HTTP dates have no fractions, and If-Modified-Since compares them.
        self.modified[index] = datetime.now(UTC).replace(microsecond=0)

    def change(self, fraction: float, round_: int) -> list[int]:
        """Publish NEW_PER_CHANGE new articles in a deterministic `fraction` of the feeds."""
        rng = random.Random(f"change:{round_}")
        chosen = rng.sample(range(len(self.specs)), max(1, int(len(self.specs) * fraction)))
        for index in chosen:
            self.version[index] += 1
            self.render(index)
        return sorted(chosen)

    def etag(self, index: int) -> str:
        return f'"{index}-{self.version[index]}"'


def _response(status: str, headers: dict[str, str], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _not_modified(feeds: Feeds, index: int, headers: dict[str, str]) -> bool:
    inm = headers.get("if-none-match")
    if inm is not None:
        return feeds.etag(index) in [t.strip() for t in inm.split(",")]
    ims = headers.get("if-modified-since")
    if ims:
        try:
            return feeds.modified[index] <= parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
    return False


def handle(feeds: Feeds, target: str, headers: dict[str, str]) -> bytes:
    """The full response to one GET."""
    url = urlsplit(target)
    if url.path.startswith("/_control/"):
        return _control(feeds, url.path, parse_qs(url.query))
    index = feeds.by_path.get(url.path)
    if index is None:
        return _response("404 Not Found", {"Content-Type": "text/plain"}, b"not found")
    feeds.stats["requests"] += 1
    validators = {
        "ETag": feeds.etag(index),
        "Last-Modified": format_datetime(feeds.modified[index], usegmt=True),
    }
    if _not_modified(feeds, index, headers):
        feeds.stats["not_modified"] += 1
        feeds.log.append((time.monotonic() - feeds.started, index, 304))
        return _response("304 Not Modified", validators, b"")
    body = feeds.plain[index]
    extra = {"Content-Type": "application/rss+xml; charset=utf-8"}
    if feeds.specs[index].atom:
        extra["Content-Type"] = "application/atom+xml; charset=utf-8"
    compressed = feeds.gzipped[index]
    if compressed is not None and "gzip" in headers.get("accept-encoding", ""):
        body = compressed
        extra["Content-Encoding"] = "gzip"
    feeds.stats["ok"] += 1
    feeds.stats["bytes"] += len(body)
    feeds.stats["items"] += feeds.item_count[index]
    feeds.log.append((time.monotonic() - feeds.started, index, 200))
    return _response("200 OK", {**extra, **validators}, body)


def _control(feeds: Feeds, path: str, query: dict[str, list[str]]) -> bytes:
    if path == "/_control/change":
        fraction = float(query.get("fraction", ["0.1"])[0])
        round_ = int(query.get("round", ["1"])[0])
        payload: object = feeds.change(fraction, round_)
    elif path == "/_control/stats":
        payload = dict(feeds.stats)
        if query.get("reset"):
            feeds.stats = dict.fromkeys(feeds.stats, 0)
    elif path == "/_control/log":
        payload = feeds.log
    else:
        return _response("404 Not Found", {}, b"")
    body = json.dumps(payload).encode()
    return _response("200 OK", {"Content-Type": "application/json"}, body)


async def serve_connection(
    feeds: Feeds, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer requests on one keep-alive connection until the client closes it."""
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            writer.write(handle(feeds, parts[1], headers))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return
    except ConnectionError:
        return
    finally:
        with contextlib.suppress(ConnectionError, RuntimeError):
            writer.close()


async def churn(feeds: Feeds, every: float, fraction: float) -> None:
    """Change `fraction` of the feeds every `every` seconds (the daemon benchmark)."""
    round_ = 1000
    while True:
        await asyncio.sleep(every)
        round_ += 1
        feeds.change(fraction, round_)


async def main_async(args: argparse.Namespace) -> None:
    specs = feed_specs(args.feeds, args.seed)
    feeds = Feeds(specs, args.items, default_epoch(args.items))
    hosts = sorted({"127.0.0.1", *(s.host for s in specs)})
    first = await asyncio.start_server(
        lambda r, w: serve_connection(feeds, r, w), "127.0.0.1", args.port, limit=MAX_HEADER
    )
    port = first.sockets[0].getsockname()[1]
    servers = [first]
    for host in hosts:
        if host != "127.0.0.1":
            servers.append(
                await asyncio.start_server(
                    lambda r, w: serve_connection(feeds, r, w), host, port, limit=MAX_HEADER
                )
            )
    if args.churn_every > 0:
        asyncio.get_running_loop().create_task(churn(feeds, args.churn_every, args.churn_fraction))
    print(f"READY {port}", flush=True)
    # Stop by ourselves: a benchmark that crashed must not leave a server behind.
    await asyncio.sleep(args.lifetime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--churn-every", type=float, default=0.0)
    parser.add_argument("--churn-fraction", type=float, default=0.02)
    parser.add_argument("--lifetime", type=float, default=3 * 3600.0, help="seconds, then exit")
    args = parser.parse_args()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
