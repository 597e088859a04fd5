"""Test equipment: loopback stand-ins for the services watcher talks to (only tests use these).

Built on the demo's servers (watcher.demo.loopback), which the product ships so that
`watcher demo` runs from an installed wheel:

- `FeedServer`: the demo's `SiteServer` plus scripted trouble per path (`fail` with a status
  and `Retry-After`, `delay` before the headers or the body, `redirect`).
- `SignalStandIn` (from the demo), `TelegramStandIn` (see `point_apprise_telegram_at`),
  `JsonStandIn` and `SmtpStandIn` (aiosmtpd, a dev dependency).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from email import policy
from email.message import EmailMessage
from http import HTTPStatus
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import pytest

from watcher.demo.loopback import (
    LOOPBACK,
    Closing,
    MessageLog,
    RecordedRequest,
    Response,
    ServiceStandIn,
    SignalStandIn,
    SiteServer,
    demo_feed_server,
    guess_content_type,
)

__all__ = [
    "FeedServer",
    "JsonStandIn",
    "ReceivedMail",
    "RecordedRequest",
    "Response",
    "SignalStandIn",
    "SmtpStandIn",
    "TelegramStandIn",
    "demo_feed_server",
    "guess_content_type",
    "point_apprise_telegram_at",
    "telegram_html_error",
    "wait_until",
]


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


class FeedServer(SiteServer):
    """Serves feeds and pages like `SiteServer`, plus scripted trouble.

    `fail`, `delay` and `redirect` script misbehaviour per path; `recover` undoes them.
    """

    def __init__(self, root: Path | None = None) -> None:
        self._failures: dict[str, _Failure] = {}
        self._delays: dict[str, _Delay] = {}
        self._redirects: dict[str, tuple[str, int]] = {}
        super().__init__(root)

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

    def _respond(self, request: RecordedRequest) -> Response:
        path = request.path
        with self._lock:
            delay = self._delays.get(path)
            failure = self._failures.get(path)
            if failure is not None and failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self._failures[path]
            redirect = self._redirects.get(path)
        if delay is not None and delay.phase == "headers":
            self._closing.wait(delay.seconds)
        body_delay = delay.seconds if delay is not None and delay.phase == "body" else 0.0
        if failure is not None:
            headers = {"Content-Type": "text/plain; charset=utf-8"}
            if failure.retry_after is not None:
                headers["Retry-After"] = failure.retry_after
            body = failure.body or f"{failure.status} {_reason(failure.status)}\n".encode()
            return Response(failure.status, headers, body, body_delay)
        if redirect is not None:
            location, status = redirect
            return Response(status, {"Location": location}, b"", body_delay)
        return replace(super()._respond(request), body_delay=body_delay)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class JsonStandIn(ServiceStandIn):
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

    def _respond(self, request: RecordedRequest) -> Response:
        if self._down_state()[0]:
            return Response.json(503, {"error": "stand-in is down"})
        if request.method != "POST":
            return Response.json(405, {"error": "method not allowed"})
        try:
            payload = request.json()
        except (UnicodeDecodeError, ValueError):
            return Response.json(400, {"error": "not JSON"})
        self._log.append({**payload, "path": request.path} if isinstance(payload, dict) else {})
        return Response.json(200, {"ok": True})


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


class TelegramStandIn(ServiceStandIn):
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

    def _respond(self, request: RecordedRequest) -> Response:
        route = re.fullmatch(r"/bot(?P<token>[^/]+)/(?P<method>\w+)", request.path)
        if route is None:
            return _telegram_error(404, "Not Found")
        down, down_status = self._down_state()
        if down:
            if down_status is None:
                return Response(0, drop=True)
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


def _telegram_ok(result: object) -> Response:
    return Response.json(200, {"ok": True, "result": result})


def _telegram_error(status: int, description: str) -> Response:
    return Response.json(status, {"ok": False, "error_code": status, "description": description})


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


class SmtpStandIn(Closing):
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

        self._log = MessageLog()
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


T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T], timeout: float = 15.0) -> T:
    """Poll `probe` until it returns something truthy; fail the test after `timeout`."""
    end = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
