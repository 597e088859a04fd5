"""How a message is laid out and fitted to its channel (SPEC §7): a tiny document model
(blocks of lines of text and link parts), each channel's format and size limit, and the
fitting and splitting of blocks into messages between alerts, lines, words or Khmer
clusters, never inside a tag or a link. Pure; watcher.delivery.messages builds the
blocks from alerts.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from watcher.text.cut import ELLIPSIS, break_positions, cluster_boundaries, last_fitting, shorten

SIGNAL = "signal"
TELEGRAM = "telegram"
EMAIL = "email"
GENERIC = "generic"

SIGNAL_MAX_BYTES = 2000
TELEGRAM_MAX_CHARS = 4096
EMAIL_SUBJECT_MAX_CHARS = 150

# Apprise's Signal plugin prefixes the message with "[i] " (an ASCII status marker)
# when the URL says ?status=yes; keep room for it so the wire text still fits.
_SIGNAL_STATUS_RESERVE = len("[?] ")

# apprise.NotifyFormat.TEXT / .HTML values; kept as strings so this pure module does
# not import Apprise.
TEXT_FORMAT = "text"
HTML_FORMAT = "html"


def is_web_link(url: str) -> bool:
    """Only http(s) URLs with a host may become links (no javascript:, data:, …)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


# --- a tiny document model: blocks of lines of parts -------------------------------


@dataclass(frozen=True)
class Text:
    """A run of text. `shrink` > 0 marks it shortenable; lower ranks shrink first."""

    text: str
    style: str = ""  # "" | "b" | "i"
    shrink: int = 0


@dataclass(frozen=True)
class Link:
    """A URL: a link when http(s), else plain text. Never shortened or split."""

    url: str


Part = Text | Link
Line = tuple[Part, ...]
Block = tuple[Line, ...]  # one alert or notice

# Shrink ranks (Signal): the snippet goes first, then the title (SPEC §7), then the
# long lists, so that severity, watchlist, source, time and link survive.
SHRINK_SNIPPET = 1
SHRINK_TITLE = 2
SHRINK_ALSO = 3
SHRINK_PEOPLE = 4
SHRINK_TERMS = 5
SHRINK_WATCHLISTS = 6


@dataclass(frozen=True)
class Format:
    """How one channel renders parts, joins lines and blocks, and measures size."""

    body_format: str
    text: Callable[[str, str], str]
    link: Callable[[str], str]
    line_sep: str
    block_sep: str
    cost: Callable[[str], int]
    budget: int | None  # None: no limit, never split

    def line(self, line: Line) -> str:
        return "".join(self.part(p) for p in line)

    def part(self, part: Part) -> str:
        return self.link(part.url) if isinstance(part, Link) else self.text(part.text, part.style)

    def block(self, block: Block) -> str:
        return self.line_sep.join(self.line(line) for line in block)


def _plain_text(text: str, style: str) -> str:
    return text


def _plain_link(url: str) -> str:
    return url


def _html_text(text: str, style: str) -> str:
    # quote=False: quotes need no escaping in element content, and Apprise's Telegram
    # reducer would unescape &quot; anyway; this keeps measured and sent text equal.
    escaped = html.escape(text, quote=False)
    return f"<{style}>{escaped}</{style}>" if style and escaped else escaped


def _html_link(url: str) -> str:
    if not is_web_link(url):
        return html.escape(url, quote=False)
    # The visible text is the URL itself: Apprise's email plain-text part keeps a
    # link's text and drops its href, and staff should see the domain they open.
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(url, quote=False)}</a>'


def _signal_cost(text: str) -> int:
    return len(text.encode("utf-8"))


def _telegram_cost(text: str) -> int:
    # Apprise's TelegramHTMLReducer sends every "\n" as "\r\n"; Telegram counts
    # characters in UTF-16 code units, so astral characters (emoji) count twice.
    return len(text) + text.count("\n") + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _unlimited_cost(text: str) -> int:
    return 0


_FORMATS: dict[str, Format] = {
    SIGNAL: Format(
        TEXT_FORMAT,
        _plain_text,
        _plain_link,
        "\n",
        "\n\n",
        _signal_cost,
        SIGNAL_MAX_BYTES - _SIGNAL_STATUS_RESERVE,
    ),
    TELEGRAM: Format(
        HTML_FORMAT, _html_text, _html_link, "\n", "\n\n", _telegram_cost, TELEGRAM_MAX_CHARS
    ),
    # No newlines in the HTML: Apprise's HTML-to-text conversion (the email's plain
    # part) turns each source newline into a space at the start or end of a line.
    # The body is base64-encoded (utf-8 MIMEText), so one long line is no SMTP problem.
    EMAIL: Format(HTML_FORMAT, _html_text, _html_link, "<br>", "<hr>", _unlimited_cost, None),
    GENERIC: Format(TEXT_FORMAT, _plain_text, _plain_link, "\n", "\n\n", _unlimited_cost, None),
}


def format_for(kind: str) -> Format:
    return _FORMATS.get(kind, _FORMATS[GENERIC])


# --- fitting and splitting ---------------------------------------------------------


def _fits(fmt: Format, budget: int | None) -> Callable[[str], bool]:
    return lambda rendered: budget is None or fmt.cost(rendered) <= budget


def _with_text(block: Block, li: int, pi: int, text: str) -> Block:
    """`block` with the text of part `pi` of line `li` replaced."""
    part = block[li][pi]
    assert isinstance(part, Text)
    line = (*block[li][:pi], replace(part, text=text), *block[li][pi + 1 :])
    return (*block[:li], line, *block[li + 1 :])


def fit_block(block: Block, fmt: Format, budget: int | None) -> Block:
    """Shorten the block's shrinkable texts, lowest rank first, until it fits."""
    fits = _fits(fmt, budget)
    shrinkable = sorted(
        (part.shrink, li, pi)
        for li, line in enumerate(block)
        for pi, part in enumerate(line)
        if isinstance(part, Text) and part.shrink
    )
    for _, li, pi in shrinkable:
        if fits(fmt.block(block)):
            break
        part = block[li][pi]
        assert isinstance(part, Text)

        def fits_with(text: str, base: Block = block, li: int = li, pi: int = pi) -> bool:
            return fits(fmt.block(_with_text(base, li, pi, text)))

        block = _with_text(block, li, pi, shorten(part.text, fits_with) or ELLIPSIS)
    return block


@dataclass(frozen=True)
class _Unit:
    """A rendered piece of a message and the glue that goes before it. With `part`,
    the piece is a text run that `pack` may split to fill the end of a message."""

    text: str
    glue: str
    part: Text | None = None


def _longest_head(text: str, style: str, fmt: Format, fits: Callable[[str], bool]) -> int:
    """Where to cut `text` so its rendered start fits: at a word or cluster boundary,
    else (a single "word" longer than a message) at any cluster boundary."""
    cut = last_fitting(break_positions(text), lambda i: fits(fmt.text(text[:i].rstrip(), style)))
    if cut is None:
        clusters = cluster_boundaries(text)
        cut = last_fitting(clusters, lambda i: fits(fmt.text(text[:i], style)))
    # A single cluster larger than a message cannot occur at these limits; if it did,
    # sending it whole beats looping forever.
    return len(text) if cut is None else cut


def _units(block: Block, fmt: Format, budget: int) -> list[_Unit]:
    """A block as one unit if it fits a message, else as lines, else as text pieces."""
    fits = _fits(fmt, budget)
    whole = fmt.block(block)
    if fits(whole):
        return [_Unit(whole, fmt.block_sep)]
    units: list[_Unit] = []
    for li, line in enumerate(block):
        glue = fmt.block_sep if li == 0 else fmt.line_sep
        rendered = fmt.line(line)
        if fits(rendered):
            units.append(_Unit(rendered, glue))
            continue
        for pi, part in enumerate(line):
            part_glue = glue if pi == 0 else ""
            if isinstance(part, Link):
                # A link is never split; one longer than a message goes alone, over size.
                units.append(_Unit(fmt.part(part), part_glue))
                continue
            units.append(_Unit(fmt.part(part), part_glue, part))
    return units


def _fill(
    current: str, unit: _Unit, fmt: Format, fits: Callable[[str], bool], messages: list[str]
) -> str:
    """Add a splittable text run to `current`, filling each message before starting the
    next (so a long title does not leave its heading alone in a message). Full messages
    go to `messages`; returns the unfinished last one.

    Cuts go at word or Khmer-cluster boundaries; only a single "word" longer than a
    whole message is cut elsewhere, and even then never inside a Khmer cluster.
    """
    assert unit.part is not None
    text, style, glue = unit.part.text, unit.part.style, unit.glue
    while text:
        prefix = current + glue if current else ""
        if fits(prefix + fmt.text(text, style)):
            return prefix + fmt.text(text, style)

        def fits_here(i: int, prefix: str = prefix, text: str = text) -> bool:
            return fits(prefix + fmt.text(text[:i].rstrip(), style))

        cut = last_fitting(break_positions(text), fits_here)
        if cut is None and current:
            messages.append(current)  # not even one word fits here: start a new message
            current, glue = "", ""
            continue
        if cut is None:
            cut = _longest_head(text, style, fmt, fits)
        messages.append(prefix + fmt.text(text[:cut].rstrip(), style))
        current, glue = "", ""
        text = text[cut:].lstrip()
    return current


# Room kept at the top of every split message for its "(k/n)" header line.
_HEADER_RESERVE_PARTS = 999


def content_budget(fmt: Format, header: Callable[[int, int], str]) -> int | None:
    """What a message may hold once room is kept for its longest possible header."""
    if fmt.budget is None:
        return None
    widest = header(_HEADER_RESERVE_PARTS, _HEADER_RESERVE_PARTS)
    return fmt.budget - fmt.cost(widest + fmt.block_sep)


def pack(blocks: Sequence[Block], fmt: Format, header: Callable[[int, int], str]) -> list[str]:
    """Render blocks as few messages as the format's budget allows.

    Blocks stay whole when they fit, are otherwise split by line, then by word or
    cluster. `header(k, n)` is the first line of message k of n ("" for none).
    """
    if fmt.budget is None:
        first = header(1, 1)
        body = fmt.block_sep.join(fmt.block(b) for b in blocks)
        return [f"{first}{fmt.block_sep}{body}" if first else body]
    budget = content_budget(fmt, header)
    assert budget is not None
    fits = _fits(fmt, budget)
    messages: list[str] = []
    current = ""
    for block in blocks:
        for unit in _units(block, fmt, budget):
            joined = current + unit.glue + unit.text if current else unit.text
            if fits(joined):
                current = joined
            elif unit.part is not None:
                current = _fill(current, unit, fmt, fits, messages)
            elif not current:
                current = joined  # an unbreakable piece (a link) longer than a message
            else:
                messages.append(current)
                current = unit.text
    if current or not messages:
        messages.append(current)
    total = len(messages)
    out = []
    for k, message in enumerate(messages, start=1):
        top = header(k, total)
        out.append(f"{top}{fmt.block_sep}{message}" if top else message)
    return out


def part_header(fmt: Format) -> Callable[[int, int], str]:
    """ "(k/n)" on messages of a split alert or notice; nothing when it is one message."""
    return lambda k, n: fmt.text(f"({k}/{n})", "i") if n > 1 else ""
