"""HTTP fetching for every source (SPEC §8): one shared client, conditional GET,
a deadline from connect to last byte, a size cap after decompression.

The size cap is enforced on *decompressed* bytes by reading the raw stream and
inflating it ourselves with an output limit: httpx 0.28 may decode a tiny gzip or
brotli body into one enormous chunk before a read loop sees it, so counting
decoded chunks does not protect memory. The deadline wraps the whole exchange,
because httpx's read timeout is per chunk and a server dripping one byte a second
would never trip it. It starts once the request holds its per-host and global
slots, so a fulltext fetch queued behind others on the same host is not timed
out for waiting its turn.

Two kinds of fetch: `fetch` for the URLs staff put in the config (trusted; httpx
follows redirects), and `fetch_untrusted` for links found inside feeds (fulltext),
which follows redirects itself and checks every hop with `watcher.fetch.netguard`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import brotli
import httpx

from watcher.fetch.netguard import Refused, Target, check_url
from watcher.models import FetchResult, Settings

_ZLIB_TYPE = type(zlib.decompressobj())
MAX_REDIRECTS = 5
PER_HOST = 2
GLOBAL_LIMIT = 32
_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
_PERMANENT = (301, 308)


class TooLarge(Exception):
    """The response grew past `max_size` bytes after decompression."""


@dataclass(frozen=True)
class Conditional:
    """Validators from the previous successful fetch of the same URL."""

    etag: str | None = None
    last_modified: str | None = None


def human_size(n: int) -> str:
    """`10000000` → `10 MB`: sizes in error messages a person reads."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


RETRY_AFTER_MAX = 7 * 86400  # seconds: the longest wait a server's Retry-After may impose


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """`Retry-After` as seconds or an HTTP date → the aware time to wait until."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=min(int(value), RETRY_AFTER_MAX))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # The same cap as for seconds: a date years ahead would silence the source for good.
    return min(when, now + timedelta(seconds=RETRY_AFTER_MAX)) if when > now else None


class _Deflate:
    """HTTP "deflate": zlib-wrapped by the RFC, raw deflate in practice; which one is
    decided on the first bytes, as browsers do."""

    def __init__(self) -> None:
        self._inner: zlib._Decompress | None = None

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._inner is None:
            wbits = zlib.MAX_WBITS if data[:1] == b"\x78" else -zlib.MAX_WBITS
            self._inner = zlib.decompressobj(wbits)
        return self._inner.decompress(data, max_length)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._inner.unconsumed_tail if self._inner is not None else b""


class _Decoder:
    """Incremental Content-Encoding decoder with a hard limit on output bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.chunks: list[bytes] = []
        encs = [e.strip().lower() for e in encoding.split(",") if e.strip()]
        self.steps: list[object] = []
        for enc in reversed(encs):  # last applied is first to undo
            if enc in ("gzip", "x-gzip"):
                self.steps.append(zlib.decompressobj(zlib.MAX_WBITS | 16))
            elif enc == "deflate":
                self.steps.append(_Deflate())
            elif enc == "br":
                self.steps.append(brotli.Decompressor())
            elif enc in ("identity", ""):
                continue
            else:
                raise ValueError(f"unsupported content encoding {enc!r}")

    def _run(self, step: object, data: bytes, room: int) -> bytes:
        if isinstance(step, _ZLIB_TYPE | _Deflate):
            out = step.decompress(data, room + 1)
            if step.unconsumed_tail and len(out) > room:
                raise TooLarge
            return out
        # brotli >= 1.2 bounds its output per call (`output_buffer_limit`, the fix
        # for CVE-2025-6176, a brotli bomb): a few hundred bytes of input can
        # expand to gigabytes, so slicing the input alone does not bound memory.
        assert isinstance(step, brotli.Decompressor)
        out = step.process(data, output_buffer_limit=room + 1)
        while len(out) <= room and not step.can_accept_more_data():
            more = step.process(b"", output_buffer_limit=room + 1 - len(out))
            if not more:
                break
            out += more
        if len(out) > room:
            raise TooLarge
        return out

    def feed(self, data: bytes) -> None:
        for step in self.steps:
            data = self._run(step, data, self.limit - self.size)
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge
        self.chunks.append(data)

    def result(self) -> bytes:
        return b"".join(self.chunks)


class Fetcher:
    """The shared HTTP client of one process, with per-host and global limits.

    One httpx client per proxy setting (httpx binds a proxy to a client); every
    source without its own proxy shares the default one.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        timeout: float = 30.0,
        max_size: int = 10_000_000,
        proxy: str | None = None,
        global_limit: int = GLOBAL_LIMIT,
        per_host: int = PER_HOST,
        exempt: frozenset[tuple[str, int]] = frozenset(),
    ) -> None:
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_size = max_size
        self.default_proxy = proxy or None
        self._clients: dict[str | None, httpx.AsyncClient] = {}
        self._global = asyncio.Semaphore(global_limit)
        self._per_host_limit = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}
        # (address, port) pairs netguard treats as public: for tests on 127.0.0.1 only.
        self.exempt = exempt
        self._untrusted: dict[str | None, httpx.AsyncClient] = {}

    def proxy_for(self, proxy: str | None) -> str | None:
        """The proxy a source uses: None = the global one, "" = a direct connection."""
        return self.default_proxy if proxy is None else (proxy or None)

    def _client(self, proxy: str | None) -> httpx.AsyncClient:
        key = self.proxy_for(proxy)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._new_client(key, keepalive=16)
        return client

    def _untrusted_client(self, proxy: str | None) -> httpx.AsyncClient:
        # Without keep-alive: it connects to checked addresses, and a pooled
        # connection opened for one name (TLS SNI) must not carry another's request.
        key = self.proxy_for(proxy)
        client = self._untrusted.get(key)
        if client is None:
            client = self._untrusted[key] = self._new_client(key, keepalive=0)
        return client

    def _new_client(self, proxy: str | None, *, keepalive: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            proxy=proxy,  # http://, https://, socks5:// or socks5h:// (socksio)
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            timeout=httpx.Timeout(self.timeout),
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate, br"},
            limits=httpx.Limits(max_connections=GLOBAL_LIMIT, max_keepalive_connections=keepalive),
            trust_env=False,
        )

    def _host_gate(self, url_or_host: str) -> asyncio.Semaphore:
        host = (urlsplit(url_or_host).hostname or url_or_host).lower()
        gate = self._hosts.get(host)
        if gate is None:
            gate = self._hosts[host] = asyncio.Semaphore(self._per_host_limit)
        return gate

    async def aclose(self) -> None:
        """Close every client."""
        for client in [*self._clients.values(), *self._untrusted.values()]:
            await client.aclose()
        self._clients.clear()
        self._untrusted.clear()

    async def fetch(
        self,
        url: str,
        conditional: Conditional | None = None,
        *,
        proxy: str | None = None,
        accept: str | None = None,
    ) -> FetchResult:
        """GET `url` within the deadline and size cap; never raises for network trouble.

        A failure comes back as a FetchResult with `error` set to a reason a person
        understands ("timed out after 30 s", "response larger than 10 MB").
        """
        now = datetime.now(UTC)
        headers: dict[str, str] = {}
        if accept:
            headers["Accept"] = accept
        if conditional and conditional.etag:
            headers["If-None-Match"] = conditional.etag
        if conditional and conditional.last_modified:
            headers["If-Modified-Since"] = conditional.last_modified
        try:
            # Host slot first: a queue for one slow host must not hold global slots.
            async with self._host_gate(url), self._global, asyncio.timeout(self.timeout):
                return await self._exchange(url, headers, proxy, now)
        except Exception as exc:  # every exception type is mapped in _failure
            return _failure(url, exc, now, self.timeout, self.max_size)

    async def fetch_untrusted(
        self,
        url: str,
        *,
        proxy: str | None = None,
        allow_private: bool = False,
        accept: str | None = None,
    ) -> FetchResult:
        """GET a link found in a feed, checking every hop against `watcher.fetch.netguard`.

        Redirects are followed here, at most MAX_REDIRECTS, each new address checked
        before connecting. The deadline covers the whole chain. Never raises for
        network trouble: a refusal comes back as an error ("refused: …").
        """
        now = datetime.now(UTC)
        headers = {"Accept": accept} if accept else {}
        proxied = self.proxy_for(proxy) is not None
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        current = url
        try:
            for _hop in range(MAX_REDIRECTS + 1):
                async with self._host_gate(current), self._global:
                    if deadline is None:
                        deadline = loop.time() + self.timeout
                    async with asyncio.timeout_at(deadline):
                        target = await check_url(
                            current,
                            allow_private=allow_private,
                            proxied=proxied,
                            exempt=self.exempt,
                        )
                        result = await self._exchange(
                            target.connect_url, headers, proxy, now, target=target, origin=url
                        )
                location = result.headers.get("location")
                if result.status in _REDIRECTS and location:
                    current = urljoin(current, location.strip())
                    continue
                return result
            raise httpx.TooManyRedirects("too many redirects")
        except Exception as exc:  # every exception type is mapped in _failure
            return _failure(url, exc, now, self.timeout, self.max_size)

    async def _exchange(
        self,
        url: str,
        headers: dict[str, str],
        proxy: str | None,
        now: datetime,
        *,
        target: Target | None = None,
        origin: str | None = None,
    ) -> FetchResult:
        if target is None:
            client = self._client(proxy)
            stream = client.stream("GET", url, headers=headers)
        else:
            assert isinstance(target, Target)
            client = self._untrusted_client(proxy)
            hop_headers = dict(headers)
            extensions = {}
            if target.address is not None:  # connecting to the checked address
                hop_headers["Host"] = urlsplit(target.url).netloc.rsplit("@", 1)[-1]
                extensions["sni_hostname"] = target.host
            stream = client.stream(
                "GET", url, headers=hop_headers, follow_redirects=False, extensions=extensions
            )
        async with stream as response:
            final_url = str(response.url) if target is None else target.url
            flat = {k.lower(): v for k, v in response.headers.items()}
            common = {
                "status": response.status_code,
                "etag": response.headers.get("etag"),
                "last_modified": response.headers.get("last-modified"),
                "content_type": response.headers.get("content-type"),
                "final_url": final_url,
                "fetched_at": now,
                "headers": flat,
                "moved_to": _moved_to(response) if target is None else None,
            }
            result_url = origin or url
            if target is not None and response.status_code in _REDIRECTS:
                return FetchResult(result_url, **common)  # type: ignore[arg-type]
            if response.status_code == 304:
                # A 304 has no body, but the exchange only ends once it is read: closed
                # unread, the connection is dropped instead of kept for the next poll of
                # the same site (a steady cycle is mostly 304s: a connection each).
                await _read_capped(response.aiter_raw(_CHUNK), "", _CHUNK)
                return FetchResult(result_url, not_modified=True, **common)  # type: ignore[arg-type]
            if response.status_code >= 400:
                retry = None
                message = f"HTTP {response.status_code}"
                if response.status_code in (429, 503):
                    retry = parse_retry_after(response.headers.get("retry-after"), now)
                    if retry is not None:
                        wait = max(0, int((retry - now).total_seconds()))
                        message += f", retrying after {wait} s"
                return FetchResult(result_url, error=message, retry_after=retry, **common)  # type: ignore[arg-type]
            declared = response.headers.get("content-length")
            encoding = response.headers.get("content-encoding", "")
            if declared and declared.isdigit() and not encoding and int(declared) > self.max_size:
                raise TooLarge
            body = await _read_capped(response.aiter_raw(_CHUNK), encoding, self.max_size)
            return FetchResult(result_url, body=body, **common)  # type: ignore[arg-type]


def _moved_to(response: httpx.Response) -> str | None:
    """Where a chain of permanent redirects starting at the requested URL led.

    Only a chain that *starts* permanent counts: a feed that moved for good
    (301/308) should be updated in the config, while a temporary hop (302 to a
    login page, a CDN's 307) says nothing about the configured URL.
    """
    chain = [*response.history, response]
    moved = None
    for i, hop in enumerate(chain[:-1]):
        if hop.status_code not in _PERMANENT:
            break
        moved = str(chain[i + 1].url)
    return moved


def _failure(url: str, exc: Exception, now: datetime, timeout: float, max_size: int) -> FetchResult:
    """The FetchResult for a fetch that raised; re-raises what is not a fetch failure."""
    if isinstance(exc, TimeoutError):
        error = f"timed out after {timeout:g} s"
    elif isinstance(exc, TooLarge):
        error = f"response larger than {human_size(max_size)}"
    elif isinstance(exc, httpx.TooManyRedirects):
        error = f"more than {MAX_REDIRECTS} redirects"
    elif isinstance(exc, Refused):
        error = str(exc)
    elif isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        error = f"invalid URL: {exc}"
    elif isinstance(exc, httpx.ProxyError):
        error = f"proxy failed: {_reason(exc)}"
    elif isinstance(exc, httpx.ConnectError):
        error = f"cannot connect: {_reason(exc)}"
    elif isinstance(exc, httpx.HTTPError | OSError | ValueError | zlib.error | brotli.error):
        error = _describe(exc)
    else:
        raise exc
    return FetchResult(url, None, error=error, fetched_at=now)


async def _read_capped(chunks: AsyncIterator[bytes], encoding: str, limit: int) -> bytes:
    decoder = _Decoder(encoding, limit)
    async for chunk in chunks:
        decoder.feed(chunk)
    return decoder.result()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    while not text and exc.__cause__ is not None:
        exc = exc.__cause__
        text = str(exc).strip()
    return text or type(exc).__name__


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"the server broke the connection: {_reason(exc)}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return f"network error: {_reason(exc)}"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, ValueError | zlib.error):
        return f"cannot decode the response: {_reason(exc)}"
    return f"{type(exc).__name__}: {_reason(exc)}"


def fetcher_settings(settings: Settings) -> tuple[object, ...]:
    """The settings `new_fetcher` reads: a reload that changes them needs a new client."""
    return (settings.user_agent, settings.timeout, settings.max_size, settings.proxy)


def new_fetcher(settings: Settings) -> Fetcher:
    """The one shared client for a config's settings (user agent, deadline, size cap,
    proxy)."""
    return Fetcher(
        user_agent=settings.user_agent,
        timeout=settings.timeout,
        max_size=settings.max_size,
        proxy=settings.proxy,
    )


@contextlib.asynccontextmanager
async def open_fetcher(**kwargs: object) -> AsyncIterator[Fetcher]:
    """A Fetcher that is closed on exit."""
    fetcher = Fetcher(**kwargs)  # type: ignore[arg-type]
    try:
        yield fetcher
    finally:
        await fetcher.aclose()
