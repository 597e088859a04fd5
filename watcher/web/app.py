"""The Starlette application of the staff pages (SPEC §12): routes, login, headers.

Everything here only reads the state (watcher.store.reads.StateReader refuses writes);
the one thing a request changes is the server's own memory (a session). Every page and
feed needs a login: pages redirect to /login, feeds and downloads answer 401 with an
HTTP Basic challenge (and take Basic, as pages do too).

Feed text is hostile: every page goes through Jinja2 with autoescape on, and every
answer carries a Content-Security-Policy that allows no script at all and styles only
from this server (no inline style either), so a title that smuggles markup can
neither run nor restyle anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from watcher.models import Config
from watcher.store.reads import StateReader
from watcher.store.search_index import SearchIndex
from watcher.store.sqlite import DB_NAME
from watcher.web import filters
from watcher.web.auth import Sessions, Throttle, basic_credentials, check_password

log = logging.getLogger("watcher.web")

COOKIE = "watcher_session"
STATIC = Path(__file__).parent / "static"

#: No script from anywhere; styles, images and fonts only from this server.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class IndexWarmer:
    """Brings the search index up to date in a background thread when the server
    starts (the first build reads every retained item: about a minute for 100,000),
    so that the first search does not wait for it. A daemon thread, stopped between
    batches: it never holds up a SIGTERM."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="watcher-index", daemon=True)

    def _run(self) -> None:
        try:
            reader = StateReader(self.state_dir / DB_NAME)
            index = SearchIndex.in_dir(self.state_dir)
            try:
                started = time.monotonic()
                added = index.refresh(reader, full=True, stop=self.stop)
                if added:
                    log.info(
                        "event=search-index items=%d seconds=%.1f",
                        added,
                        time.monotonic() - started,
                    )
            finally:
                index.close()
                reader.close()
        except (sqlite3.Error, OSError) as exc:  # a search builds it then, or says why
            log.warning("event=search-index-failed error=%s", exc)

    async def wait(self) -> None:
        """Until the warm-up is done (a search waits for it rather than race it)."""
        while self.thread.is_alive():
            await asyncio.sleep(0.1)


@dataclass
class WebState:
    """What the application keeps between requests (none of it is the state)."""

    config: Callable[[], Config]
    sessions: Sessions = field(default_factory=Sessions)
    throttle: Throttle = field(default_factory=Throttle)
    _reader: StateReader | None = None
    _index: SearchIndex | None = None
    _env: Environment | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    warmer: IndexWarmer | None = None
    # Per client address: the lock its failed logins wait their delay under, in turn.
    failing: dict[str, asyncio.Lock] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return Path(self.config().settings.state_dir)

    def reader(self) -> StateReader:
        """The read-only state connection (opened on first use, in the server's thread)."""
        if self._reader is None:
            self._reader = StateReader(self.state_dir / DB_NAME)
        return self._reader

    def index(self) -> SearchIndex:
        """The search pre-filter beside the state (watcher.store.search_index)."""
        if self._index is None:
            self._index = SearchIndex.in_dir(self.state_dir)
        return self._index

    @property
    def env(self) -> Environment:
        if self._env is None:
            env = Environment(
                loader=PackageLoader("watcher.web", "templates"),
                autoescape=select_autoescape(default=True, default_for_string=True),
                trim_blocks=True,
                lstrip_blocks=True,
            )
            filters.install(env)
            self._env = env
        return self._env

    def close(self) -> None:
        for handle in (self._reader, self._index):
            if handle is not None:
                handle.close()
        self._reader = self._index = None


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def authenticate(request: Request) -> str | None:
    """The logged-in user of a request: its session cookie, else HTTP Basic. A wrong
    Basic password is slowed down as a failed form login is."""
    web: WebState = request.app.state.web
    user = web.sessions.user(request.cookies.get(COOKIE))
    if user is not None:
        return user
    creds = basic_credentials(request.headers.get("authorization"))
    if creds is None:
        return None
    remembered = web.sessions.basic_user(*creds)
    if remembered is not None:
        return remembered
    if await check_login(request, *creds):
        web.sessions.remember_basic(*creds)
        return creds[0]
    return None


async def check_login(request: Request, name: str, password: str) -> bool:
    """Check a name and password, slowing failures down (watcher.web.auth.Throttle)."""
    web: WebState = request.app.state.web
    client = _client(request)
    loop = asyncio.get_running_loop()
    stored = web.reader().user_hash(name)
    # The slow hash runs off the event loop: other pages keep answering meanwhile.
    ok = await asyncio.to_thread(check_password, stored, password)
    if ok:
        web.throttle.succeeded(client)
        return True
    # One failure of an address at a time waits out its delay, so parallel guesses
    # queue up; a correct password (above) never waits behind them.
    lock = web.failing.setdefault(client, asyncio.Lock())
    async with lock:
        await asyncio.sleep(web.throttle.failed(client, loop.time()))
    if not lock.locked() and len(web.failing) > 1000:
        web.failing.pop(client, None)
    return False


Handler = Callable[[Request], Awaitable[Response]]


def page(handler: Handler) -> Handler:
    """A page: logged-in users only, others go to the login form."""

    async def guarded(request: Request) -> Response:
        user = await authenticate(request)
        if user is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        request.state.user = user
        return await handler(request)

    return guarded


def feed(handler: Handler) -> Handler:
    """A feed or download: logged-in users only, others get an HTTP Basic challenge."""

    async def guarded(request: Request) -> Response:
        user = await authenticate(request)
        if user is None:
            return Response(
                "login required\n",
                status_code=401,
                media_type="text/plain",
                headers={"WWW-Authenticate": 'Basic realm="watcher", charset="UTF-8"'},
            )
        request.state.user = user
        return await handler(request)

    return guarded


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page from its template, autoescaped."""
    web: WebState = request.app.state.web
    context.setdefault("user", getattr(request.state, "user", None))
    context.setdefault("path", request.url.path)
    html = web.env.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status)


def _safe_next(target: str | None) -> str:
    # Only a path on this server: "//evil.example" or "https://…" would be an open redirect.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def login_form(request: Request) -> Response:
    return render(request, "login.html", next=_safe_next(request.query_params.get("next")))


async def login_submit(request: Request) -> Response:
    # At most 8 kB of form: a login is a name and a password, and the body is not
    # read further (a huge POST costs nothing but the connection).
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > 8192:
            break
    body = raw[:8192].decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    # "username" is the form's own field; "name" and "user" are what scripts often send.
    name = next((form[k] for k in ("username", "name", "user") if form.get(k)), "").strip()
    password = form.get("password", "")
    target = _safe_next(form.get("next"))
    if not name or not await check_login(request, name, password):
        return render(
            request, "login.html", status=401, next=target, error="Wrong name or password."
        )
    web: WebState = request.app.state.web
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        web.sessions.start(name),
        max_age=int(web.sessions.lifetime),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def logout(request: Request) -> Response:
    web: WebState = request.app.state.web
    web.sessions.end(request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


class SecurityHeaders:
    """ASGI middleware: the CSP and its companions on every answer, static files too."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                for key, value in SECURITY_HEADERS.items():
                    if key.lower().encode() not in present:
                        headers.append((key.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(config: Callable[[], Config], *, throttle: Throttle | None = None) -> Starlette:
    """The staff pages over the state of `config()` (called per request, so that a
    reloaded config is seen). `throttle`: the failed-login delays (tests shorten them)."""
    from watcher.web import feeds, views

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", page(views.alerts), methods=["GET"]),
        Route("/alerts/{alert_id:int}", page(views.alert), methods=["GET"]),
        Route("/alerts/{alert_id:int}/document", feed(views.document), methods=["GET"]),
        Route("/sources", page(views.sources), methods=["GET"]),
        Route("/outbox", page(views.outbox), methods=["GET"]),
        Route("/search", page(views.search_page), methods=["GET"]),
        Route("/feed.atom", feed(feeds.atom), methods=["GET"]),
        Route("/alerts.csv", feed(feeds.csv_download), methods=["GET"]),
        Route("/alerts.json", feed(feeds.json_download), methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    web = WebState(config, throttle=throttle or Throttle())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        web.warmer = IndexWarmer(web.state_dir)
        web.warmer.thread.start()
        try:
            yield
        finally:
            web.warmer.stop.set()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.web = web
    app.add_middleware(SecurityHeaders)
    return app
