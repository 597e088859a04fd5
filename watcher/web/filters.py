"""Jinja2 filters of the staff pages: times in the configured zone, and safe links."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment


def http_link(url: str | None) -> str | None:
    """`url` if it is an http(s) link, else None: a `javascript:` or `data:` link from
    a feed is shown as text, never as a link (SPEC §7, §12)."""
    if not url:
        return None
    stripped = url.strip()
    try:
        parts = urlsplit(stripped)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(c.isspace() or ord(c) < 32 for c in stripped):
        return None
    return stripped


def public_url(url: str | None) -> str:
    """A source URL without its user info, query or fragment: a token a source URL may
    carry (an API key in the query) is never shown on a page."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def when(value: datetime | None, zone: str, with_seconds: bool = False) -> str:
    """A time in the configured zone, as `watcher status` writes it ("never" if None)."""
    if value is None:
        return "never"
    fmt = "%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M"
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


def install(env: Environment) -> None:
    """Add the filters to an environment."""
    env.filters["http_link"] = http_link
    env.filters["public_url"] = public_url
    env.filters["when"] = when
