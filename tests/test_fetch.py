"""Fetching under hostile conditions: caps, deadlines, redirects, Retry-After (SPEC §8)."""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from watcher.fetch.client import Fetcher, human_size, parse_retry_after

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


# -- brotli, permanent redirects, limits, untrusted links (issue #6) -------------------


def test_brotli_bomb_stops_at_the_cap(hostile: HostileServer) -> None:
    result = _fetch(hostile.url("/brotli-bomb"), max_size=1_000_000, timeout=20)
    assert result.body is None  # type: ignore[attr-defined]
    assert result.error == "response larger than 1 MB"  # type: ignore[attr-defined]


def test_a_permanent_redirect_is_reported_as_moved(hostile: HostileServer) -> None:
    result = _fetch(hostile.url("/moved"))
    assert result.error is None  # type: ignore[attr-defined]
    assert result.moved_to == hostile.url("/good.xml")  # type: ignore[attr-defined]


def test_a_temporary_redirect_is_not_a_move(hostile: HostileServer) -> None:
    result = _fetch(hostile.url("/redirect-to?to=/good.xml"))
    assert result.body and result.moved_to is None  # type: ignore[attr-defined]


def test_at_most_two_requests_at_once_per_host() -> None:
    from standins import FeedServer

    with FeedServer() as server:
        server.put("/slow.xml", "<rss/>")
        server.delay("/slow.xml", 0.3)

        async def go() -> None:
            fetcher = Fetcher(user_agent="t")
            try:
                await asyncio.gather(
                    *(fetcher.fetch(server.url_for("/slow.xml")) for _ in range(6))
                )
            finally:
                await fetcher.aclose()

        started = time.monotonic()
        asyncio.run(go())
        elapsed = time.monotonic() - started
        arrivals = sorted(r.at for r in server.requests)
    assert len(arrivals) == 6
    # Two at a time: six 0.3 s requests take three rounds, never one.
    assert elapsed >= 0.85
    assert arrivals[2] - arrivals[0] >= 0.25


def test_the_deadline_does_not_count_time_queued_for_the_host() -> None:
    from standins import FeedServer

    with FeedServer() as server:
        server.put("/slow.xml", "<rss/>")
        server.delay("/slow.xml", 0.6)

        async def go() -> list[object]:
            fetcher = Fetcher(user_agent="t", timeout=1.0)
            try:
                url = server.url_for("/slow.xml")
                return list(await asyncio.gather(*(fetcher.fetch(url) for _ in range(4))))
            finally:
                await fetcher.aclose()

        results = asyncio.run(go())
    # The last two waited 0.6 s for a slot, then took 0.6 s: within a 1 s deadline each.
    assert [r.error for r in results] == [None] * 4  # type: ignore[attr-defined]


def _untrusted(url: str, **kwargs: object) -> object:
    async def go() -> object:
        exempt = kwargs.pop("exempt", frozenset())
        fetcher = Fetcher(user_agent="t", exempt=exempt)  # type: ignore[arg-type]
        try:
            return await fetcher.fetch_untrusted(url, **kwargs)  # type: ignore[arg-type]
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def test_a_fulltext_link_to_loopback_is_refused(hostile: HostileServer) -> None:
    before = hostile.seen.count("/secret")
    result = _untrusted(hostile.url("/secret"))
    assert result.error == "refused: 127.0.0.1 is a loopback address"  # type: ignore[attr-defined]
    assert hostile.seen.count("/secret") == before


def test_a_fulltext_link_by_name_is_checked_after_resolution(hostile: HostileServer) -> None:
    result = _untrusted(f"http://localhost:{hostile.port}/secret")
    assert result.error in (  # type: ignore[attr-defined]
        "refused: localhost resolves to 127.0.0.1, a loopback address",
        "refused: localhost resolves to ::1, a loopback address",
    )


def test_each_redirect_hop_is_checked(hostile: HostileServer) -> None:
    """A public page that redirects to an internal service: the second hop is refused."""
    internal = HostileServer()
    try:
        # The first server stands in for a public site; the second, on another
        # port, for an internal service that the redirect points at.
        public = frozenset({("127.0.0.1", hostile.port)})
        target = internal.url("/secret")
        result = _untrusted(hostile.url(f"/redirect-to?to={target}"), exempt=public)
        assert result.error == "refused: 127.0.0.1 is a loopback address"  # type: ignore[attr-defined]
        assert internal.seen == []
        allowed = _untrusted(hostile.url(f"/redirect-to?to={target}"), allow_private=True)
        assert allowed.body and b"internal secret" in allowed.body  # type: ignore[attr-defined]
    finally:
        internal.close()


def test_an_exempt_public_stand_in_is_fetched_through_its_checked_address(
    hostile: HostileServer,
) -> None:
    public = frozenset({("127.0.0.1", hostile.port)})
    result = _untrusted(hostile.url("/good.xml"), exempt=public)
    assert result.error is None and b"sub-decree" in result.body  # type: ignore[attr-defined]


def test_untrusted_redirect_loop_is_cut(hostile: HostileServer) -> None:
    result = _untrusted(hostile.url("/redirect-loop"), allow_private=True)
    assert result.error == "more than 5 redirects"  # type: ignore[attr-defined]


def test_only_http_links_are_fetched() -> None:
    result = _untrusted("file:///etc/passwd")
    assert result.error == "refused: only http and https links are fetched, not file"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("240.0.0.1", "reserved"),
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    import ipaddress

    from watcher.fetch.netguard import address_kind

    assert address_kind(ipaddress.ip_address(address)) == kind


def test_an_http_proxy_carries_the_request(hostile: HostileServer) -> None:
    """A per-source proxy: the request goes to the proxy, with the absolute URL."""
    from standins import FeedServer

    with FeedServer() as proxy:
        proxy.put("/", "")  # any path answers 404 unless put; record the request line

        async def go() -> object:
            fetcher = Fetcher(user_agent="t")
            try:
                return await fetcher.fetch("http://feeds.invalid/feed.xml", proxy=proxy.url)
            finally:
                await fetcher.aclose()

        asyncio.run(go())
        assert proxy.requests, "the request went to the proxy"
        assert proxy.requests[0].headers.get("host") == "feeds.invalid"


def test_a_socks_proxy_url_is_accepted() -> None:
    async def go() -> object:
        fetcher = Fetcher(user_agent="t", timeout=2)
        try:
            # Nothing listens on port 9: the point is that httpx accepts socks5h
            # (socksio installed) and the failure is reported, not raised.
            return await fetcher.fetch("http://feeds.invalid/", proxy="socks5h://127.0.0.1:9")
        finally:
            await fetcher.aclose()

    result = asyncio.run(go())
    assert result.error is not None and result.error.startswith(("proxy failed", "cannot connect"))  # type: ignore[attr-defined]


def test_a_socks5h_proxy_carries_the_request_and_resolves_the_name() -> None:
    """Tor's form: the proxy, not watcher, resolves `feeds.invalid` (no DNS leak)."""
    from socks import SocksProxy
    from standins import FeedServer

    with FeedServer() as feeds:
        feeds.put("/feed.xml", b"<rss version='2.0'><channel><title>t</title></channel></rss>")
        proxy = SocksProxy(("127.0.0.1", feeds.port))
        try:

            async def go() -> object:
                fetcher = Fetcher(user_agent="watcher-test", timeout=10)
                try:
                    return await fetcher.fetch("http://feeds.invalid/feed.xml", proxy=proxy.url)
                finally:
                    await fetcher.aclose()

            result = asyncio.run(go())
        finally:
            proxy.close()
    assert result.error is None, result.error  # type: ignore[attr-defined]
    assert result.body is not None and b"<rss" in result.body  # type: ignore[attr-defined]
    assert proxy.asked == ["feeds.invalid:80"]
    assert feeds.requests[-1].headers.get("host") == "feeds.invalid"


def test_retry_after_as_a_far_date_is_capped_like_seconds() -> None:
    # Review: `Retry-After: 999999999` waits at most 7 days, but the same wait written as
    # an HTTP date (a misconfigured server's year 9999) silenced the source for good.
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    week = now + timedelta(days=7)
    assert parse_retry_after("999999999", now) == week
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now) == week


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_is_read_zlib_wrapped_or_raw(wbits: int) -> None:
    """RFC 9110 says zlib-wrapped; many servers send raw deflate. Both must decode."""
    from watcher.fetch.client import _Decoder

    body = b"<rss>" + b"sub-decree " * 5000 + b"</rss>"
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    packed = packer.compress(body) + packer.flush()
    decoder = _Decoder("deflate", limit=1_000_000)
    for start in range(0, len(packed), 7):  # tiny chunks, as a slow server sends them
        decoder.feed(packed[start : start + 7])
    assert decoder.result() == body


def test_a_304_leaves_its_connection_open_for_the_next_request() -> None:
    """A steady cycle is mostly 304s: each must hand its connection back for the next
    feed of the same site, not close it (a connection per request before issue 17)."""
    from watcher.fetch.client import Conditional

    accepted = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if b"if-none-match" in head.lower():
                    writer.write(b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n')
                else:
                    body = b"<rss/>"
                    writer.write(
                        b'HTTP/1.1 200 OK\r\nETag: "v1"\r\nContent-Length: %d\r\n\r\n%s'
                        % (len(body), body)
                    )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def go() -> list[bool]:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        fetcher = Fetcher(user_agent="watcher-test")
        try:
            first = await fetcher.fetch(f"http://127.0.0.1:{port}/a.xml")
            assert first.status == 200 and first.etag == '"v1"'
            seen = []
            for path in ("a", "b", "c", "d"):
                result = await fetcher.fetch(
                    f"http://127.0.0.1:{port}/{path}.xml", Conditional('"v1"', None)
                )
                seen.append(result.not_modified)
            return seen
        finally:
            await fetcher.aclose()
            server.close()
            await server.wait_closed()

    assert asyncio.run(go()) == [True] * 4
    assert accepted == 1  # five requests, one connection
