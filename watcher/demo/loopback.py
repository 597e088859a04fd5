"""Real servers on 127.0.0.1 that stand in for the outside world in `watcher demo`.

The demo must never touch the internet, yet it runs the real code paths: httpx conditional
GETs, feedparser, Apprise's own `signal://` plugin. So it polls and delivers to small real
servers on a free loopback port:

- `SiteServer`: news feeds and pages, with ETag / Last-Modified and 304 answers, and a log of
  every request.
- `SignalStandIn`: the signal-cli REST API that Apprise's `signal://` plugin posts to.

Every server starts in its constructor on port 0 (the kernel picks a free port), runs in a
daemon thread, and is a context manager whose exit closes it::

    with demo_feed_server(now) as feeds, SignalStandIn() as signal:
        ...  # poll feeds.url_for("/feeds/…"), deliver to signal.apprise_url()
        signal.wait_for(1)

Nothing here is used by `watcher run`. The test suite builds its further stand-ins (scripted
feed trouble, Telegram, SMTP, JSON webhooks) on these classes, in tests/standins.py.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import mimetypes
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

__all__ = [
    "Closing",
    "LoopbackHTTP",
    "MessageLog",
    "RecordedRequest",
    "Response",
    "ServiceStandIn",
    "SignalStandIn",
    "SiteServer",
    "demo_feed_server",
    "guess_content_type",
]

LOOPBACK = "127.0.0.1"

# Content types for the files a feed server typically holds. `mimetypes` alone maps `.xml` to
# text/xml and knows nothing of `.rss` / `.atom`; feedparser reads all of these either way.
_CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".pdf": "application/pdf",
}


def guess_content_type(path: str) -> str:
    """The Content-Type a web server would send for `path`, judged by its extension."""
    suffix = Path(urlsplit(path).path).suffix.lower()
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as a stand-in received it.

    `path` is without the query string (`query` holds it); header names are lower-cased so
    that `request.headers.get("if-none-match")` works whatever case the client sent.
    """

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes = b""
    at: float = 0.0  # time.monotonic() on arrival

    @property
    def conditional(self) -> bool:
        """True if the request carried If-None-Match or If-Modified-Since (RFC 9110 §13)."""
        return "if-none-match" in self.headers or "if-modified-since" in self.headers

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Response:
    """What a stand-in answers; `drop` closes the connection without any answer."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_delay: float = 0.0  # seconds between sending the headers and the body
    drop: bool = False

    @classmethod
    def json(cls, status: int, payload: object) -> Response:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(status, {"Content-Type": "application/json"}, body)


class _Handler(BaseHTTPRequestHandler):
    """Routes every method to the owning stand-in's `_respond`."""

    # HTTP/1.1 with `Connection: close` on every answer: modern framing, but no idle keep-alive
    # connections that would outlive `close()` and keep answering from a stopped server.
    protocol_version = "HTTP/1.1"
    server: _OwnedServer

    def _dispatch(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        target = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=target.path,
            query=target.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            at=time.monotonic(),
        )
        owner._record(request)
        response = owner._respond(request)
        if response.drop:
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.command == "HEAD" or response.status in (204, 304):
            return
        if response.body_delay:
            self.wfile.flush()
            owner._closing.wait(response.body_delay)
        self.wfile.write(response.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: stand-ins are test equipment; `.requests` is their log."""


class _OwnedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: LoopbackHTTP) -> None:
        self.owner = owner
        super().__init__((LOOPBACK, 0), _Handler)


class Closing:
    """Context-manager protocol for servers: `with X() as x:` closes `x` on exit."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LoopbackHTTP(Closing):
    """A ThreadingHTTPServer on 127.0.0.1:<free port>, served from a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._closing = threading.Event()
        self._server = _OwnedServer(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()

    # -- address -------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """Always 127.0.0.1."""
        return LOOPBACK

    @property
    def port(self) -> int:
        """The port the kernel picked."""
        return int(self._server.server_address[1])

    @property
    def netloc(self) -> str:
        """`127.0.0.1:PORT`, for URLs that are not http (`signal://…`)."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT` (no trailing slash)."""
        return f"http://{self.netloc}"

    # -- request log ---------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """The requests received for one path (query string ignored)."""
        return [r for r in self.requests if r.path == path]

    def wait_for_requests(
        self, n: int, *, path: str | None = None, timeout: float = 5.0
    ) -> list[RecordedRequest]:
        """Block until `n` requests (for `path`, if given) have arrived; TimeoutError if not."""

        def matching() -> list[RecordedRequest]:
            return [r for r in self._requests if path is None or r.path == path]

        with self._changed:
            if not self._changed.wait_for(lambda: len(matching()) >= n, timeout):
                raise TimeoutError(
                    f"{type(self).__name__}: {len(matching())} of {n} requests"
                    f"{f' for {path}' if path else ''} within {timeout}s"
                )
            return matching()

    def _record(self, request: RecordedRequest) -> None:
        with self._changed:
            self._requests.append(request)
            self._changed.notify_all()

    def _respond(self, request: RecordedRequest) -> Response:
        raise NotImplementedError

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop serving and free the port; idempotent. Pending delays end at once."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __repr__(self) -> str:
        state = "closed" if self._closing.is_set() else self.url
        return f"<{type(self).__name__} {state}>"


# ----------------------------------------------------------------------------------------
# Feeds and pages


@dataclass
class _Resource:
    body: bytes
    content_type: str
    last_modified: datetime  # UTC, whole seconds (HTTP dates have no fractions)

    @property
    def etag(self) -> str:
        # A strong validator (RFC 9110 §8.8.3): it changes whenever a byte of the body does.
        return '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"'


def _whole_seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _etag_list(header: str) -> list[str]:
    """The entity tags of an If-None-Match header, weak prefixes dropped (RFC 9110 §13.1.2)."""
    tags = re.findall(r'(?:W/)?("[^"]*"|\*)', header)
    return tags


class SiteServer(LoopbackHTTP):
    """Serves feeds and pages the way a well-behaved news site does.

    Bodies come from an in-memory table (`put`, changeable while serving) and, failing that,
    from the files under `root`. Every answer carries a strong `ETag` (hash of the body) and
    `Last-Modified`; a conditional GET whose validators still hold gets `304 Not Modified`.
    (The tests' `FeedServer`, in tests/standins.py, adds scripted trouble.)
    """

    def __init__(self, root: Path | None = None) -> None:
        self._root = root.resolve() if root is not None else None
        self._resources: dict[str, _Resource] = {}
        super().__init__()

    def url_for(self, path: str) -> str:
        """The absolute URL of `path` on this server."""
        return self.url + (path if path.startswith("/") else "/" + path)

    def put(
        self,
        path: str,
        body: bytes | str,
        content_type: str | None = None,
        *,
        last_modified: datetime | None = None,
    ) -> None:
        """Serve `body` at `path` from now on (str is encoded as UTF-8).

        The content type defaults to one guessed from the extension. `Last-Modified` defaults
        to now, and moves forward by at least a second whenever the body changes, so that a
        client relying on If-Modified-Since alone (1 s resolution) still sees every change;
        putting identical bytes again keeps the old date, as a static file server would.
        """
        data = body.encode("utf-8") if isinstance(body, str) else body
        kind = content_type or guess_content_type(path)
        with self._lock:
            old = self._resources.get(path)
            if last_modified is not None:
                stamp = _whole_seconds(last_modified)
            elif old is not None and old.body == data:
                stamp = old.last_modified
            else:
                stamp = _whole_seconds(datetime.now(UTC))
                if old is not None and stamp <= old.last_modified:
                    stamp = old.last_modified + timedelta(seconds=1)
            self._resources[path] = _Resource(data, kind, stamp)

    def put_many(self, bodies: Mapping[str, bytes]) -> None:
        """`put` each path -> body of a mapping, content types guessed."""
        for path, body in bodies.items():
            self.put(path, body)

    def remove(self, path: str) -> None:
        """Stop serving `path` from the table (a 404 unless `root` has the file)."""
        with self._lock:
            self._resources.pop(path, None)

    # -- serving -------------------------------------------------------------------------

    def _respond(self, request: RecordedRequest) -> Response:
        if request.method not in ("GET", "HEAD"):
            return Response(405, {"Allow": "GET, HEAD"}, b"405 Method Not Allowed\n")
        with self._lock:
            resource = self._resources.get(request.path)
        if resource is None:
            resource = self._from_root(request.path)
        if resource is None:
            return Response(404, {"Content-Type": "text/plain"}, b"404 Not Found\n")
        validators = {
            "ETag": resource.etag,
            "Last-Modified": email.utils.format_datetime(resource.last_modified, usegmt=True),
        }
        if _not_modified(request.headers, resource):
            return Response(304, validators)
        headers = {"Content-Type": resource.content_type, **validators}
        return Response(200, headers, resource.body)

    def _from_root(self, path: str) -> _Resource | None:
        if self._root is None:
            return None
        candidate = (self._root / path.lstrip("/")).resolve()
        # Refuse `..` escapes: the folder is the whole site.
        if not candidate.is_relative_to(self._root) or not candidate.is_file():
            return None
        modified = datetime.fromtimestamp(candidate.stat().st_mtime, UTC)
        return _Resource(candidate.read_bytes(), guess_content_type(path), _whole_seconds(modified))


def _not_modified(headers: Mapping[str, str], resource: _Resource) -> bool:
    """RFC 9110 §13.2.2: If-None-Match decides when present; else If-Modified-Since."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = _etag_list(if_none_match)
        # If-None-Match uses the weak comparison: `W/"x"` matches `"x"`.
        return "*" in tags or resource.etag in tags
    if_modified_since = headers.get("if-modified-since")
    if if_modified_since is None:
        return False
    try:
        since = email.utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False  # an invalid date is ignored (RFC 9110 §13.1.3)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return resource.last_modified <= since


def demo_feed_server(now: datetime) -> SiteServer:
    """A running SiteServer with the bundled demo site (`watcher/demo/data/site`) rendered for
    `now`; see `watcher.demo.sample.render_demo_feeds`."""
    from watcher.demo.sample import render_demo_feeds

    server = SiteServer()
    try:
        server.put_many(render_demo_feeds(now))
    except BaseException:
        server.close()
        raise
    return server


# ----------------------------------------------------------------------------------------
# Notification services


class MessageLog:
    """A thread-safe list of received messages with a blocking `wait_for`."""

    def __init__(self) -> None:
        self._messages: list[dict[str, Any]] = []
        self._arrived = threading.Condition()

    def append(self, message: dict[str, Any]) -> None:
        with self._arrived:
            self._messages.append(message)
            self._arrived.notify_all()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._arrived:
            return list(self._messages)

    def clear(self) -> None:
        with self._arrived:
            self._messages.clear()

    def wait_for(self, n: int, timeout: float, who: str) -> list[dict[str, Any]]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._messages) >= n, timeout):
                raise TimeoutError(f"{who}: {len(self._messages)} of {n} messages in {timeout}s")
            return list(self._messages)


class ServiceStandIn(LoopbackHTTP):
    """A notification service stand-in: records accepted messages, can be set down."""

    _name = "stand-in"

    def __init__(self) -> None:
        self._log = MessageLog()
        self._down = False
        self._down_status: int | None = None
        super().__init__()

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Accepted messages (payload dicts), oldest first."""
        return self._log.snapshot()

    def wait_for(self, n: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least `n` messages were accepted; TimeoutError if not in time."""
        return self._log.wait_for(n, timeout, self._name)

    def clear(self) -> None:
        """Forget the messages received so far (the request log stays)."""
        self._log.clear()

    def _set_down(self, down: bool, status: int | None) -> None:
        with self._lock:
            self._down = down
            self._down_status = status

    def _down_state(self) -> tuple[bool, int | None]:
        with self._lock:
            return self._down, self._down_status


class SignalStandIn(ServiceStandIn):
    """The part of the signal-cli REST API (bbernhard/signal-cli-rest-api) that Apprise uses.

    Apprise's `signal://HOST:PORT/FROM/TO…` posts JSON to `http://HOST:PORT/v2/send`:
    `{"message", "number" (FROM), "recipients" ([TO]), "text_mode", "base64_attachments"?}`,
    one request per recipient unless `?batch=yes`, and counts 200 or 201 as delivered. This
    stand-in records each accepted payload in `.messages` and answers 201 with a timestamp, as
    the real API does. `set_down()` simulates an outage. URL: `apprise_url()`.

    Apprise sleeps `request_rate_per_sec` (5.5 s for signal://) between two sends of one
    plugin instance; a test that sends twice should use a fresh `Apprise()` for each send.
    """

    _name = "SignalStandIn"

    def __init__(self, delay: float = 0.0) -> None:
        # Seconds between accepting a message and answering: the message is already
        # delivered while the sender still waits, the worst moment for a crash.
        self.delay = delay
        super().__init__()

    def set_down(self, down: bool = True, *, status: int | None = 500) -> None:
        """While down, answer sends with `status`, or with `status=None` drop the connection
        without answering (a crashed daemon behind a proxy). Nothing is recorded as delivered."""
        self._set_down(down, status)

    def apprise_url(self, sender: str = "+10000000000", *recipients: str) -> str:
        """`signal://127.0.0.1:PORT/SENDER/RECIPIENT…` (recipient defaults to +10000000001)."""
        targets = "/".join(recipients or ("+10000000001",))
        return f"signal://{self.netloc}/{sender}/{targets}"

    def _respond(self, request: RecordedRequest) -> Response:
        if request.method == "GET" and request.path == "/v1/about":
            return Response.json(
                200, {"versions": ["v1", "v2"], "mode": "normal", "version": "stand-in"}
            )
        if request.path != "/v2/send":
            return Response.json(404, {"error": "not found"})
        if request.method != "POST":
            return Response.json(405, {"error": "method not allowed"})
        down, down_status = self._down_state()
        if down:
            if down_status is None:
                return Response(0, drop=True)
            return Response.json(down_status, {"error": "stand-in is down"})
        try:
            payload = request.json()
        except (UnicodeDecodeError, ValueError):
            return Response.json(400, {"error": "Couldn't process request - invalid request"})
        if not isinstance(payload, dict) or not payload.get("recipients"):
            return Response.json(400, {"error": "Couldn't process request - no recipients"})
        if "message" not in payload or "number" not in payload:
            return Response.json(400, {"error": "Couldn't process request - invalid request"})
        self._log.append(payload)
        if self.delay:
            self._closing.wait(self.delay)
        return Response.json(201, {"timestamp": str(time.time_ns() // 1_000_000)})
