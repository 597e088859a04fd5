"""What the store hands back: plain records of its rows (watcher.store.sqlite)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from watcher.identity.stories import Fingerprint
from watcher.models import Alert


@dataclass(frozen=True)
class SavedFingerprint:
    """An item's fingerprint as Store.save_fingerprints keeps it."""

    item_id: int
    story_id: int
    source: str
    at: datetime
    fingerprint: Fingerprint


@dataclass(frozen=True)
class SourceState:
    """What the store remembers about one source between polls."""

    name: str
    etag: str | None = None
    last_modified: str | None = None
    polls: int = 0
    last_poll: datetime | None = None
    last_success: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    failures: int = 0
    failing_since: datetime | None = None
    retry_after: datetime | None = None
    items_seen: int = 0
    alerts: int = 0
    stale_reported: bool = False
    next_poll: datetime | None = None
    moved_to: str | None = None


@dataclass(frozen=True)
class KnownItem:
    """An item already stored for a source."""

    id: int
    content_hash: str | None
    story_id: int | None
    first_poll: bool = False  # recorded by its source's first poll (its back catalogue)
    # A story fingerprint is stored for it: it matched a watchlist in some version
    # (only candidates are fingerprinted; watcher.pipeline.analysis).
    fingerprinted: bool = True


@dataclass(frozen=True)
class Delivery:
    """One outbox row: an alert (or an admin notice) for one channel."""

    id: int
    channel: str
    alert_id: int | None
    watchlists: tuple[str, ...]
    attempts: int
    created: datetime
    due: datetime
    notice_title: str | None = None
    notice_body: str | None = None


@dataclass(frozen=True)
class StoredAlert:
    """An alert as recorded, with the story facts needed to render or export it."""

    id: int
    story_id: int | None
    alert: Alert
    created: datetime


@dataclass(frozen=True)
class DaemonState:
    """What the last `watcher run` on this state wrote about itself."""

    pid: int
    host: str
    started: datetime
    heartbeat: datetime
    stopped: datetime | None  # None: running, or it did not stop cleanly


@dataclass(frozen=True)
class InstanceState:
    """One `watcher run` instance as the store knows it (SPEC §11: `status` lists them)."""

    host: str
    pid: int
    started: datetime
    last_seen: datetime
    stopped: datetime | None


class LeaseLost(Exception):
    """This instance no longer holds the lease its work depended on (it lapsed, and
    another instance may have taken the work over): the work's result is discarded."""


class StoreUnavailable(RuntimeError):
    """The state database cannot be reached right now (a server restarting, a network
    outage). Nothing was written; the caller logs it and tries again later."""
