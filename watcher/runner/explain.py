"""Reading the target of `watcher explain`: a URL or a file, as page, feed or text."""

from __future__ import annotations

from pathlib import Path

from watcher.fetch.client import Fetcher
from watcher.models import Config, FetchResult, Source
from watcher.sources import SourceError, parse_items
from watcher.text.normalise import html_to_text


def _looks_like_url(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def texts_from_body(body: bytes, content_type: str | None, label: str) -> list[tuple[str, str]]:
    """(label, plain text) for each item in a body: every entry of a feed, else the
    page or text itself."""
    head = body[:1024].lstrip().lower()
    if head.startswith(b"<?xml") or b"<rss" in head or b"<feed" in head:
        source = Source(name="explain", url=label)
        try:
            items = parse_items(
                source, FetchResult(label, 200, body=body, content_type=content_type)
            )
        except SourceError:
            items = []
        if items:
            return [(item.title or f"item {i + 1}", item.text) for i, item in enumerate(items)]
    text = body.decode("utf-8", errors="replace")
    is_html = (content_type and "html" in content_type) or "<html" in text[:2048].lower()
    if is_html or label.endswith((".html", ".htm")):
        text = html_to_text(text)
    return [(label, text)]


async def explain_target(config: Config, target: str) -> list[tuple[str, str]]:
    """Fetch (URL) or read (file) the target; raises OSError or ValueError with a reason."""
    if _looks_like_url(target):
        s = config.settings
        fetcher = Fetcher(
            user_agent=s.user_agent, timeout=s.timeout, max_size=s.max_size, proxy=s.proxy
        )
        try:
            result = await fetcher.fetch(target)
        finally:
            await fetcher.aclose()
        if result.error or result.body is None:
            raise ValueError(f"cannot fetch {target}: {result.error or 'no body'}")
        return texts_from_body(result.body, result.content_type, target)
    path = Path(target)
    return texts_from_body(path.read_bytes(), None, str(path))
