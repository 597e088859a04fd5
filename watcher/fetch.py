"""HTTP fetching for every source (SPEC §8): one shared client, conditional GET,
a deadline from connect to last byte, a size cap after decompression.

The size cap is enforced on *decompressed* bytes by reading the raw stream and
inflating it ourselves with an output limit: httpx 0.28 may decode a tiny gzip or
brotli body into one enormous chunk before a read loop sees it, so counting
decoded chunks does not protect memory. The deadline wraps the whole exchange,
because httpx's read timeout is per chunk and a server dripping one byte a second
would never trip it.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx

from watcher.models import FetchResult

try:  # brotli is optional: without it we simply do not advertise "br"
    import brotli as _brotli  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None

_ZLIB_TYPE = type(zlib.decompressobj())
MAX_REDIRECTS = 5
PER_HOST = 2
GLOBAL_LIMIT = 32
_CHUNK = 64 * 1024


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


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """`Retry-After` as seconds or an HTTP date → the aware time to wait until."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return now + timedelta(seconds=min(int(value), 7 * 86400))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when if when > now else None


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
                self.steps.append("deflate")
            elif enc == "br" and _brotli is not None:
                self.steps.append(_brotli.Decompressor())
            elif enc in ("identity", ""):
                continue
            else:
                raise ValueError(f"unsupported content encoding {enc!r}")

    def _run(self, step: object, data: bytes, room: int) -> bytes:
        if step == "deflate":
            # "deflate" is zlib-wrapped by the RFC, raw deflate in practice:
            # decide on the first bytes, as browsers do.
            wbits = zlib.MAX_WBITS if data[:1] == b"\x78" else -zlib.MAX_WBITS
            step = zlib.decompressobj(wbits)
            self.steps[self.steps.index("deflate")] = step
        if isinstance(step, _ZLIB_TYPE):
            out = step.decompress(data, room + 1)
            if step.unconsumed_tail and len(out) > room:
                raise TooLarge
            return out
        # brotli cannot bound its output per call, so feed it in small slices.
        out = bytearray()
        for i in range(0, len(data), 1024):
            out += step.process(data[i : i + 1024])  # type: ignore[attr-defined]
            if len(out) > room:
                raise TooLarge
        return bytes(out)

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
    ) -> None:
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_size = max_size
        self.default_proxy = proxy or None
        self._clients: dict[str | None, httpx.AsyncClient] = {}
        self._global = asyncio.Semaphore(global_limit)
        self._per_host_limit = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}

    def _client(self, proxy: str | None) -> httpx.AsyncClient:
        # None: the global proxy; "": a direct connection (a source may opt out).
        key = self.default_proxy if proxy is None else (proxy or None)
        client = self._clients.get(key)
        if client is None:
            encodings = "gzip, deflate, br" if _brotli is not None else "gzip, deflate"
            client = httpx.AsyncClient(
                proxy=key,
                follow_redirects=True,
                max_redirects=MAX_REDIRECTS,
                timeout=httpx.Timeout(self.timeout),
                headers={"User-Agent": self.user_agent, "Accept-Encoding": encodings},
                limits=httpx.Limits(max_connections=GLOBAL_LIMIT, max_keepalive_connections=16),
                trust_env=False,
            )
            self._clients[key] = client
        return client

    def _host_gate(self, url: str) -> asyncio.Semaphore:
        host = (urlsplit(url).hostname or "").lower()
        gate = self._hosts.get(host)
        if gate is None:
            gate = self._hosts[host] = asyncio.Semaphore(self._per_host_limit)
        return gate

    async def aclose(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

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
            async with self._global, self._host_gate(url), asyncio.timeout(self.timeout):
                return await self._exchange(url, headers, proxy, now)
        except TimeoutError:
            return FetchResult(
                url, None, error=f"timed out after {self.timeout:g} s", fetched_at=now
            )
        except TooLarge:
            return FetchResult(
                url,
                None,
                error=f"response larger than {human_size(self.max_size)}",
                fetched_at=now,
            )
        except httpx.TooManyRedirects:
            return FetchResult(
                url, None, error=f"more than {MAX_REDIRECTS} redirects", fetched_at=now
            )
        except httpx.InvalidURL as exc:
            return FetchResult(url, None, error=f"invalid URL: {exc}", fetched_at=now)
        except httpx.ConnectError as exc:
            return FetchResult(url, None, error=f"cannot connect: {_reason(exc)}", fetched_at=now)
        except (httpx.HTTPError, OSError, ValueError, zlib.error) as exc:
            return FetchResult(url, None, error=_describe(exc), fetched_at=now)

    async def _exchange(
        self, url: str, headers: dict[str, str], proxy: str | None, now: datetime
    ) -> FetchResult:
        client = self._client(proxy)
        async with client.stream("GET", url, headers=headers) as response:
            final_url = str(response.url)
            flat = {k.lower(): v for k, v in response.headers.items()}
            common = {
                "status": response.status_code,
                "etag": response.headers.get("etag"),
                "last_modified": response.headers.get("last-modified"),
                "content_type": response.headers.get("content-type"),
                "final_url": final_url,
                "fetched_at": now,
                "headers": flat,
            }
            if response.status_code == 304:
                return FetchResult(url, not_modified=True, **common)  # type: ignore[arg-type]
            if response.status_code >= 400:
                retry = None
                message = f"HTTP {response.status_code}"
                if response.status_code in (429, 503):
                    retry = parse_retry_after(response.headers.get("retry-after"), now)
                    if retry is not None:
                        wait = max(0, int((retry - now).total_seconds()))
                        message += f", retrying after {wait} s"
                return FetchResult(url, error=message, retry_after=retry, **common)  # type: ignore[arg-type]
            declared = response.headers.get("content-length")
            encoding = response.headers.get("content-encoding", "")
            if declared and declared.isdigit() and not encoding and int(declared) > self.max_size:
                raise TooLarge
            body = await _read_capped(response.aiter_raw(_CHUNK), encoding, self.max_size)
            return FetchResult(url, body=body, **common)  # type: ignore[arg-type]


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


@contextlib.asynccontextmanager
async def open_fetcher(**kwargs: object) -> AsyncIterator[Fetcher]:
    """A Fetcher that is closed on exit."""
    fetcher = Fetcher(**kwargs)  # type: ignore[arg-type]
    try:
        yield fetcher
    finally:
        await fetcher.aclose()
