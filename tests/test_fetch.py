"""Fetching under hostile conditions: caps, deadlines, redirects, Retry-After (SPEC §8)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from watcher.fetch import Fetcher, human_size, parse_retry_after

from hostile import HostileServer


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    yield server
    server.close()


def _fetch(url: str, **kwargs: object) -> object:
    async def go() -> object:
        fetcher = Fetcher(user_agent="watcher-test", **kwargs)  # type: ignore[arg-type]
        try:
            return await fetcher.fetch(url)
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("path", ["/gzip-bomb", "/deflate-bomb", "/huge"])
def test_size_cap_holds_after_decompression(hostile: HostileServer, path: str) -> None:
    result = _fetch(hostile.url(path), max_size=1_000_000, timeout=20)
    assert result.body is None  # type: ignore[attr-defined]
    assert result.error == "response larger than 1 MB"  # type: ignore[attr-defined]


def test_a_content_length_shorter_than_the_body_reads_only_what_was_declared(
    hostile: HostileServer,
) -> None:
    result = _fetch(hostile.url("/short-length"), max_size=1_000_000)
    assert result.body == b"y" * 100  # type: ignore[attr-defined]


def test_a_content_length_longer_than_the_body_is_an_error(hostile: HostileServer) -> None:
    result = _fetch(hostile.url("/long-length"), max_size=10_000_000)
    assert result.body is None  # type: ignore[attr-defined]
    assert "broke the connection" in result.error  # type: ignore[attr-defined]


def test_a_dripping_server_is_cut_off_at_the_deadline(hostile: HostileServer) -> None:
    started = time.monotonic()
    result = _fetch(hostile.url("/drip"), timeout=1.5)
    elapsed = time.monotonic() - started
    assert result.error == "timed out after 1.5 s"  # type: ignore[attr-defined]
    assert elapsed < 4


def test_redirect_loop_is_an_error(hostile: HostileServer) -> None:
    result = _fetch(hostile.url("/redirect-loop"))
    assert result.error == "more than 5 redirects"  # type: ignore[attr-defined]


def test_retry_after_is_read(hostile: HostileServer) -> None:
    result = _fetch(hostile.url("/retry-later"))
    assert result.status == 503  # type: ignore[attr-defined]
    assert result.error == "HTTP 503, retrying after 600 s"  # type: ignore[attr-defined]
    assert result.retry_after is not None  # type: ignore[attr-defined]


def test_unreachable_host_is_a_readable_error() -> None:
    result = _fetch("http://127.0.0.1:9/feed", timeout=5)
    assert result.error.startswith("cannot connect")  # type: ignore[attr-defined]


def test_retry_after_as_http_date_and_seconds() -> None:
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == datetime(2026, 11, 25, 3, 2, tzinfo=UTC)
    later = parse_retry_after("Wed, 25 Nov 2026 04:00:00 GMT", now)
    assert later == datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
    assert parse_retry_after("garbage", now) is None


def test_human_size() -> None:
    assert human_size(10_000_000) == "10 MB"
    assert human_size(1_500_000) == "1.5 MB"
