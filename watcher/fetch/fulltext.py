"""The main text of an item's own page, for sources with `fulltext = true` (SPEC §5).

A feed often carries only a headline and a teaser; the restriction is named in
the article body, or in the PDF of the sub-decree a ministry page links to. For
each new item the pipeline fetches its link (through `Fetcher.fetch_untrusted`,
which refuses private addresses) and reads:

- HTML with trafilatura (boilerplate removed), falling back to all the page's
  text when trafilatura finds no article (short notices, list pages);
- PDF (by Content-Type or the `%PDF-` signature: gazettes serve PDFs as
  application/octet-stream) with pypdf, at most MAX_PDF_PAGES pages. Text drawn
  in a legacy Limon font is ASCII gibberish; it is decoded to Unicode Khmer
  (`watcher.text.limon`) and added to the text, so that a sub-decree typeset in
  Limon S1 is still caught.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from watcher.fetch.client import Fetcher
from watcher.models import Item, Source
from watcher.text.limon import limon_decode
from watcher.text.normalise import html_to_text

log = logging.getLogger("watcher.fulltext")

MAX_PDF_PAGES = 60
ACCEPT = "text/html,application/xhtml+xml,application/pdf;q=0.9,*/*;q=0.5"


@dataclass(frozen=True)
class Page:
    """A fetched item page and the text read from it."""

    url: str
    final_url: str
    fetched_at: datetime | None
    content_type: str
    body: bytes
    kind: str  # html | pdf | text
    text: str
    legacy_font: bool = False  # text includes Khmer decoded from a Limon font

    @property
    def suffix(self) -> str:
        """File name suffix for the evidence archive."""
        return {"html": ".html", "pdf": ".pdf"}.get(self.kind, ".txt")


def is_pdf(content_type: str | None, body: bytes) -> bool:
    """Whether a response is a PDF: by its type, or by its signature."""
    if content_type and "pdf" in content_type.lower():
        return True
    return body[:1024].lstrip().startswith(b"%PDF-")


def read_page(
    url: str,
    final_url: str | None,
    body: bytes,
    content_type: str | None,
    fetched_at: datetime | None,
) -> Page:
    """Extract the text of a fetched page (CPU work: run it off the event loop)."""
    ctype = (content_type or "").split(";")[0].strip().lower()
    legacy = False
    if is_pdf(ctype, body):
        kind = "pdf"
        text, legacy = pdf_text(body)
    elif "html" in ctype or "xml" in ctype or b"<html" in body[:2048].lower():
        kind = "html"
        text = html_main_text(body, final_url or url)
    else:
        kind = "text"
        text = body.decode("utf-8", errors="replace")
    return Page(url, final_url or url, fetched_at, ctype, body, kind, text, legacy)


def html_main_text(body: bytes, url: str) -> str:
    """The article text of an HTML page (trafilatura), else all of its text."""
    import trafilatura  # imported here: it takes a while, and only fulltext needs it

    try:
        text = trafilatura.extract(
            body,
            url=url,
            include_comments=False,
            include_tables=True,
            favor_recall=True,
            deduplicate=False,
        )
    except Exception:  # trafilatura on hostile markup: fall back, keep the item
        log.warning("event=fulltext-extract-failed url=%r", url, exc_info=True)
        text = None
    if text and text.strip():
        return text.strip()
    return html_to_text(body.decode("utf-8", errors="replace"))


def _is_limon(font: Any) -> bool:
    try:
        name = str(font.get("/BaseFont", "")) if font is not None else ""
    except Exception:
        return False
    return "limon" in name.lower()


def pdf_text(body: bytes) -> tuple[str, bool]:
    """Text of a PDF and whether some of it was in a Limon font (then decoded too).

    Runs of text in a font whose name contains "Limon" are collected apart and
    decoded from the Limon layout; the decoded Khmer is appended to the plain
    extraction, which still holds any English text on the same pages.
    """
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body), strict=False)
        pages = list(reader.pages)[:MAX_PDF_PAGES]
    except (PdfReadError, ValueError, TypeError, KeyError, OSError) as exc:
        log.warning("event=pdf-unreadable error=%r", str(exc))
        return "", False
    plain: list[str] = []
    legacy: list[str] = []

    def visit(text: str, _cm: Any, _tm: Any, font: Any, _size: Any) -> None:
        if text and _is_limon(font):
            legacy.append(text)

    for page in pages:
        try:
            plain.append(page.extract_text(visitor_text=visit) or "")
        except Exception:  # one broken page must not lose the others
            log.warning("event=pdf-page-unreadable", exc_info=True)
    text = "\n\n".join(p for p in plain if p.strip())
    if legacy:
        decoded = limon_decode("".join(legacy))
        return f"{text}\n\n{decoded}".strip(), True
    return text, False


FULLTEXT_PER_POLL = 30


async def fetch_pages(
    fetcher: Fetcher, source: Source, items: Mapping[str, Item]
) -> tuple[dict[str, Page], list[str]]:
    """Fetch and read the pages of `items` (key → item); returns pages and problems.

    At most FULLTEXT_PER_POLL pages, newest items first: a sitemap's first poll
    can list thousands of links, and the pipeline only asks for items that may
    still alert. A page that cannot be fetched is a problem for the log and
    `status` (the item is still matched on its feed text), never a failed poll.
    """
    epoch = datetime.min.replace(tzinfo=UTC)
    chosen = sorted(
        ((k, i) for k, i in items.items() if i.link),
        key=lambda pair: pair[1].when or epoch,
        reverse=True,
    )[:FULLTEXT_PER_POLL]

    async def one(key: str, item: Item) -> tuple[str, Page | None, str | None]:
        assert item.link is not None
        result = await fetcher.fetch_untrusted(
            item.link, proxy=source.proxy, allow_private=source.allow_private, accept=ACCEPT
        )
        if result.error is not None or result.body is None:
            return key, None, f"fulltext {item.link}: {result.error or 'no body'}"
        page = await asyncio.to_thread(
            read_page,
            item.link,
            result.final_url,
            result.body,
            result.content_type,
            result.fetched_at,
        )
        return key, page, None

    pages: dict[str, Page] = {}
    problems: list[str] = []
    for key, page, problem in await asyncio.gather(*(one(k, i) for k, i in chosen)):
        if page is not None:
            pages[key] = page
        if problem is not None:
            problems.append(problem)
    skipped = len([1 for i in items.values() if i.link]) - len(chosen)
    if skipped > 0:
        problems.append(f"fulltext: {skipped} more new items were matched on their feed text only")
    return pages, problems
