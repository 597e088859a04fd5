"""Real servers on 127.0.0.1 that stand in for the outside world.

`watcher demo` and the test suite must never touch the internet, yet they should exercise the
real code paths: httpx conditional GETs, feedparser, Apprise's own plugins. So instead of mocking
those libraries, these classes run small real servers on a free loopback port:

- `FeedServer`: news feeds and pages, with ETag / Last-Modified and 304 answers, scripted
  failures (`503` + `Retry-After`), delays and redirects, and a log of every request.
- `SignalStandIn`: the signal-cli REST API that Apprise's `signal://` plugin posts to.
- `TelegramStandIn`: the Telegram Bot API; see `point_apprise_telegram_at` for why Apprise
  needs a nudge to reach it.
- `SmtpStandIn`: an SMTP server (aiosmtpd, a dev dependency imported only when used).
- `JsonStandIn`: a webhook that records what Apprise's `json://` plugin posts.

Every server starts in its constructor on port 0 (the kernel picks a free port), runs in a
daemon thread, and is a context manager whose exit closes it::

    with FeedServer() as feeds, SignalStandIn() as signal:
        feeds.put("/feed.xml", rss_bytes)
        ...  # poll feeds.url_for("/feed.xml"), deliver to signal.apprise_url()
        signal.wait_for(1)

Nothing here is used by `watcher run`; it is test and demo equipment that ships in the package
so that `watcher demo` works from an installed wheel.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import itertools
import json
import mimetypes
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

__all__ = [
    "FeedServer",
    "JsonStandIn",
    "ReceivedMail",
    "RecordedRequest",
    "SignalStandIn",
    "SmtpStandIn",
    "TelegramStandIn",
    "demo_feed_server",
    "guess_content_type",
    "point_apprise_telegram_at",
    "telegram_html_error",
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
class _Response:
    """What a stand-in answers; `drop` closes the connection without any answer."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    body_delay: float = 0.0  # seconds between sending the headers and the body
    drop: bool = False

    @classmethod
    def json(cls, status: int, payload: object) -> _Response:
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

    def __init__(self, owner: _LoopbackHTTP) -> None:
        self.owner = owner
        super().__init__((LOOPBACK, 0), _Handler)


class _Closing:
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


class _LoopbackHTTP(_Closing):
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

    def _respond(self, request: RecordedRequest) -> _Response:
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


@dataclass
class _Failure:
    status: int
    retry_after: str | None
    body: bytes
    times: int | None  # None: until `recover`


@dataclass(frozen=True)
class _Delay:
    seconds: float
    phase: str  # "headers": before answering; "body": after the headers, before the body


def _whole_seconds(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)


def _etag_list(header: str) -> list[str]:
    """The entity tags of an If-None-Match header, weak prefixes dropped (RFC 9110 §13.1.2)."""
    tags = re.findall(r'(?:W/)?("[^"]*"|\*)', header)
    return tags


class FeedServer(_LoopbackHTTP):
    """Serves feeds and pages the way a well-behaved news site does, plus scripted trouble.

    Bodies come from an in-memory table (`put`, changeable while serving) and, failing that,
    from the files under `root`. Every answer carries a strong `ETag` (hash of the body) and
    `Last-Modified`; a conditional GET whose validators still hold gets `304 Not Modified`.
    `fail`, `delay` and `redirect` script misbehaviour per path; `recover` undoes them.
    """

    def __init__(self, root: Path | None = None) -> None:
        self._root = root.resolve() if root is not None else None
        self._resources: dict[str, _Resource] = {}
        self._failures: dict[str, _Failure] = {}
        self._delays: dict[str, _Delay] = {}
        self._redirects: dict[str, tuple[str, int]] = {}
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

    def fail(
        self,
        path: str,
        status: int = 503,
        retry_after: str | int | None = None,
        *,
        times: int | None = None,
        body: bytes = b"",
    ) -> None:
        """Answer `path` with `status` (and `Retry-After`, seconds or an HTTP date).

        With `times`, only the next `times` requests fail; otherwise until `recover(path)`.
        """
        with self._lock:
            self._failures[path] = _Failure(
                status, None if retry_after is None else str(retry_after), body, times
            )

    def delay(self, path: str, seconds: float, *, phase: str = "headers") -> None:
        """Hold answers for `path` for `seconds`.

        `phase="headers"` waits before answering at all (a slow server); `phase="body"` sends
        the status and headers at once and then stalls before the body (a server that trickles,
        which only a whole-request deadline catches). `close()` ends a pending wait.
        """
        if phase not in ("headers", "body"):
            raise ValueError(f"phase must be 'headers' or 'body', not {phase!r}")
        with self._lock:
            self._delays[path] = _Delay(seconds, phase)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        """Answer `path` with a redirect to `location` (a path here, or any URL)."""
        with self._lock:
            self._redirects[path] = (location, status)

    def recover(self, path: str) -> None:
        """Undo `fail`, `delay` and `redirect` for `path`."""
        with self._lock:
            self._failures.pop(path, None)
            self._delays.pop(path, None)
            self._redirects.pop(path, None)

    # -- serving -------------------------------------------------------------------------

    def _respond(self, request: RecordedRequest) -> _Response:
        path = request.path
        with self._lock:
            delay = self._delays.get(path)
            failure = self._failures.get(path)
            if failure is not None and failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self._failures[path]
            redirect = self._redirects.get(path)
            resource = self._resources.get(path)
        if delay is not None and delay.phase == "headers":
            self._closing.wait(delay.seconds)
        body_delay = delay.seconds if delay is not None and delay.phase == "body" else 0.0

        if failure is not None:
            headers = {"Content-Type": "text/plain; charset=utf-8"}
            if failure.retry_after is not None:
                headers["Retry-After"] = failure.retry_after
            body = failure.body or f"{failure.status} {_reason(failure.status)}\n".encode()
            return _Response(failure.status, headers, body, body_delay)
        if redirect is not None:
            location, status = redirect
            return _Response(status, {"Location": location}, b"", body_delay)
        if request.method not in ("GET", "HEAD"):
            return _Response(405, {"Allow": "GET, HEAD"}, b"405 Method Not Allowed\n")
        if resource is None:
            resource = self._from_root(path)
        if resource is None:
            return _Response(404, {"Content-Type": "text/plain"}, b"404 Not Found\n")

        validators = {
            "ETag": resource.etag,
            "Last-Modified": email.utils.format_datetime(resource.last_modified, usegmt=True),
        }
        if _not_modified(request.headers, resource):
            return _Response(304, validators)
        headers = {"Content-Type": resource.content_type, **validators}
        return _Response(200, headers, resource.body, body_delay)

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


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def demo_feed_server(now: datetime) -> FeedServer:
    """A running FeedServer with the bundled demo site (`watcher/demo_data/site`) rendered for
    `now`; see `watcher.demo_data.render_demo_feeds`."""
    from watcher.demo_data import render_demo_feeds

    server = FeedServer()
    try:
        server.put_many(render_demo_feeds(now))
    except BaseException:
        server.close()
        raise
    return server


# ----------------------------------------------------------------------------------------
# Notification services


class _MessageLog:
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


class _ServiceStandIn(_LoopbackHTTP):
    """A notification service stand-in: records accepted messages, can be set down."""

    _name = "stand-in"

    def __init__(self) -> None:
        self._log = _MessageLog()
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


class SignalStandIn(_ServiceStandIn):
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

    def _respond(self, request: RecordedRequest) -> _Response:
        if request.method == "GET" and request.path == "/v1/about":
            return _Response.json(
                200, {"versions": ["v1", "v2"], "mode": "normal", "version": "stand-in"}
            )
        if request.path != "/v2/send":
            return _Response.json(404, {"error": "not found"})
        if request.method != "POST":
            return _Response.json(405, {"error": "method not allowed"})
        down, down_status = self._down_state()
        if down:
            if down_status is None:
                return _Response(0, drop=True)
            return _Response.json(down_status, {"error": "stand-in is down"})
        try:
            payload = request.json()
        except (UnicodeDecodeError, ValueError):
            return _Response.json(400, {"error": "Couldn't process request - invalid request"})
        if not isinstance(payload, dict) or not payload.get("recipients"):
            return _Response.json(400, {"error": "Couldn't process request - no recipients"})
        if "message" not in payload or "number" not in payload:
            return _Response.json(400, {"error": "Couldn't process request - invalid request"})
        self._log.append(payload)
        if self.delay:
            self._closing.wait(self.delay)
        return _Response.json(201, {"timestamp": str(time.time_ns() // 1_000_000)})


class JsonStandIn(_ServiceStandIn):
    """A webhook receiver for Apprise's `json://HOST:PORT/PATH` (any JSON endpoint).

    Apprise posts `{"version", "title", "message", "type", …}`; each accepted body is kept in
    `.messages` and answered 200. `set_down()` answers 503 instead. URL: `apprise_url()`.
    """

    _name = "JsonStandIn"

    def set_down(self, down: bool = True) -> None:
        """While down, answer 503 and record nothing as delivered."""
        self._set_down(down, 503)

    def apprise_url(self, path: str = "/hook") -> str:
        """`json://127.0.0.1:PORT/PATH`."""
        return f"json://{self.netloc}{path}"

    def _respond(self, request: RecordedRequest) -> _Response:
        if self._down_state()[0]:
            return _Response.json(503, {"error": "stand-in is down"})
        if request.method != "POST":
            return _Response.json(405, {"error": "method not allowed"})
        try:
            payload = request.json()
        except (UnicodeDecodeError, ValueError):
            return _Response.json(400, {"error": "not JSON"})
        self._log.append({**payload, "path": request.path} if isinstance(payload, dict) else {})
        return _Response.json(200, {"ok": True})


# Tags that Telegram's HTML parse mode accepts (core.telegram.org/bots/api#html-style).
_TELEGRAM_TAGS = frozenset(
    {
        *("b", "strong", "i", "em", "u", "ins", "s", "strike", "del"),
        *("span", "tg-spoiler", "a", "tg-emoji", "code", "pre", "blockquote"),
    }
)
_TELEGRAM_TOKEN = re.compile(
    r"<(?P<close>/?)(?P<tag>[a-zA-Z][a-zA-Z0-9-]*)(?P<attrs>[^<>]*)>"
    r"|&(?:#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);"
    r"|(?P<bare>[<&])"
)


def telegram_html_error(text: str) -> str | None:
    """Why Telegram would refuse `text` with parse_mode=HTML, or None if it would accept it.

    Telegram answers 400 "can't parse entities" for a bare `<` or `&`, an unsupported tag or
    tags that do not nest; a stand-in that accepted those would hide an escaping bug.
    """
    stack: list[str] = []
    for token in _TELEGRAM_TOKEN.finditer(text):
        if token.group("bare"):
            return f"Character '{token.group('bare')}' is reserved at offset {token.start()}"
        tag = token.group("tag")
        if tag is None:
            continue
        tag = tag.lower()
        if tag not in _TELEGRAM_TAGS:
            return f'Unsupported start tag "{tag}" at byte offset {token.start()}'
        if token.group("close"):
            if not stack or stack.pop() != tag:
                return f"Unmatched end tag at byte offset {token.start()}, expected {tag}"
        else:
            stack.append(tag)
    if stack:
        return f'Can\'t find end tag corresponding to start tag "{stack[-1]}"'
    return None


class TelegramStandIn(_ServiceStandIn):
    """The Telegram Bot API methods Apprise calls: sendMessage, getUpdates, getMe, send*.

    `sendMessage` payloads (JSON or form-encoded) are recorded in `.messages` with the bot
    `token` added, after the checks the real API makes that a sender can get wrong: text
    present, at most 4,096 characters, and valid HTML when `parse_mode` is HTML (otherwise
    400 with Telegram's error shape). `getUpdates` reports one `/start` from `owner_id`, so a
    `tgram://TOKEN` URL without a chat id detects that owner, as Apprise does.

    Apprise's telegram plugin does not take a host: it posts to the class attribute
    `apprise.plugins.telegram.NotifyTelegram.notify_url` (`"https://api.telegram.org/bot"`,
    token and method appended). To reach the stand-in, patch that attribute for the duration
    of the test::

        with TelegramStandIn() as telegram, point_apprise_telegram_at(telegram.url):
            apprise.Apprise(servers=telegram.apprise_url()).notify(body="…")
            telegram.wait_for(1)

    (or in pytest: `monkeypatch.setattr(NotifyTelegram, "notify_url", telegram.url + "/bot")`).
    The patch is process-wide, so tests that use it must not run in parallel threads of one
    process; pytest-xdist workers are separate processes and are fine.
    """

    _name = "TelegramStandIn"
    TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    BOT_ID = 123456789

    def __init__(self, owner_id: int = 987654321) -> None:
        self.owner_id = owner_id
        self._message_ids = itertools.count(1)
        super().__init__()

    def set_down(self, down: bool = True, *, status: int | None = 502) -> None:
        """While down, answer every method with `status` (None: drop the connection)."""
        self._set_down(down, status)

    def apprise_url(self, chat_id: str | int = "-1001234567890", token: str = TOKEN) -> str:
        """`tgram://TOKEN/CHAT_ID`; only reaches the stand-in under
        `point_apprise_telegram_at(self.url)`."""
        return f"tgram://{token}/{chat_id}"

    def _respond(self, request: RecordedRequest) -> _Response:
        route = re.fullmatch(r"/bot(?P<token>[^/]+)/(?P<method>\w+)", request.path)
        if route is None:
            return _telegram_error(404, "Not Found")
        down, down_status = self._down_state()
        if down:
            if down_status is None:
                return _Response(0, drop=True)
            return _telegram_error(down_status, "Bad Gateway")
        token, method = route["token"], route["method"].lower()  # methods are case-insensitive
        now = int(time.time())
        if method == "getme":
            return _telegram_ok(
                {"id": self.BOT_ID, "is_bot": True, "first_name": "watcher", "username": "w_bot"}
            )
        if method == "getupdates":
            person = {"id": self.owner_id, "is_bot": False, "first_name": "Staff"}
            chat = {"id": self.owner_id, "first_name": "Staff", "type": "private"}
            start = {"message_id": 1, "from": person, "chat": chat, "date": now, "text": "/start"}
            return _telegram_ok([{"update_id": 1, "message": start}])
        if method == "sendmessage":
            payload = _telegram_params(request)
            text = str(payload.get("text") or "")
            if "chat_id" not in payload:
                return _telegram_error(400, "Bad Request: chat_id is empty")
            if not text.strip():
                return _telegram_error(400, "Bad Request: message text is empty")
            if len(text) > 4096:
                return _telegram_error(400, "Bad Request: message is too long")
            if str(payload.get("parse_mode", "")).upper() == "HTML":
                problem = telegram_html_error(text)
                if problem is not None:
                    return _telegram_error(400, f"Bad Request: can't parse entities: {problem}")
            self._log.append({**payload, "token": token})
            message_id = next(self._message_ids)
            chat = {"id": payload["chat_id"], "type": "private"}
            return _telegram_ok({"message_id": message_id, "chat": chat, "date": now, "text": text})
        if method.startswith("send"):
            # sendPhoto, sendDocument, sendMediaGroup…: accepted, visible in `.requests`.
            message_id = next(self._message_ids)
            return _telegram_ok({"message_id": message_id, "date": now})
        return _telegram_error(404, "Not Found: method not found")


def _telegram_ok(result: object) -> _Response:
    return _Response.json(200, {"ok": True, "result": result})


def _telegram_error(status: int, description: str) -> _Response:
    return _Response.json(status, {"ok": False, "error_code": status, "description": description})


def _telegram_params(request: RecordedRequest) -> dict[str, Any]:
    """Bot API parameters from a JSON or form-encoded body, or the query string."""
    content_type = request.headers.get("content-type", "")
    if "json" in content_type:
        try:
            payload = request.json()
        except (UnicodeDecodeError, ValueError):
            return {}
        return payload if isinstance(payload, dict) else {}
    if "form-urlencoded" in content_type:
        return dict(parse_qsl(request.body.decode("utf-8")))
    return dict(parse_qsl(request.query))


@contextlib.contextmanager
def point_apprise_telegram_at(url: str) -> Iterator[None]:
    """Within the block, Apprise's telegram plugin posts to `url` instead of api.telegram.org.

    `url` is a stand-in's base URL (`TelegramStandIn.url`); the previous value of
    `NotifyTelegram.notify_url` is restored on exit. Process-wide: see `TelegramStandIn`.
    """
    from apprise.plugins.telegram import NotifyTelegram

    saved = NotifyTelegram.notify_url
    NotifyTelegram.notify_url = url.rstrip("/") + "/bot"
    try:
        yield
    finally:
        NotifyTelegram.notify_url = saved


@dataclass(frozen=True)
class ReceivedMail:
    """One mail the SMTP stand-in accepted: the envelope and the parsed MIME message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes

    @property
    def subject(self) -> str:
        """The decoded Subject header ('' if none)."""
        return str(self.message.get("Subject", ""))

    def text(self, subtype: str = "plain") -> str:
        """The decoded text/<subtype> part ('' if the message has none)."""
        part = self.message.get_body(preferencelist=(subtype,))
        if part is None or not isinstance(part, EmailMessage):
            return ""
        return str(part.get_content())


class SmtpStandIn(_Closing):
    """An SMTP server on 127.0.0.1 (aiosmtpd) that keeps every mail it accepts.

    No TLS and no authentication: reach it with Apprise's plain `mailto://` scheme, whose
    secure mode defaults to "insecure" (no STARTTLS) — see `apprise_url()`. aiosmtpd is a dev
    dependency and is imported here, on construction, so that `watcher` imports without it.
    `set_down()` makes it refuse mail with a temporary 451, as a mail server under maintenance
    does.
    """

    def __init__(self) -> None:
        import socket

        from aiosmtpd.controller import Controller

        self._log = _MessageLog()
        self._down = False
        # aiosmtpd's Controller connects to its own port to check that it started, so port 0
        # cannot be passed through; bind the socket here and hand it to asyncio instead.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind((LOOPBACK, 0))
        self.port: int = self._socket.getsockname()[1]
        listening = self._socket

        class _BoundController(Controller):
            def _create_server(self) -> Any:
                return self.loop.create_server(
                    self._factory_invoker, sock=listening, ssl=self.ssl_context
                )

        self._controller = _BoundController(
            _SmtpHandler(self), hostname=LOOPBACK, port=self.port, ready_timeout=5.0
        )
        try:
            self._controller.start()
        except BaseException:
            self._socket.close()
            raise
        self._closed = False

    @property
    def host(self) -> str:
        """Always 127.0.0.1."""
        return LOOPBACK

    @property
    def mails(self) -> list[ReceivedMail]:
        """Accepted mails, oldest first."""
        return [entry["mail"] for entry in self._log.snapshot()]

    @property
    def messages(self) -> list[EmailMessage]:
        """The parsed MIME messages of the accepted mails (email.policy.default)."""
        return [mail.message for mail in self.mails]

    def wait_for(self, n: int = 1, timeout: float = 5.0) -> list[ReceivedMail]:
        """Block until at least `n` mails were accepted; TimeoutError if not in time."""
        return [entry["mail"] for entry in self._log.wait_for(n, timeout, "SmtpStandIn")]

    def set_down(self, down: bool = True) -> None:
        """While down, refuse DATA with `451 4.3.0` (a temporary failure)."""
        self._down = down

    def apprise_url(
        self, from_addr: str = "watcher@example.org", to: str = "staff@example.org"
    ) -> str:
        """`mailto://127.0.0.1:PORT?from=FROM&to=TO`: plain SMTP, no STARTTLS, no login."""
        return f"mailto://{LOOPBACK}:{self.port}?from={from_addr}&to={to}"

    def close(self) -> None:
        """Stop the server and free the port; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._controller.stop()
        self._socket.close()

    def _accept(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> str:
        if self._down:
            return "451 4.3.0 Stand-in is down, try again later"
        import email as email_package

        message = email_package.message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        mail = ReceivedMail(mail_from, tuple(rcpt_tos), message, raw)
        self._log.append({"mail": mail})
        return "250 Message accepted for delivery"


class _SmtpHandler:
    """aiosmtpd handler: hands each mail's envelope to the owning SmtpStandIn."""

    def __init__(self, owner: SmtpStandIn) -> None:
        self._owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode("utf-8")
        return self._owner._accept(envelope.mail_from, list(envelope.rcpt_tos), data)
