"""A small loopback HTTP server that misbehaves on purpose (SPEC §8 hostile sources)."""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[BaseHTTPRequestHandler], None]


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    handler.send_response(status)
    for key, value in headers.items():
        handler.send_header(key.replace("_", "-"), value)
    if "Content-Length" not in {k.replace("_", "-") for k in headers}:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def gzip_bomb(handler: BaseHTTPRequestHandler) -> None:
    body = gzip.compress(b"\0" * (200 * 1024 * 1024), compresslevel=9)  # ~200 KB on the wire
    _send(handler, 200, body, Content_Type="application/rss+xml", Content_Encoding="gzip")


def deflate_bomb(handler: BaseHTTPRequestHandler) -> None:
    body = zlib.compress(b" " * (100 * 1024 * 1024), 9)
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


ROUTES: dict[str, Route] = {
    "/gzip-bomb": gzip_bomb,
    "/deflate-bomb": deflate_bomb,
    "/huge": huge,
    "/short-length": short_length,
    "/long-length": long_length,
    "/drip": drip,
    "/redirect-loop": redirect_loop,
    "/retry-later": retry_later,
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        route = ROUTES.get(self.path.split("?")[0])
        if route is None:
            _send(self, 404, b"not found")
        else:
            route(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


class HostileServer:
    """Serves ROUTES on 127.0.0.1 in a daemon thread."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
