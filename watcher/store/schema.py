"""The SQLite schema of the state database, as the migrations that build it (watcher.store.sqlite).

Kept apart from the store's operations so that each stays readable: this file is data
(SQL), watcher/store/sqlite.py the code that runs it.
"""

from __future__ import annotations

# Each entry migrates the schema from version i to i+1. Never edit a shipped
# entry: append a new one, so existing databases upgrade in place.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        url TEXT,
        etag TEXT,
        last_modified TEXT,
        polls INTEGER NOT NULL DEFAULT 0,
        last_poll REAL,
        last_success REAL,
        last_error TEXT,
        last_error_at REAL,
        failures INTEGER NOT NULL DEFAULT 0,
        failing_since REAL,
        retry_after REAL,
        items_seen INTEGER NOT NULL DEFAULT 0,
        alerts INTEGER NOT NULL DEFAULT 0,
        stale_reported INTEGER NOT NULL DEFAULT 0,
        next_poll REAL,
        moved_to TEXT
    );
    CREATE TABLE stories (
        id INTEGER PRIMARY KEY,
        canonical TEXT,
        title TEXT,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL
    );
    CREATE INDEX stories_canonical ON stories(canonical);
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        guid TEXT,
        link TEXT,
        canonical TEXT,
        title TEXT,
        text TEXT,
        published REAL,
        content_hash TEXT,
        story_id INTEGER REFERENCES stories(id),
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        UNIQUE (source, key)
    );
    CREATE INDEX items_story ON items(story_id);
    CREATE INDEX items_canonical ON items(canonical);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        story_id INTEGER REFERENCES stories(id),
        item_id INTEGER REFERENCES items(id),
        source TEXT NOT NULL,
        title TEXT NOT NULL,
        link TEXT NOT NULL,
        published REAL,
        created REAL NOT NULL,
        matches TEXT NOT NULL,
        possible INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX alerts_created ON alerts(created);
    CREATE TABLE story_alerts (
        story_id INTEGER NOT NULL REFERENCES stories(id),
        watchlist TEXT NOT NULL,
        possible INTEGER NOT NULL,
        alert_id INTEGER REFERENCES alerts(id),
        at REAL NOT NULL,
        PRIMARY KEY (story_id, watchlist)
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER REFERENCES alerts(id),
        channel TEXT NOT NULL,
        watchlists TEXT NOT NULL DEFAULT '[]',
        notice_title TEXT,
        notice_body TEXT,
        state TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        due REAL NOT NULL,
        next_attempt REAL NOT NULL,
        created REAL NOT NULL,
        sent_at REAL,
        last_error TEXT,
        UNIQUE (alert_id, channel)
    );
    CREATE INDEX outbox_due ON outbox(state, next_attempt);
    """,
    # 2: the daemon's heartbeat, so `watcher status` can say whether `run` is alive.
    """
    CREATE TABLE daemon (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        started REAL NOT NULL,
        heartbeat REAL NOT NULL,
        stopped REAL
    );
    """,
    # 3: evidence behind each alert (SPEC §10), and per-source warnings that are not
    # failures (a fulltext page that could not be fetched, refused links).
    """
    CREATE TABLE evidence (
        alert_id INTEGER PRIMARY KEY REFERENCES alerts(id),
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        text_path TEXT NOT NULL,
        text_sha256 TEXT NOT NULL,
        url TEXT NOT NULL,
        fetched_at REAL,
        kind TEXT NOT NULL
    );
    ALTER TABLE sources ADD COLUMN last_warning TEXT;
    ALTER TABLE sources ADD COLUMN last_warning_at REAL;
    """,
    # 4: story fingerprints for near-duplicate detection (SPEC §6, watcher/identity/stories.py): one
    # MinHash signature per item and its LSH band keys, indexed so that finding an item's
    # copies is an index lookup however many stories the store holds; plus the indexes that
    # item identity (by link within a source) and pruning (by last sight) use.
    """
    CREATE TABLE item_fingerprints (
        item_id INTEGER PRIMARY KEY,
        story_id INTEGER NOT NULL,
        source TEXT NOT NULL,
        at REAL NOT NULL,
        method TEXT NOT NULL,
        size INTEGER NOT NULL,
        numbers TEXT NOT NULL DEFAULT '',
        signature BLOB NOT NULL
    );
    CREATE INDEX item_fingerprints_at ON item_fingerprints(at);
    CREATE TABLE story_bands (
        band_key INTEGER NOT NULL,
        at REAL NOT NULL,
        item_id INTEGER NOT NULL,
        PRIMARY KEY (band_key, at, item_id)
    ) WITHOUT ROWID;
    CREATE INDEX story_bands_item ON story_bands(item_id);
    CREATE INDEX items_source_canonical ON items(source, canonical);
    CREATE INDEX items_last_seen ON items(last_seen);
    """,
    # 5: items first seen on their source's first poll (its back catalogue): an undated one
    # never alerts, not even when edited later (SPEC §6). Existing items first seen at their
    # source's earliest first_seen were recorded by that first poll.
    """
    ALTER TABLE items ADD COLUMN first_poll INTEGER NOT NULL DEFAULT 0;
    UPDATE items SET first_poll = 1
        WHERE (source, first_seen) IN (SELECT source, MIN(first_seen) FROM items GROUP BY source);
    """,
    # 6: an alert whose every message was dropped because its story merged with an
    # earlier alerted one (watcher.identity.dedup.unsent_duplicates) names that alert.
    """
    ALTER TABLE alerts ADD COLUMN merged_into INTEGER;
    """,
    # 7: band rows are (band_key, item_id) only: the window is checked on the fingerprint,
    # and replacing a fingerprint deletes its rows by their keys (recomputed from the old
    # signature), so the index by item, one more insert per band row, goes. `store_meta`
    # remembers how band keys are made (watcher.identity.stories.BANDING): Store._rebuild_bands
    # makes them again from the signatures when that changes, as it does here. The outbox
    # index by channel serves digest_held_until, asked once per alert and channel.
    """
    DROP TABLE story_bands;
    CREATE TABLE story_bands (
        band_key INTEGER NOT NULL,
        item_id INTEGER NOT NULL,
        PRIMARY KEY (band_key, item_id)
    ) WITHOUT ROWID;
    CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE INDEX outbox_channel_due ON outbox(channel, state, due);
    """,
    # 8: web logins (SPEC §12, `watcher user add`): only a slow hash (argon2id, in the
    # library's PHC string form) per name; no password is ever stored.
    """
    CREATE TABLE web_users (
        name TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL
    );
    """,
)


def split_sql(script: str) -> list[str]:
    """The statements of a migration script, one by one."""
    return [s.strip() for s in script.split(";") if s.strip()]
