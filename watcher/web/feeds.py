"""Alerts as an Atom feed (RFC 4287) and as CSV/JSON downloads of the filtered view.

The feed takes the alerts page's filters (`/feed.atom?watchlist=NAME` is one
watchlist's feed) and holds the newest PAGE_SIZE alerts; the downloads hold every
alert the filter passes, in the rows of `watcher export`. The Atom document is built
with ElementTree, which escapes every string, and carries text only (no HTML content
a feed reader might render).
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from watcher.runner.export import EXPORT_FIELDS, export_row
from watcher.store.reads import PAGE_SIZE
from watcher.web.app import WebState
from watcher.web.filters import http_link
from watcher.web.views import alert_filter

ATOM = "http://www.w3.org/2005/Atom"
#: Most alerts a download holds.
DOWNLOAD_MAX = 100_000


def _web(request: Request) -> WebState:
    web: WebState = request.app.state.web
    return web


def _bad(problems: list[str]) -> Response:
    return Response("\n".join(problems) + "\n", status_code=400, media_type="text/plain")


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def atom(request: Request) -> Response:
    """The newest alerts that pass the filter, as Atom."""
    web = _web(request)
    config = web.config()
    flt, problems = alert_filter(request, config)
    if problems:
        return _bad(problems)
    rows, _total = web.reader().alerts_page(flt, limit=PAGE_SIZE, count=False)
    base = str(request.base_url).rstrip("/")
    self_url = str(request.url)
    ET.register_namespace("", ATOM)
    root = ET.Element(f"{{{ATOM}}}feed")
    title = f"watcher: {flt.watchlist}" if flt.watchlist else "watcher: all alerts"
    ET.SubElement(root, f"{{{ATOM}}}title").text = title
    ET.SubElement(root, f"{{{ATOM}}}id").text = self_url
    ET.SubElement(root, f"{{{ATOM}}}link", rel="self", href=self_url)
    ET.SubElement(root, f"{{{ATOM}}}link", rel="alternate", href=f"{base}/")
    updated = rows[0].created if rows else datetime.fromtimestamp(0, UTC)
    ET.SubElement(root, f"{{{ATOM}}}updated").text = _stamp(updated)
    author = ET.SubElement(root, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "watcher"
    for stored in rows:
        alert = stored.alert
        entry = ET.SubElement(root, f"{{{ATOM}}}entry")
        # The alert's page is its identity here: one alert, one entry, for good.
        page = f"{base}/alerts/{stored.id}"
        kind = " (possible)" if alert.possible else ""
        watchlists = ", ".join(m.watchlist for m in alert.matches)
        ET.SubElement(
            entry, f"{{{ATOM}}}title"
        ).text = f"[{alert.severity.label.upper()}{kind}] {watchlists}: {alert.title}"
        ET.SubElement(entry, f"{{{ATOM}}}id").text = page
        ET.SubElement(entry, f"{{{ATOM}}}updated").text = _stamp(stored.created)
        if alert.published is not None:
            ET.SubElement(entry, f"{{{ATOM}}}published").text = _stamp(alert.published)
        link = http_link(alert.link)
        if link is not None:
            ET.SubElement(entry, f"{{{ATOM}}}link", rel="alternate", href=link)
        ET.SubElement(entry, f"{{{ATOM}}}link", rel="related", href=page)
        for name in dict.fromkeys(m.watchlist for m in alert.matches):
            ET.SubElement(entry, f"{{{ATOM}}}category", term=name)
        terms = sorted({t for m in alert.matches for t in (*m.terms, *m.people)})
        snippet = next((m.snippet for m in alert.matches if m.snippet), "")
        lines = [
            f"Source: {alert.source}",
            *(
                [f"Also reported by: {', '.join(alert.also_reported_by)}"]
                if alert.also_reported_by
                else []
            ),
            f"Matched: {', '.join(terms)}",
            snippet,
        ]
        ET.SubElement(entry, f"{{{ATOM}}}summary", type="text").text = "\n".join(lines)
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type="application/atom+xml; charset=utf-8")


def _rows(request: Request) -> tuple[list[dict[str, object]], list[str]]:
    web = _web(request)
    config = web.config()
    flt, problems = alert_filter(request, config)
    if problems:
        return [], problems
    reader = web.reader()
    alerts, _ = reader.alerts_page(flt, limit=DOWNLOAD_MAX, count=False)
    # The same rows as `watcher export` (oldest first there; newest first here, as on the page).
    return [export_row(s, config, reader.evidence_for(s.id)) for s in alerts], []


def _stem(request: Request) -> str:
    name = request.query_params.get("watchlist") or "alerts"
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "-" for c in name)
    return safe.strip("-") or "alerts"


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: feed text that starts like a formula
    ("=HYPERLINK(…)", "+", "-", "@") gets a leading apostrophe (OWASP, CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


async def csv_download(request: Request) -> Response:
    """The filtered alerts as CSV (the columns of `watcher export`)."""
    rows, problems = _rows(request)
    if problems:
        return _bad(problems)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: _cell("; ".join(v) if isinstance(v, list) else v) for k, v in row.items()}
        )
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_stem(request)}.csv"'},
    )


async def json_download(request: Request) -> Response:
    """The filtered alerts as JSON (the objects of `watcher export --format json`)."""
    rows, problems = _rows(request)
    if problems:
        return _bad(problems)
    return Response(
        json.dumps(rows, ensure_ascii=False, indent=2).encode("utf-8"),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{_stem(request)}.json"'},
    )
