"""Start-up of `watcher once`: time from process start to its first HTTP request.

A loopback server notes when the first request of each `watcher once` arrives; the
figure is that moment minus the moment just before the process was started (one
clock, one machine). The config is bench/feedgen.py's (1,000 sources by default, 500
people, one `json://` channel, so Apprise's check of the channel URL is paid). Every
feed answers 304 after the first run, as in a steady cycle; the first run (which
creates the state) is not counted. Also printed: the whole run's wall time and CPU,
and the peak RSS of the main process alone (psutil, sampled every 20 ms).

    .venv/bin/python bench/startup.py [--feeds 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from feedgen import feed_specs, write_config  # noqa: E402  (bench/ is not a package)

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    b"<link>http://example.org/</link><description>d</description></channel></rss>"
)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    first: float | None = None
    lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        with self.server.lock:
            if self.server.first is None:
                self.server.first = time.monotonic()
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(FEED)))
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, *args: object) -> None:
        pass


def one(argv: list[str], server: Server) -> tuple[float, float, float, int]:
    """(seconds to first request, wall s, CPU s, main-process peak RSS bytes) of one run."""
    server.first = None
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    ps = psutil.Process(proc.pid)
    peak = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        with contextlib.suppress(psutil.Error):
            peak = max(peak, ps.memory_info().rss)
        time.sleep(0.02)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"watcher once exited {proc.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    first = (server.first - start) if server.first is not None else float("nan")
    return first, wall, cpu, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    with tempfile.TemporaryDirectory() as tmp:
        specs = [dataclasses.replace(s, host="127.0.0.1") for s in feed_specs(args.feeds)]
        config = write_config(Path(tmp), specs, port)
        argv = [sys.executable, "-m", "watcher", "-c", str(config), "once"]
        one(argv, server)  # creates the state; every later poll is answered 304
        runs = [one(argv, server) for _ in range(args.runs)]
    first, wall, cpu, rss = (statistics.median(r[i] for r in runs) for i in range(4))
    print(f"watcher once, {args.feeds} feeds answering 304; median of {args.runs} runs")
    print(f"  first request after   {first:6.3f} s")
    print(f"  whole run wall        {wall:6.3f} s   CPU {cpu:6.3f} s (process tree)")
    print(f"  main process peak RSS {rss / 2**20:6.1f} MB")
    print("  each run (first request s):", " ".join(f"{r[0]:.3f}" for r in runs))


if __name__ == "__main__":
    main()
