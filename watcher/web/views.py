"""The staff pages (SPEC §12): alerts, one alert with its evidence, sources, outbox, search.

Each handler reads the state through `StateReader` and renders a template; nothing
here writes. Filters come from the query string, so every view is a link staff can
share and the feeds and downloads take the same parameters.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from watcher.logs import redact, secrets_of
from watcher.matching import Matcher
from watcher.models import Config, Severity
from watcher.pipeline.poll import utcnow
from watcher.store.evidence import Evidence
from watcher.store.reads import PAGE_SIZE, AlertFilter
from watcher.web.app import WebState, render
from watcher.web.filters import public_url
from watcher.web.search import QueryError, parse_query, search

#: Characters of kept evidence text shown on an alert's page.
EVIDENCE_SHOWN = 200_000
#: Search hits on the page (the shell's `watcher search` counts them all).
PAGE_HITS = 100
_FILTER_KEYS = ("watchlist", "severity", "source", "since", "until", "kind")


def _web(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


def _day(text: str, zone: ZoneInfo) -> datetime | None:
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d")
    except ValueError:
        return None
    return day.replace(tzinfo=zone)


def alert_filter(request: Request, config: Config) -> tuple[AlertFilter, list[str]]:
    """The filter of a request's query string, and what in it could not be read."""
    q = request.query_params
    zone = ZoneInfo(config.settings.timezone)
    problems: list[str] = []
    severity = None
    if q.get("severity"):
        try:
            severity = Severity.parse(q["severity"])
        except KeyError:
            problems.append(f"unknown severity {q['severity']!r}")
    since = until = None
    if q.get("since"):
        since = _day(q["since"], zone)
        if since is None:
            problems.append(f"since: not a date {q['since']!r} (YYYY-MM-DD)")
    if q.get("until"):
        day = _day(q["until"], zone)
        if day is None:
            problems.append(f"until: not a date {q['until']!r} (YYYY-MM-DD)")
        else:
            until = day + timedelta(days=1)  # the whole of that day
    kind = q.get("kind") or None
    if kind not in (None, "certain", "possible"):
        problems.append(f"kind: certain or possible, not {kind!r}")
        kind = None
    flt = AlertFilter(
        watchlist=q.get("watchlist") or None,
        severity=severity,
        source=q.get("source") or None,
        since=since,
        until=until,
        kind=kind,
    )
    return flt, problems


def _query_of(request: Request, **changes: Any) -> str:
    params = {k: request.query_params.get(k, "") for k in _FILTER_KEYS}
    params.update({k: str(v) for k, v in changes.items()})
    return urlencode({k: v for k, v in params.items() if v})


def _secrets(config: Config) -> set[str]:
    return {s for c in config.channels for s in secrets_of(c)}


async def alerts(request: Request) -> Response:
    """Recent alerts, newest first, filtered by the query string."""
    web = _web(request)
    config = web.config()
    flt, problems = alert_filter(request, config)
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    reader = web.reader()
    rows, total = reader.alerts_page(flt, offset=(page - 1) * PAGE_SIZE)
    watchlists, sources = _choices(web, config)
    return render(
        request,
        "alerts.html",
        title="Alerts",
        alerts=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        problems=problems,
        params={k: request.query_params.get(k, "") for k in _FILTER_KEYS},
        watchlists=watchlists,
        sources=sources,
        severities=[s.label for s in Severity],
        zone=config.settings.timezone,
        query=_query_of(request),
        prev_query=_query_of(request, page=page - 1) if page > 1 else None,
        next_query=_query_of(request, page=page + 1) if page * PAGE_SIZE < total else None,
    )


def _choices(web: WebState, config: Config) -> tuple[list[str], list[str]]:
    """The watchlists and sources the filters offer: configured ones and those of recorded
    alerts (renamed or removed ones too), read again only when a new alert arrives."""
    reader = web.reader()
    last = reader.last_alert_id()
    cached = web.cache.get("choices")
    if cached is None or cached[0][0] is not config or cached[0][1] != last:
        watchlists = sorted({w.name for w in config.watchlists} | set(reader.alert_watchlists()))
        sources = sorted({s.name for s in config.sources} | set(reader.alert_sources()))
        cached = ((config, last), (watchlists, sources))
        web.cache["choices"] = cached
    choices: tuple[list[str], list[str]] = cached[1]
    return choices


def _matcher(web: WebState, config: Config) -> Matcher:
    """The configured watchlists, compiled once per config (a reload makes a new one)."""
    cached = web.cache.get("matcher")
    if cached is None or cached[0] is not config:
        # `explain` reads an alert as every watchlist would from its own source.
        cached = (config, Matcher(config.watchlists))
        web.cache["matcher"] = cached
    matcher: Matcher = cached[1]
    return matcher


def _kept_text(state_dir: Path, kept: Evidence | None) -> str | None:
    if kept is None:
        return None
    try:
        path = (state_dir / kept.text_path).resolve()
        if state_dir.resolve() not in path.parents:
            return None
        return path.read_text("utf-8", errors="replace")
    except OSError:
        return None


async def alert(request: Request) -> Response:
    """One alert: its matches, its evidence (kept text, SHA-256, fetch time), `explain`."""
    web = _web(request)
    config = web.config()
    reader = web.reader()
    alert_id = int(request.path_params["alert_id"])
    stored = reader.get_alert(alert_id)
    if stored is None:
        return render(request, "missing.html", status=404, title="No such alert", what="alert")
    kept = reader.evidence_for(alert_id)
    text = _kept_text(web.state_dir, kept)
    item = reader.alert_item(alert_id)
    source = item[0] if item else stored.alert.source
    explained = None
    matched = text if text is not None else (item[1] if item else None)
    if matched is not None:
        explained = _matcher(web, config).explain(matched, source)
    return render(
        request,
        "alert.html",
        title=stored.alert.title,
        stored=stored,
        alert=stored.alert,
        evidence=kept,
        # A feed's URL from the config may carry a token in its query: shown without it.
        evidence_url=(
            public_url(kept.url)
            if kept is not None and any(kept.url == s.url for s in config.sources)
            else (kept.url if kept is not None else "")
        ),
        evidence_text=text[:EVIDENCE_SHOWN] if text else None,
        evidence_cut=bool(text and len(text) > EVIDENCE_SHOWN),
        explained=explained,
        zone=config.settings.timezone,
    )


async def document(request: Request) -> Response:
    """The kept document itself (page, PDF or feed), as a download: never rendered here,
    since it is hostile HTML from elsewhere."""
    web = _web(request)
    kept = web.reader().evidence_for(int(request.path_params["alert_id"]))
    if kept is None:
        return Response("no evidence kept for this alert\n", 404, media_type="text/plain")
    root = web.state_dir.resolve()
    path = (root / kept.path).resolve()
    if root not in path.parents or not path.is_file():
        return Response("the evidence file is missing\n", 404, media_type="text/plain")
    return Response(
        path.read_bytes(),
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{path.name}"',
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )


async def sources(request: Request) -> Response:
    """Each source and its health: what `watcher status` shows, as a table."""
    from watcher.runner.service import daemon_running, describe_daemon

    web = _web(request)
    config = web.config()
    reader = web.reader()
    zone = ZoneInfo(config.settings.timezone)
    states = reader.all_source_states()
    secrets = _secrets(config)
    now = utcnow()
    running = daemon_running(config.settings.state_dir)
    rows = []
    for source in config.sources:
        st = states.get(source.name)
        warning = reader.source_warning(source.name)
        rows.append(
            {
                "source": source,
                "state": st,
                "error": redact(st.last_error, secrets) if st and st.last_error else None,
                "waiting": st.retry_after
                if st and st.retry_after and st.retry_after > now
                else None,
                "warning": (redact(warning[0], secrets), warning[1]) if warning else None,
                "next_poll": st.next_poll if st and running is not False else None,
            }
        )
    return render(
        request,
        "sources.html",
        title="Sources",
        rows=rows,
        daemon=describe_daemon(running, reader.daemon_state(), now, zone),
        zone=config.settings.timezone,
    )


async def outbox(request: Request) -> Response:
    """The outbox: what is pending, what failed, and why."""
    web = _web(request)
    config = web.config()
    reader = web.reader()
    secrets = _secrets(config)
    counts = reader.outbox_counts()
    rows = [
        dataclasses.replace(r, last_error=redact(r.last_error, secrets) if r.last_error else None)
        for r in reader.outbox_rows()
    ]
    return render(
        request,
        "outbox.html",
        title="Outbox",
        rows=rows,
        pending=counts.get("pending", 0) + counts.get("sending", 0),
        failed=counts.get("failed", 0),
        sent=counts.get("sent", 0),
        known_channels={c.name for c in config.channels},
        zone=config.settings.timezone,
    )


async def search_page(request: Request) -> Response:
    """Search and retro-match over retained items, with the watchlist syntax."""
    web = _web(request)
    config = web.config()
    text = request.query_params.get("q", "").strip()
    result = error = None
    if text:
        try:
            query = parse_query(text, config)
        except QueryError as exc:
            error = str(exc)
        else:
            if web.warmer is not None:
                await web.warmer.wait()
            # The first PAGE_HITS hits, newest first; counting every one is on request.
            count_all = request.query_params.get("all") == "1"
            result = search(web.reader(), query, web.index(), limit=PAGE_HITS, count_all=count_all)
    return render(
        request,
        "search.html",
        title="Search",
        q=text,
        result=result,
        error=error,
        watchlists=[w.name for w in config.watchlists],
        retention_days=round(config.settings.retention / 86400),
        zone=config.settings.timezone,
    )
