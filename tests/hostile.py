"""A small loopback HTTP server that misbehaves on purpose (SPEC §8 hostile sources).

Bodies that are real files live in tests/data/hostile/ (`{{...}}` placeholders are
filled per request); bombs and endless bodies are made here, since a 1 GB file
has no place in the repository.
"""

from __future__ import annotations

import email.utils
import functools
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import brotli

DATA = Path(__file__).parent / "data" / "hostile"

Route = Callable[[BaseHTTPRequestHandler], None]


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key.replace("_", "-"), value)
    if "Content-Length" not in {k.replace("_", "-") for k in headers}:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _zeros(compressor: Callable[[bytes], bytes], flush: Callable[[], bytes], mb: int) -> bytes:
    # Compressed a megabyte at a time: the test process itself must stay small, or
    # every child it starts would inherit its peak RSS figure.
    block = b"\0" * (1024 * 1024)
    parts = [compressor(block) for _ in range(mb)]
    return b"".join(parts) + flush()


@functools.cache
def _gzip_bomb() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return _zeros(packer.compress, packer.flush, 200)  # ~200 KB on the wire


@functools.cache
def _deflate_bomb() -> bytes:
    packer = zlib.compressobj(9)
    return _zeros(packer.compress, packer.flush, 100)


@functools.cache
def _brotli_bomb() -> bytes:
    # 200 MB of zeros in a few hundred bytes: one read of it inflates past any cap.
    packer = brotli.Compressor(quality=5, lgwin=24)
    return _zeros(packer.process, packer.finish, 200)


def gzip_bomb(handler: BaseHTTPRequestHandler) -> None:
    body = _gzip_bomb()
    _send(handler, 200, body, Content_Type="application/rss+xml", Content_Encoding="gzip")


def deflate_bomb(handler: BaseHTTPRequestHandler) -> None:
    body = _deflate_bomb()
    _send(handler, 200, body, Content_Type="application/rss+xml", Content_Encoding="deflate")


def huge(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Length", str(1024**3))
    handler.end_headers()
    chunk = b"x" * 65536
    try:
        for _ in range(1024**3 // 65536):
            handler.wfile.write(chunk)
    except OSError:
        return


def short_length(handler: BaseHTTPRequestHandler) -> None:
    """Declares 100 bytes, sends 25 MB: only the declared bytes may be read."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    chunk = b"y" * 65536
    try:
        for _ in range(400):
            handler.wfile.write(chunk)
    except OSError:
        return


def long_length(handler: BaseHTTPRequestHandler) -> None:
    """Declares 1 MB, sends 10 bytes and closes."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Length", "1000000")
    handler.end_headers()
    handler.wfile.write(b"0123456789")
    handler.close_connection = True


def drip(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Content-Length", "100000")
    handler.end_headers()
    try:
        for _ in range(100000):
            handler.wfile.write(b"<")
            handler.wfile.flush()
            time.sleep(0.2)
    except OSError:
        return


def redirect_loop(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 302, b"", Location="/redirect-loop")


def retry_later(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 503, b"busy", Retry_After="600")


def brotli_bomb(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 200, _brotli_bomb(), Content_Type="application/rss+xml", Content_Encoding="br")


def endless(handler: BaseHTTPRequestHandler) -> None:
    """A 1 GB body without Content-Length: only the size cap can stop the read."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/rss+xml")
    handler.send_header("Connection", "close")
    handler.end_headers()
    chunk = b"<item>" + b"z" * 65530
    try:
        for _ in range(1024**3 // len(chunk)):
            handler.wfile.write(chunk)
    except OSError:
        return


def fill(text: str, server: tuple[str, int]) -> bytes:
    """A fixture with its {{HOST}} and {{DATE-Nh}} placeholders filled."""
    now = datetime.now(UTC)
    text = text.replace("{{HOST}}", f"{server[0]}:{server[1]}")
    for hours in range(1, 49):
        stamp = email.utils.format_datetime(now - timedelta(hours=hours), usegmt=True)
        text = text.replace(f"{{{{DATE-{hours}h}}}}", stamp)
    return text.encode("utf-8")


def _file(name: str, content_type: str, status: int = 200, **headers: str) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        raw = (DATA / name).read_text("utf-8")
        body = fill(raw, handler.server.server_address[:2])  # type: ignore[arg-type]
        _send(handler, status, body, Content_Type=content_type, **headers)

    return route


def empty(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 200, b"", Content_Type="application/rss+xml")


def not_found(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 404, b"<html><body>Not Found</body></html>", Content_Type="text/html")


def server_error(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 500, b"<html><body>Oops</body></html>", Content_Type="text/html")


def too_many(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 429, b"slow down", Retry_After="120")


def redirect_to(handler: BaseHTTPRequestHandler) -> None:
    """302 to the `to` query parameter: a fulltext link that bounces elsewhere."""
    target = parse_qs(urlsplit(handler.path).query).get("to", ["/"])[0]
    _send(handler, 302, b"", Location=target)


def moved(handler: BaseHTTPRequestHandler) -> None:
    _send(handler, 301, b"", Location="/good.xml")


def secret(handler: BaseHTTPRequestHandler) -> None:
    """An internal service a forged feed link must never reach."""
    _send(handler, 200, b"<html><body>internal secret sub-decree</body></html>",
          Content_Type="text/html")  # fmt: skip


ROUTES: dict[str, Route] = {
    "/gzip-bomb": gzip_bomb,
    "/deflate-bomb": deflate_bomb,
    "/huge": huge,
    "/short-length": short_length,
    "/long-length": long_length,
    "/drip": drip,
    "/redirect-loop": redirect_loop,
    "/retry-later": retry_later,
    "/brotli-bomb": brotli_bomb,
    "/endless": endless,
    "/empty": empty,
    "/not-found": not_found,
    "/server-error": server_error,
    "/too-many": too_many,
    "/redirect-to": redirect_to,
    "/moved": moved,
    "/secret": secret,
    "/good.xml": _file("good.xml", "application/rss+xml; charset=utf-8"),
    "/xxe.xml": _file("xxe.xml", "application/rss+xml; charset=utf-8"),
    "/laughs.xml": _file("billion_laughs.xml", "application/rss+xml; charset=utf-8"),
    "/wrong-charset.xml": _file("wrong_charset.xml", "application/rss+xml; charset=iso-8859-1"),
    "/html-page": _file("page.html", "text/html; charset=utf-8"),
    "/ssrf.xml": _file("ssrf.xml", "application/rss+xml; charset=utf-8"),
    "/laughs-sitemap.xml": _file("billion_laughs.xml", "application/xml"),
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self.server.seen.append(self.path)
        route = ROUTES.get(self.path.split("?")[0])
        if route is None:
            _send(self, 404, b"not found")
        else:
            route(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    seen: list[str]


class HostileServer:
    """Serves ROUTES on 127.0.0.1 in a daemon thread; `seen` lists requested paths."""

    def __init__(self) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.seen = []
        for bomb in (_gzip_bomb, _deflate_bomb, _brotli_bomb):
            bomb()  # made before serving, so no request waits for it
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def seen(self) -> list[str]:
        return list(self.server.seen)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
