"""A minimal SOCKS5 proxy on 127.0.0.1 (RFC 1928: no authentication, CONNECT only).

Enough to prove that a `socks5h://` source (the form Tor takes) really travels through
the proxy: the proxy, not watcher, resolves the host name, and every request it carried is
recorded with the name it was asked for.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from socketserver import StreamRequestHandler, ThreadingTCPServer


class _Handler(StreamRequestHandler):
    server: SocksProxy

    def handle(self) -> None:
        version, count = self.rfile.read(2)
        self.rfile.read(count)  # offered methods; we only do "no authentication"
        self.wfile.write(b"\x05\x00")
        version, command, _, kind = self.rfile.read(4)
        if kind == 1:
            host = socket.inet_ntoa(self.rfile.read(4))
        elif kind == 3:
            host = self.rfile.read(self.rfile.read(1)[0]).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, self.rfile.read(16))
        (port,) = struct.unpack("!H", self.rfile.read(2))
        self.server.asked.append(f"{host}:{port}")
        if version != 5 or command != 1:
            self.wfile.write(b"\x05\x07\x00\x01" + b"\0" * 6)
            return
        # Every name resolves to the loopback target the test chose.
        target = socket.create_connection(self.server.target, timeout=5)
        self.wfile.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + b"\0\0")
        _pipe(self.connection, target)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    def forward(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    other = threading.Thread(target=forward, args=(b, a), daemon=True)
    other.start()
    forward(a, b)
    other.join(5)


class SocksProxy(ThreadingTCPServer):
    """SOCKS5 proxy that connects every request to `target` and records the names asked."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.target = target
        self.asked: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"socks5h://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
