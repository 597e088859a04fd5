"""Plain data that flows through the pipeline (SPEC §2).

Every stage takes and returns these frozen values, so the decisions (match, dedup,
routing) stay pure functions that tests can drive without network, clock or database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Severity(enum.IntEnum):
    """Ordered alert severities; a channel's `min_severity` compares against these."""

    LOW = 1
    NORMAL = 2
    HIGH = 3
    URGENT = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Read a severity name as written in the config (`low` … `urgent`)."""
        return cls[text.strip().upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Item:
    """One entry read from a source, before any decision is taken about it.

    `text` is the plain text that matching reads: title, summary and content with
    HTML stripped and entities decoded (not yet normalised).
    """

    source: str
    guid: str | None
    link: str | None
    title: str
    summary: str = ""
    content: str = ""
    published: datetime | None = None  # aware, UTC
    updated: datetime | None = None  # aware, UTC

    @property
    def text(self) -> str:
        return "\n\n".join(part for part in (self.title, self.summary, self.content) if part)

    @property
    def when(self) -> datetime | None:
        """Publication time, else update time (SPEC §4 `max_age`)."""
        return self.published or self.updated


@dataclass(frozen=True)
class Match:
    """One watchlist's verdict on one item's text.

    `possible` marks a near-miss (SPEC §5): recorded, but sent only to channels
    with `possible = true`.
    """

    watchlist: str
    severity: Severity
    terms: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    snippet: str = ""
    possible: bool = False


@dataclass(frozen=True)
class FetchResult:
    """What one HTTP fetch produced: a body, a 304, or an error a person can read."""

    url: str
    status: int | None
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    final_url: str | None = None
    not_modified: bool = False
    error: str | None = None
    retry_after: datetime | None = None
    fetched_at: datetime | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Where a permanent redirect (301/308) from `url` led: the source has moved.
    moved_to: str | None = None


# --- configuration, as the config loader produces it (SPEC §4) ---------------------


@dataclass(frozen=True)
class Person:
    """A listed person: a display name plus aliases in Latin or Khmer script."""

    name: str
    aliases: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Watchlist:
    """A set of matching rules (SPEC §4, §5). Durations are seconds.

    `all` holds one tuple per requirement; a requirement is met by any one of its
    terms (`all = ["x", ["y", "z"]]` becomes `(("x",), ("y", "z"))`).
    """

    name: str
    severity: Severity = Severity.NORMAL
    any: tuple[str, ...] = ()
    all: tuple[tuple[str, ...], ...] = ()
    none: tuple[str, ...] = ()
    sources: tuple[str, ...] = ("*",)
    people: tuple[Person, ...] = ()
    near: tuple[str, ...] = ()
    within: int = 30
    fuzzy: bool = False

    def applies_to(self, source: str) -> bool:
        return "*" in self.sources or source in self.sources


@dataclass(frozen=True)
class Source:
    """One polled source. `interval` is in seconds; selectors apply to `kind = "html"`."""

    name: str
    url: str
    kind: str = "feed"  # feed | html | sitemap
    interval: float = 900.0
    fulltext: bool = False
    allow_private: bool = False
    proxy: str | None = None
    item: str | None = None
    title: str | None = None
    link: str | None = None
    date: str | None = None
    summary: str | None = None


@dataclass(frozen=True)
class Channel:
    """A delivery channel. `url` is the Apprise URL with `${VAR}` expanded: a secret,
    never to be logged; `url_template` is the URL as written in the config."""

    name: str
    url: str = field(repr=False)
    url_template: str = ""
    watchlists: tuple[str, ...] = ("*",)
    min_severity: Severity = Severity.LOW
    digest: str = ""  # "" immediate | "HH:MM" daily | duration such as "1h"
    possible: bool = False

    def wants(self, watchlist: str, severity: Severity) -> bool:
        """Whether an alert of this watchlist and severity is routed to this channel."""
        if severity < self.min_severity:
            return False
        return "*" in self.watchlists or watchlist in self.watchlists


@dataclass(frozen=True)
class Settings:
    """The `[settings]` table. Durations are seconds, sizes bytes, paths absolute."""

    state_dir: str
    timezone: str = "UTC"
    interval: float = 900.0
    max_age: float = 7 * 86400.0
    user_agent: str = "watcher (+https://example.org/contact)"
    admin_channel: str | None = None
    timeout: float = 30.0
    max_size: int = 10_000_000
    proxy: str | None = None
    stale_after: float = 6 * 3600.0
    give_up: float = 24 * 3600.0
    retention: float = 90 * 86400.0
    # SPEC §11: a postgresql:// URL with `${VAR}` filled in; None: SQLite in state_dir.
    database: str | None = None
    database_secrets: tuple[str, ...] = ()  # its parts that came from the environment


@dataclass(frozen=True)
class WebSettings:
    """The `[web]` table (SPEC §12): where the staff pages listen."""

    listen: str = "127.0.0.1:8080"  # loopback unless the config says otherwise


@dataclass(frozen=True)
class Config:
    """A whole validated config file. `web` is None without a `[web]` table."""

    path: str
    settings: Settings
    sources: tuple[Source, ...] = ()
    watchlists: tuple[Watchlist, ...] = ()
    channels: tuple[Channel, ...] = ()
    web: WebSettings | None = None

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)

    def source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)


# --- what is sent ------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One message-to-be about one story: every watchlist it matched in one poll.

    `link` is the canonical link; `published` is aware (UTC) or None.
    """

    title: str
    link: str
    source: str
    matches: tuple[Match, ...]
    published: datetime | None = None
    also_reported_by: tuple[str, ...] = ()

    @property
    def severity(self) -> Severity:
        return max((m.severity for m in self.matches), default=Severity.LOW)

    @property
    def possible(self) -> bool:
        """True when every match is only a possible match (SPEC §5)."""
        return bool(self.matches) and all(m.possible for m in self.matches)
