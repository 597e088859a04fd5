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

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from watcher.delivery.layout import (
    EMAIL,
    EMAIL_SUBJECT_MAX_CHARS,
    GENERIC,
    HTML_FORMAT,
    SHRINK_ALSO,
    SHRINK_PEOPLE,
    SHRINK_SNIPPET,
    SHRINK_TERMS,
    SHRINK_TITLE,
    SHRINK_WATCHLISTS,
    SIGNAL,
    SIGNAL_MAX_BYTES,
    TELEGRAM,
    TELEGRAM_MAX_CHARS,
    Block,
    Line,
    Link,
    Text,
    content_budget,
    fit_block,
    format_for,
    pack,
    part_header,
)
from watcher.models import Alert, Severity
from watcher.text.cut import ELLIPSIS, one_line, shorten

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

POSSIBLE_MARK = "⚠ POSSIBLE MATCH — review"

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


# --- building blocks from alerts ---------------------------------------------------


def _unique(values: Iterable[str]) -> list[str]:
    """Cleaned, non-empty values in first-seen order, without case-insensitive repeats."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        cleaned = one_line(value)
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
        name = one_line(match.watchlist)
        if mark_possible and match.possible and not alert.possible:
            name += " (possible)"
        names.append(name)
    return _unique(names)


def _alert_block(alert: Alert, tz: tzinfo) -> Block:
    """One alert as lines of parts, in reading order (same for every channel)."""
    ordered = sorted(alert.matches, key=lambda m: -m.severity)
    severity = alert.severity.label.upper()
    lines: list[Line] = [
        (
            Text(severity, "b"),
            Text(" · "),
            Text(", ".join(_watchlist_names(alert)), "b", SHRINK_WATCHLISTS),
        )
    ]
    if alert.possible:
        lines.append((Text(POSSIBLE_MARK, "b"),))
    lines.append((Text(one_line(alert.title) or "(no title)", "b", SHRINK_TITLE),))
    where = [Text(one_line(alert.source), "i")]
    if alert.published is not None:
        where += [Text(" · "), Text(format_published(alert.published, tz))]
    lines.append(tuple(where))
    lines.append((Link(alert.link.strip()),))
    snippets = _unique(_without_title(m.snippet, alert.title) for m in ordered)
    seen_text = " ".join([alert.title, *(m.snippet for m in ordered)])
    terms = _unique(_shown_term(t, seen_text) for m in ordered for t in m.terms)
    if terms:
        lines.append((Text("Terms: ", "b"), Text(", ".join(terms), "", SHRINK_TERMS)))
    people = _unique(p for m in ordered for p in m.people)
    if people:
        lines.append((Text("People: ", "b"), Text(", ".join(people), "", SHRINK_PEOPLE)))
    if snippets:
        lines.append((Text("“"), Text(" … ".join(snippets), "i", SHRINK_SNIPPET), Text("”")))
    also = _unique(alert.also_reported_by)
    if also:
        lines.append((Text("Also reported by: ", "b"), Text(", ".join(also), "", SHRINK_ALSO)))
    return tuple(lines)


_TITLE_GLUE = " \t.:;,-–—|·"


def _without_title(snippet: str, title: str) -> str:
    """The snippet without a leading copy of the title (the matcher reads title and
    summary as one text, so a hit near the start quotes the title the message already
    shows); "" when nothing else is left."""
    text, head = one_line(snippet), one_line(title)
    if head and text.casefold().startswith(head.casefold()):
        rest = text[len(head) :].lstrip(_TITLE_GLUE)
        return rest if rest.strip(ELLIPSIS + " ") else ""
    return text


def _shown_term(term: str, text: str) -> str:
    """A watchlist term as staff should read it: a pattern with `*` (`ministr*`)
    becomes the word it matched in the title or snippet (`ministry`), or, when that
    word is not quoted there, the pattern with "…" for the star (`ministr…`)."""
    cleaned = one_line(term)
    if "*" not in cleaned:
        return cleaned
    parts = [re.escape(p) for p in cleaned.split("*")]
    pattern = re.compile(r"(?<!\w)" + r"\w*".join(parts) + r"(?!\w)", re.IGNORECASE)
    found = pattern.search(text)
    if found:
        return found.group(0)
    return cleaned.replace("*", ELLIPSIS)


def _notice_block(title: str, text: str) -> Block:
    """A notice keeps its line breaks (a source name, then its error, then advice).

    When it must shrink (Signal), the last line goes first and the title last.
    """
    body = [cleaned for cleaned in (one_line(line) for line in text.splitlines()) if cleaned]
    lines: list[Line] = [(Text(one_line(title) or "watcher", "b", len(body) + 1),)]
    lines += [(Text(line, "", len(body) - n),) for n, line in enumerate(body)]
    return tuple(lines)


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
    tag, title = one_line(tag), one_line(title)
    joined = one_line(", ".join(names))
    head = f"{tag} " if tag else ""
    room = EMAIL_SUBJECT_MAX_CHARS - len(head) - len(": ")
    if len(joined) > room - min(len(title), 60):
        joined = shorten(joined, lambda s: len(s) <= room - min(len(title), 60))
    if not joined:
        return shorten(head + title, lambda s: len(s) <= EMAIL_SUBJECT_MAX_CHARS)
    title = shorten(title, lambda s: len(s) <= room - len(joined))
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
    fmt = format_for(kind)
    if kind == EMAIL:
        return [Rendered(title, f"<div>{body}</div>", HTML_FORMAT, kind_of) for body in bodies]
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
    fmt = format_for(kind)
    budget = content_budget(fmt, part_header(fmt))
    block = _alert_block(alert, tz)
    if kind == SIGNAL:
        # Signal is one message: shorten the snippet, then the title, to fit.
        block = fit_block(block, fmt, budget)
    return _finish(
        kind,
        _alert_subject(alert),
        pack([block], fmt, part_header(fmt)),
        notify_type(alert.severity),
    )


def render_digest(alerts: Sequence[Alert], kind: str, tz: tzinfo) -> list[Rendered]:
    """Several alerts gathered into one message, or several where the limit requires.

    Alerts are listed strongest first (stable, so arrival order is kept within a
    severity); each message starts with a "Digest: N alerts (k/n)" line.
    """
    fmt = format_for(kind)
    ordered = sorted(alerts, key=lambda a: -a.severity)
    count = f"{len(ordered)} alert{'' if len(ordered) == 1 else 's'}"

    def header(k: int, n: int) -> str:
        return fmt.text(f"watcher digest: {count}" + (f" ({k}/{n})" if n > 1 else ""), "b")

    budget = content_budget(fmt, header)
    blocks = [_alert_block(a, tz) for a in ordered]
    if kind == SIGNAL:
        # Keep each alert whole in one Signal message, shortened if it must be.
        blocks = [fit_block(b, fmt, budget) for b in blocks]
    strongest = max((a.severity for a in ordered), default=Severity.LOW)
    return _finish(
        kind, _digest_subject(ordered), pack(blocks, fmt, header), notify_type(strongest)
    )


def _minimal_block(alert: Alert) -> Block:
    """Severity, watchlists, title, link: what is left to send when a service refused
    the full message (SPEC §7)."""
    return (
        (
            Text(alert.severity.label.upper(), "b"),
            Text(" · "),
            Text(", ".join(_watchlist_names(alert)), "b", SHRINK_WATCHLISTS),
        ),
        (Text(one_line(alert.title) or "(no title)", "b", SHRINK_TITLE),),
        (Link(alert.link.strip()),),
    )


def render_minimal(alerts: Sequence[Alert], kind: str) -> list[Rendered]:
    """The minimal form of an alert (or of a digest's alerts) for one channel kind:
    only severity, watchlist names, title and link, within the same limits."""
    if not alerts:
        return []
    fmt = format_for(kind)
    ordered = sorted(alerts, key=lambda a: -a.severity)
    blocks = [_minimal_block(a) for a in ordered]
    header = part_header(fmt)
    if kind == SIGNAL:
        blocks = [fit_block(b, fmt, content_budget(fmt, header)) for b in blocks]
    subject = _alert_subject(ordered[0]) if len(ordered) == 1 else _digest_subject(ordered)
    strongest = ordered[0].severity
    return _finish(kind, subject, pack(blocks, fmt, header), notify_type(strongest))


def render_notice(title: str, text: str, kind: str, kind_of: str = INFO) -> list[Rendered]:
    """An admin notice (source failing, delivery given up) or a test message;
    `kind_of` is its Apprise notify type."""
    fmt = format_for(kind)
    budget = content_budget(fmt, part_header(fmt))
    block = _notice_block(title, text)
    if kind == SIGNAL:
        block = fit_block(block, fmt, budget)
    subject = shorten(one_line(title), lambda s: len(s) <= EMAIL_SUBJECT_MAX_CHARS)
    return _finish(kind, subject, pack([block], fmt, part_header(fmt)), kind_of)
