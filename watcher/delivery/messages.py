"""Turn alerts into the exact text each delivery channel receives (SPEC §7).

Pure functions: no network, clock or database. The delivery shell passes each
`Rendered` to Apprise as ``notify(body=r.body, title=r.title, body_format=r.body_format)``.

What each channel receives:

- **signal** (``signal://``, ``signals://``): plain text, ``title=""``, body within
  2,000 bytes of UTF-8 (Khmer costs 3 bytes a character). Apprise's Signal plugin has no
  title field and would glue a title onto the body, so everything is in the body. When
  too long, the snippet is shortened first, then the title; the link never is. A digest
  that does not fit is split into several messages, whole alerts where possible.
- **telegram** (``tgram://``): Telegram HTML (only ``b``, ``i`` and ``a href``),
  ``title=""`` for the same reason, at most 4,096 characters a message as Apprise finally
  sends it. A long alert or digest is split into several messages between alerts, lines,
  words or Khmer clusters, never inside a tag or a link; each piece is balanced HTML and
  is numbered ``(k/n)``.
- **email** (``mailto://``, ``mailtos://``): ``body_format="html"``; the title is the
  subject, one line of at most 150 characters, ``[URGENT] watchlist: title`` (severity
  upper-case; the delivery shell makes Apprise fold it into RFC 2047 words). Apprise
  builds the plain-text part by stripping the HTML, which keeps a link's text but drops
  its ``href``; so every link's text is the URL itself and the plain part keeps it.
- **generic** (any other Apprise URL): plain text with no length limit; the title is
  the same one-line summary as the email subject, and the body repeats it so that
  services without a title field lose nothing.

All text that comes from feeds (title, snippet, source, terms, names) is cleaned of
control and bidi-override characters, collapsed to one line, and HTML-escaped before it
enters an HTML template. Only ``http``/``https`` links become ``<a href>``; any other
scheme is shown as escaped text. Text is shortened or split only between words or Khmer
clusters, and a shortening is marked with "…".

What staff read, not what the machine holds: the snippet drops a leading copy of the
title (the matcher reads title and summary as one text); a time of exactly midnight is
a date without a time and is shown as the date alone; a term pattern such as
``ministr*`` is shown as the word it matched (``Ministry``), else as ``ministr…``. Each
``Rendered`` carries Apprise's notify type by severity (urgent "failure", high
"warning", else "info"). ``render_minimal`` is the form sent once more after a service
refused the full message: severity, watchlists, title and link only.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from urllib.parse import urlsplit

from watcher.models import Alert, Severity

__all__ = [
    "EMAIL",
    "EMAIL_SUBJECT_MAX_CHARS",
    "GENERIC",
    "SIGNAL",
    "SIGNAL_MAX_BYTES",
    "TELEGRAM",
    "TELEGRAM_MAX_CHARS",
    "Rendered",
    "channel_kind",
    "email_subject",
    "format_published",
    "format_time",
    "render_alert",
    "render_digest",
    "render_minimal",
    "render_notice",
]

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

ELLIPSIS = "…"
POSSIBLE_MARK = "⚠ POSSIBLE MATCH — review"

# apprise.NotifyFormat.TEXT / .HTML values; kept as strings so this pure module does
# not import Apprise.
_TEXT = "text"
_HTML = "html"

_SCHEME_KINDS = {
    "signal": SIGNAL,
    "signals": SIGNAL,
    "tgram": TELEGRAM,
    "mailto": EMAIL,
    "mailtos": EMAIL,
}


# Apprise's notify types (apprise.NotifyType values), by alert severity: services that
# show a type (the JSON payload's `type`, Signal's `?status=yes` marker) mark an urgent
# alert as one.
INFO = "info"
WARNING = "warning"
FAILURE = "failure"


def notify_type(severity: Severity) -> str:
    """Apprise's notify type for an alert of `severity`: urgent "failure", high
    "warning", else "info"."""
    if severity >= Severity.URGENT:
        return FAILURE
    return WARNING if severity >= Severity.HIGH else INFO


@dataclass(frozen=True)
class Rendered:
    """One message as handed to Apprise: `body_format` is "text" or "html";
    `notify_type` is Apprise's "info", "warning" or "failure"."""

    title: str
    body: str
    body_format: str
    notify_type: str = INFO


def channel_kind(url: str) -> str:
    """The message style an Apprise URL gets: "signal", "telegram", "email" or "generic".

    Only the scheme is read; the rest of the URL (which holds secrets) is not kept.
    """
    scheme, sep, _ = url.strip().partition("://")
    if not sep:
        return GENERIC
    return _SCHEME_KINDS.get(scheme.lower(), GENERIC)


# --- Khmer-aware word and cluster boundaries ---------------------------------------

_COENG = "\u17d2"  # KHMER SIGN COENG: the next consonant is a subscript of this cluster
_JOINERS = "\u200c\u200d"  # ZWNJ/ZWJ bind their neighbours (Khmer uses ZWNJ in clusters)
_ZWSP = "\u200b"  # Khmer writes no spaces between words; ZWSP marks word breaks

# Bidi embeddings/overrides/isolates let a feed title reorder what staff read
# ("Trojan Source"); other C0/C1 controls have no business in a message.
_STRIP_CHARS = dict.fromkeys(
    [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
_SPACE_RUN = re.compile(r"\s+")
# Map whitespace controls to a space before the controls are dropped, so "a\nb"
# becomes "a b", not "ab".
_WHITESPACE_TO_SPACE = {ord(c): " " for c in "\t\n\v\f\r\x1c\x1d\x1e\x1f\x85"}


def _is_khmer(ch: str) -> bool:
    return "\u1780" <= ch <= "\u17ff" or "\u19e0" <= ch <= "\u19ff"


def _is_space(ch: str) -> bool:
    return ch.isspace() or ch == _ZWSP


def _continues_cluster(text: str, i: int) -> bool:
    """Whether `text[i]` belongs to the cluster before it, so no cut may go before it.

    A Khmer cluster is a base with its coeng+subscript pairs, dependent vowels and
    signs; those are combining marks (category M), except the subscript consonant,
    which is a letter that follows a coeng.
    """
    ch, prev = text[i], text[i - 1]
    return unicodedata.category(ch).startswith("M") or ch in _JOINERS or prev in _COENG + _JOINERS


def _is_cluster_boundary(text: str, i: int) -> bool:
    return 0 < i < len(text) and not _continues_cluster(text, i)


def _break_positions(text: str) -> list[int]:
    """Indices where `text` may be cut: next to a space, or between Khmer clusters.

    Latin-script words are never cut; Khmer text (which has no spaces between words)
    may be cut between any two clusters.
    """
    cuts = []
    for i in range(1, len(text)):
        a, b = text[i - 1], text[i]
        at_space = (_is_space(a) or _is_space(b)) and not (_is_space(a) and _is_space(b))
        in_khmer = (_is_khmer(a) or _is_khmer(b)) and not _continues_cluster(text, i)
        if at_space or in_khmer:
            cuts.append(i)
    return cuts


def _last_fitting(candidates: Sequence[int], fits: Callable[[int], bool]) -> int | None:
    """The largest candidate for which `fits` holds, assuming `fits` is monotone."""
    lo, hi, best = 0, len(candidates) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(candidates[mid]):
            best, lo = candidates[mid], mid + 1
        else:
            hi = mid - 1
    return best


def _shorten(text: str, fits: Callable[[str], bool]) -> str:
    """`text`, or its longest start cut at a word or cluster boundary plus "…", that fits.

    Returns "…" alone when no start fits, and "" when not even that does.
    """
    if fits(text):
        return text
    cut = _last_fitting(_break_positions(text), lambda i: fits(text[:i].rstrip() + ELLIPSIS))
    if cut is not None:
        return text[:cut].rstrip() + ELLIPSIS
    return ELLIPSIS if fits(ELLIPSIS) else ""


def _clean(text: str) -> str:
    """Feed text on one line: controls and bidi overrides dropped, spaces collapsed."""
    return _SPACE_RUN.sub(" ", text.translate(_STRIP_CHARS | _WHITESPACE_TO_SPACE)).strip()


def _is_web_link(url: str) -> bool:
    """Only http(s) URLs with a host may become links (no javascript:, data:, …)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _is_date_only(when: datetime, tz: tzinfo) -> datetime | None:
    """The day to show when `when` carries no time of day: exactly midnight in the
    configured zone (a page that says "25 November", read in its own zone) or in UTC
    (a feed date without a time); else None."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    for zone in (tz, UTC):
        local = when.astimezone(zone)
        if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
            return local
    return None


def format_published(when: datetime, tz: tzinfo) -> str:
    """An item's publication time as `format_time` shows it, or only its day
    ("2026-11-25") when the source gave a date without a time: "00:00 +07" would
    claim a time nobody published."""
    day = _is_date_only(when, tz)
    return f"{day:%Y-%m-%d}" if day is not None else format_time(when, tz)


def format_time(when: datetime, tz: tzinfo) -> str:
    """`when` in `tz` as "2026-11-25 14:05 +07" (minutes shown only when non-zero)."""
    if when.tzinfo is None:
        # models.Alert promises aware UTC; a naive value is read as UTC, not local.
        when = when.replace(tzinfo=UTC)
    local = when.astimezone(tz)
    offset = local.utcoffset()
    minutes = int(offset.total_seconds()) // 60 if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    zone = f"{sign}{hours:02d}" + (f":{mins:02d}" if mins else "")
    return f"{local:%Y-%m-%d %H:%M} {zone}"


# --- a tiny document model: blocks of lines of parts -------------------------------


@dataclass(frozen=True)
class _Text:
    """A run of text. `shrink` > 0 marks it shortenable; lower ranks shrink first."""

    text: str
    style: str = ""  # "" | "b" | "i"
    shrink: int = 0


@dataclass(frozen=True)
class _Link:
    """A URL: a link when http(s), else plain text. Never shortened or split."""

    url: str


_Part = _Text | _Link
_Line = tuple[_Part, ...]
_Block = tuple[_Line, ...]  # one alert or notice

# Shrink ranks (Signal): the snippet goes first, then the title (SPEC §7), then the
# long lists, so that severity, watchlist, source, time and link survive.
_SHRINK_SNIPPET = 1
_SHRINK_TITLE = 2
_SHRINK_ALSO = 3
_SHRINK_PEOPLE = 4
_SHRINK_TERMS = 5
_SHRINK_WATCHLISTS = 6


@dataclass(frozen=True)
class _Format:
    """How one channel renders parts, joins lines and blocks, and measures size."""

    body_format: str
    text: Callable[[str, str], str]
    link: Callable[[str], str]
    line_sep: str
    block_sep: str
    cost: Callable[[str], int]
    budget: int | None  # None: no limit, never split

    def line(self, line: _Line) -> str:
        return "".join(self.part(p) for p in line)

    def part(self, part: _Part) -> str:
        return self.link(part.url) if isinstance(part, _Link) else self.text(part.text, part.style)

    def block(self, block: _Block) -> str:
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
    if not _is_web_link(url):
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


_FORMATS: dict[str, _Format] = {
    SIGNAL: _Format(
        _TEXT,
        _plain_text,
        _plain_link,
        "\n",
        "\n\n",
        _signal_cost,
        SIGNAL_MAX_BYTES - _SIGNAL_STATUS_RESERVE,
    ),
    TELEGRAM: _Format(
        _HTML, _html_text, _html_link, "\n", "\n\n", _telegram_cost, TELEGRAM_MAX_CHARS
    ),
    # No newlines in the HTML: Apprise's HTML-to-text conversion (the email's plain
    # part) turns each source newline into a space at the start or end of a line.
    # The body is base64-encoded (utf-8 MIMEText), so one long line is no SMTP problem.
    EMAIL: _Format(_HTML, _html_text, _html_link, "<br>", "<hr>", _unlimited_cost, None),
    GENERIC: _Format(_TEXT, _plain_text, _plain_link, "\n", "\n\n", _unlimited_cost, None),
}


def _format(kind: str) -> _Format:
    return _FORMATS.get(kind, _FORMATS[GENERIC])


# --- building blocks from alerts ---------------------------------------------------


def _unique(values: Iterable[str]) -> list[str]:
    """Cleaned, non-empty values in first-seen order, without case-insensitive repeats."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        cleaned = _clean(value)
        if cleaned and cleaned.casefold() not in seen:
            seen.add(cleaned.casefold())
            out.append(cleaned)
    return out


def _watchlist_names(alert: Alert, mark_possible: bool = True) -> list[str]:
    """Every watchlist the story matched, strongest first; near-misses marked when the
    alert also has a firm match (an all-possible alert is marked as a whole)."""
    ordered = sorted(alert.matches, key=lambda m: -m.severity)
    names = []
    for match in ordered:
        name = _clean(match.watchlist)
        if mark_possible and match.possible and not alert.possible:
            name += " (possible)"
        names.append(name)
    return _unique(names)


def _alert_block(alert: Alert, tz: tzinfo) -> _Block:
    """One alert as lines of parts, in reading order (same for every channel)."""
    ordered = sorted(alert.matches, key=lambda m: -m.severity)
    severity = alert.severity.label.upper()
    lines: list[_Line] = [
        (
            _Text(severity, "b"),
            _Text(" · "),
            _Text(", ".join(_watchlist_names(alert)), "b", _SHRINK_WATCHLISTS),
        )
    ]
    if alert.possible:
        lines.append((_Text(POSSIBLE_MARK, "b"),))
    lines.append((_Text(_clean(alert.title) or "(no title)", "b", _SHRINK_TITLE),))
    where = [_Text(_clean(alert.source), "i")]
    if alert.published is not None:
        where += [_Text(" · "), _Text(format_published(alert.published, tz))]
    lines.append(tuple(where))
    lines.append((_Link(alert.link.strip()),))
    snippets = _unique(_without_title(m.snippet, alert.title) for m in ordered)
    seen_text = " ".join([alert.title, *(m.snippet for m in ordered)])
    terms = _unique(_shown_term(t, seen_text) for m in ordered for t in m.terms)
    if terms:
        lines.append((_Text("Terms: ", "b"), _Text(", ".join(terms), "", _SHRINK_TERMS)))
    people = _unique(p for m in ordered for p in m.people)
    if people:
        lines.append((_Text("People: ", "b"), _Text(", ".join(people), "", _SHRINK_PEOPLE)))
    if snippets:
        lines.append((_Text("“"), _Text(" … ".join(snippets), "i", _SHRINK_SNIPPET), _Text("”")))
    also = _unique(alert.also_reported_by)
    if also:
        lines.append((_Text("Also reported by: ", "b"), _Text(", ".join(also), "", _SHRINK_ALSO)))
    return tuple(lines)


_TITLE_GLUE = " \t.:;,-–—|·"


def _without_title(snippet: str, title: str) -> str:
    """The snippet without a leading copy of the title (the matcher reads title and
    summary as one text, so a hit near the start quotes the title the message already
    shows); "" when nothing else is left."""
    text, head = _clean(snippet), _clean(title)
    if head and text.casefold().startswith(head.casefold()):
        rest = text[len(head) :].lstrip(_TITLE_GLUE)
        return rest if rest.strip(ELLIPSIS + " ") else ""
    return text


def _shown_term(term: str, text: str) -> str:
    """A watchlist term as staff should read it: a pattern with `*` (`ministr*`)
    becomes the word it matched in the title or snippet (`ministry`), or, when that
    word is not quoted there, the pattern with "…" for the star (`ministr…`)."""
    cleaned = _clean(term)
    if "*" not in cleaned:
        return cleaned
    parts = [re.escape(p) for p in cleaned.split("*")]
    pattern = re.compile(r"(?<!\w)" + r"\w*".join(parts) + r"(?!\w)", re.IGNORECASE)
    found = pattern.search(text)
    if found:
        return found.group(0)
    return cleaned.replace("*", ELLIPSIS)


def _notice_block(title: str, text: str) -> _Block:
    """A notice keeps its line breaks (a source name, then its error, then advice).

    When it must shrink (Signal), the last line goes first and the title last.
    """
    body = [cleaned for cleaned in (_clean(line) for line in text.splitlines()) if cleaned]
    lines: list[_Line] = [(_Text(_clean(title) or "watcher", "b", len(body) + 1),)]
    lines += [(_Text(line, "", len(body) - n),) for n, line in enumerate(body)]
    return tuple(lines)


# --- fitting and splitting ---------------------------------------------------------


def _fits(fmt: _Format, budget: int | None) -> Callable[[str], bool]:
    return lambda rendered: budget is None or fmt.cost(rendered) <= budget


def _with_text(block: _Block, li: int, pi: int, text: str) -> _Block:
    """`block` with the text of part `pi` of line `li` replaced."""
    part = block[li][pi]
    assert isinstance(part, _Text)
    line = (*block[li][:pi], replace(part, text=text), *block[li][pi + 1 :])
    return (*block[:li], line, *block[li + 1 :])


def _fit_block(block: _Block, fmt: _Format, budget: int | None) -> _Block:
    """Shorten the block's shrinkable texts, lowest rank first, until it fits."""
    fits = _fits(fmt, budget)
    shrinkable = sorted(
        (part.shrink, li, pi)
        for li, line in enumerate(block)
        for pi, part in enumerate(line)
        if isinstance(part, _Text) and part.shrink
    )
    for _, li, pi in shrinkable:
        if fits(fmt.block(block)):
            break
        part = block[li][pi]
        assert isinstance(part, _Text)

        def fits_with(text: str, base: _Block = block, li: int = li, pi: int = pi) -> bool:
            return fits(fmt.block(_with_text(base, li, pi, text)))

        block = _with_text(block, li, pi, _shorten(part.text, fits_with) or ELLIPSIS)
    return block


@dataclass(frozen=True)
class _Unit:
    """A rendered piece of a message and the glue that goes before it. With `part`,
    the piece is a text run that `_pack` may split to fill the end of a message."""

    text: str
    glue: str
    part: _Text | None = None


def _longest_head(text: str, style: str, fmt: _Format, fits: Callable[[str], bool]) -> int:
    """Where to cut `text` so its rendered start fits: at a word or cluster boundary,
    else (a single "word" longer than a message) at any cluster boundary."""
    cut = _last_fitting(_break_positions(text), lambda i: fits(fmt.text(text[:i].rstrip(), style)))
    if cut is None:
        clusters = [i for i in range(1, len(text)) if _is_cluster_boundary(text, i)]
        cut = _last_fitting(clusters, lambda i: fits(fmt.text(text[:i], style)))
    # A single cluster larger than a message cannot occur at these limits; if it did,
    # sending it whole beats looping forever.
    return len(text) if cut is None else cut


def _units(block: _Block, fmt: _Format, budget: int) -> list[_Unit]:
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
            if isinstance(part, _Link):
                # A link is never split; one longer than a message goes alone, over size.
                units.append(_Unit(fmt.part(part), part_glue))
                continue
            units.append(_Unit(fmt.part(part), part_glue, part))
    return units


def _fill(
    current: str, unit: _Unit, fmt: _Format, fits: Callable[[str], bool], messages: list[str]
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

        cut = _last_fitting(_break_positions(text), fits_here)
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


def _content_budget(fmt: _Format, header: Callable[[int, int], str]) -> int | None:
    """What a message may hold once room is kept for its longest possible header."""
    if fmt.budget is None:
        return None
    widest = header(_HEADER_RESERVE_PARTS, _HEADER_RESERVE_PARTS)
    return fmt.budget - fmt.cost(widest + fmt.block_sep)


def _pack(blocks: Sequence[_Block], fmt: _Format, header: Callable[[int, int], str]) -> list[str]:
    """Render blocks as few messages as the format's budget allows.

    Blocks stay whole when they fit, are otherwise split by line, then by word or
    cluster. `header(k, n)` is the first line of message k of n ("" for none).
    """
    if fmt.budget is None:
        first = header(1, 1)
        body = fmt.block_sep.join(fmt.block(b) for b in blocks)
        return [f"{first}{fmt.block_sep}{body}" if first else body]
    budget = _content_budget(fmt, header)
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


def _part_header(fmt: _Format) -> Callable[[int, int], str]:
    """ "(k/n)" on messages of a split alert or notice; nothing when it is one message."""
    return lambda k, n: fmt.text(f"({k}/{n})", "i") if n > 1 else ""


# --- subjects ----------------------------------------------------------------------


def _severity_tag(severity: Severity, possible: bool) -> str:
    # Upper-case: SPEC §7's `[URGENT] …`, and what a reader's eye catches first.
    label = severity.label.upper()
    return f"[{label}, possible]" if possible else f"[{label}]"


def email_subject(tag: str, names: Sequence[str], title: str) -> str:
    """`[severity] watchlist, other: title` on one line of at most 150 characters.

    The title is shortened first, between words or clusters with "…"; watchlist names
    only when they alone would leave the title less than 60 characters.
    """
    tag, title = _clean(tag), _clean(title)
    joined = _clean(", ".join(names))
    head = f"{tag} " if tag else ""
    room = EMAIL_SUBJECT_MAX_CHARS - len(head) - len(": ")
    if len(joined) > room - min(len(title), 60):
        joined = _shorten(joined, lambda s: len(s) <= room - min(len(title), 60))
    if not joined:
        return _shorten(head + title, lambda s: len(s) <= EMAIL_SUBJECT_MAX_CHARS)
    title = _shorten(title, lambda s: len(s) <= room - len(joined))
    return f"{head}{joined}: {title}" if title else f"{head}{joined}"


def _alert_subject(alert: Alert) -> str:
    return email_subject(
        _severity_tag(alert.severity, alert.possible),
        _watchlist_names(alert, mark_possible=False),
        alert.title or "(no title)",
    )


def _digest_subject(alerts: Sequence[Alert]) -> str:
    severity = max((a.severity for a in alerts), default=Severity.LOW)
    possible = bool(alerts) and all(a.possible for a in alerts)
    names = _unique(n for a in alerts for n in _watchlist_names(a, mark_possible=False))
    count = f"digest of {len(alerts)} alert{'' if len(alerts) == 1 else 's'}"
    return email_subject(_severity_tag(severity, possible), names or ["watcher"], count)


# --- public rendering --------------------------------------------------------------


def _finish(kind: str, title: str, bodies: list[str], kind_of: str = INFO) -> list[Rendered]:
    fmt = _format(kind)
    if kind == EMAIL:
        return [Rendered(title, f"<div>{body}</div>", _HTML, kind_of) for body in bodies]
    if kind in (SIGNAL, TELEGRAM):
        # Both plugins have no title field and would glue the title onto the body,
        # past our measurement; the body already says everything.
        return [Rendered("", body, fmt.body_format, kind_of) for body in bodies]
    return [Rendered(title, body, fmt.body_format, kind_of) for body in bodies]


def render_alert(alert: Alert, kind: str, tz: tzinfo) -> list[Rendered]:
    """The message(s) one channel kind receives for one alert.

    One message, except when the channel's limit forces a split (Telegram, or Signal
    when even a shortened alert is too long, e.g. for a very long link).
    """
    fmt = _format(kind)
    budget = _content_budget(fmt, _part_header(fmt))
    block = _alert_block(alert, tz)
    if kind == SIGNAL:
        # Signal is one message: shorten the snippet, then the title, to fit.
        block = _fit_block(block, fmt, budget)
    return _finish(
        kind,
        _alert_subject(alert),
        _pack([block], fmt, _part_header(fmt)),
        notify_type(alert.severity),
    )


def render_digest(alerts: Sequence[Alert], kind: str, tz: tzinfo) -> list[Rendered]:
    """Several alerts gathered into one message, or several where the limit requires.

    Alerts are listed strongest first (stable, so arrival order is kept within a
    severity); each message starts with a "Digest: N alerts (k/n)" line.
    """
    fmt = _format(kind)
    ordered = sorted(alerts, key=lambda a: -a.severity)
    count = f"{len(ordered)} alert{'' if len(ordered) == 1 else 's'}"

    def header(k: int, n: int) -> str:
        return fmt.text(f"watcher digest: {count}" + (f" ({k}/{n})" if n > 1 else ""), "b")

    budget = _content_budget(fmt, header)
    blocks = [_alert_block(a, tz) for a in ordered]
    if kind == SIGNAL:
        # Keep each alert whole in one Signal message, shortened if it must be.
        blocks = [_fit_block(b, fmt, budget) for b in blocks]
    strongest = max((a.severity for a in ordered), default=Severity.LOW)
    return _finish(
        kind, _digest_subject(ordered), _pack(blocks, fmt, header), notify_type(strongest)
    )


def _minimal_block(alert: Alert) -> _Block:
    """Severity, watchlists, title, link: what is left to send when a service refused
    the full message (SPEC §7)."""
    return (
        (
            _Text(alert.severity.label.upper(), "b"),
            _Text(" · "),
            _Text(", ".join(_watchlist_names(alert)), "b", _SHRINK_WATCHLISTS),
        ),
        (_Text(_clean(alert.title) or "(no title)", "b", _SHRINK_TITLE),),
        (_Link(alert.link.strip()),),
    )


def render_minimal(alerts: Sequence[Alert], kind: str) -> list[Rendered]:
    """The minimal form of an alert (or of a digest's alerts) for one channel kind:
    only severity, watchlist names, title and link, within the same limits."""
    if not alerts:
        return []
    fmt = _format(kind)
    ordered = sorted(alerts, key=lambda a: -a.severity)
    blocks = [_minimal_block(a) for a in ordered]
    header = _part_header(fmt)
    if kind == SIGNAL:
        blocks = [_fit_block(b, fmt, _content_budget(fmt, header)) for b in blocks]
    subject = _alert_subject(ordered[0]) if len(ordered) == 1 else _digest_subject(ordered)
    strongest = ordered[0].severity
    return _finish(kind, subject, _pack(blocks, fmt, header), notify_type(strongest))


def render_notice(title: str, text: str, kind: str, kind_of: str = INFO) -> list[Rendered]:
    """An admin notice (source failing, delivery given up) or a test message;
    `kind_of` is its Apprise notify type."""
    fmt = _format(kind)
    budget = _content_budget(fmt, _part_header(fmt))
    block = _notice_block(title, text)
    if kind == SIGNAL:
        block = _fit_block(block, fmt, budget)
    subject = _shorten(_clean(title), lambda s: len(s) <= EMAIL_SUBJECT_MAX_CHARS)
    return _finish(kind, subject, _pack([block], fmt, _part_header(fmt)), kind_of)
