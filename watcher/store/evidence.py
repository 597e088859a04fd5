"""The evidence archive (SPEC §10): what an alert was based on, kept on disk.

An article that prompted an alert may be edited or removed later; staff then
need what watcher saw. For every alert, under `state_dir/evidence/`:

- the fetched document, named by its SHA-256: `ab/abcdef….html` (or `.pdf`,
  `.xml` for a feed, `.txt`),
- the text matching read, named by its own SHA-256: `cd/cdef….txt`,
- a sidecar `ab/abcdef….json` with the URL, final URL, fetch time, content type
  and both hashes (a list of fetches, since one document can be reached twice).

What the document is depends on the source: with `fulltext = true` it is the
item's own page or PDF; otherwise it is the feed, list page or sitemap as
fetched in that poll (the entry is inside it), and the text is the entry's text.

Content addressing makes a write idempotent and a file tamper-evident: anyone
can recompute the hash that `watcher export` lists. Files are written to a
temporary name and renamed, so a crash never leaves a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # evidence is imported by the store; keep its imports light
    from watcher.fetch.fulltext import Page
    from watcher.models import FetchResult

EVIDENCE_DIR = "evidence"


@dataclass(frozen=True)
class Evidence:
    """Where an alert's evidence is, relative to the state directory, and its hashes."""

    path: str  # the document, e.g. evidence/ab/ab12….html
    sha256: str
    text_path: str
    text_sha256: str
    url: str
    fetched_at: datetime | None
    kind: str  # page | pdf | feed-entry


def sha256(data: bytes) -> str:
    """Hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def _write_once(path: Path, data: bytes, made: set[Path]) -> None:
    """Write `data` at `path` unless it is there; `made`: folders known to exist."""
    if path.exists():
        return
    if path.parent not in made:
        path.parent.mkdir(parents=True, exist_ok=True)
        made.add(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Batch:
    """Keeps the evidence of several alerts, writing each sidecar once at `close()`.

    One poll's alerts from a feed share one document (the feed as fetched): kept one
    by one, its sidecar would be read and rewritten once per alert, and a rename over
    an existing file is among the slowest things a file system does (ext4 flushes the
    data first). The documents and texts are written at once (content-addressed, so
    a file left by a failed transaction is harmless); `close()` must be called before
    the records that point at them are committed.
    """

    def __init__(self, state_dir: str | Path) -> None:
        self.root = Path(state_dir)
        self._sidecars: dict[Path, dict[str, Any]] = {}
        self._changed: set[Path] = set()
        self._made: set[Path] = set()
        # A poll's alerts from one feed share its body: hashed once, not once per alert.
        self._hashed: dict[int, tuple[bytes, str]] = {}

    def keep(
        self,
        *,
        document: bytes,
        suffix: str,
        text: str,
        url: str,
        final_url: str | None,
        fetched_at: datetime | None,
        content_type: str | None,
        kind: str,
        source: str,
    ) -> Evidence:
        """Store a document and its text under `state_dir/evidence/`; returns where.

        Idempotent: the same bytes are written once, and the sidecar gains a fetch
        entry only for a URL it does not list yet.
        """
        held = self._hashed.get(id(document))
        if held is None or held[0] is not document:
            held = self._hashed[id(document)] = (document, sha256(document))
        doc_hash = held[1]
        text_bytes = text.encode("utf-8")
        text_hash = sha256(text_bytes)
        doc_rel = f"{EVIDENCE_DIR}/{doc_hash[:2]}/{doc_hash}{suffix}"
        text_rel = f"{EVIDENCE_DIR}/{text_hash[:2]}/{text_hash}.txt"
        _write_once(self.root / doc_rel, document, self._made)
        _write_once(self.root / text_rel, text_bytes, self._made)
        sidecar = self.root / EVIDENCE_DIR / doc_hash[:2] / f"{doc_hash}.json"
        record = self._sidecars.get(sidecar)
        if record is None:
            if sidecar.exists():
                record = json.loads(sidecar.read_text("utf-8"))
            else:
                record = {"sha256": doc_hash, "path": doc_rel, "size": len(document)}
                record["fetches"] = []
            self._sidecars[sidecar] = record
        fetch = {
            "url": url,
            "final_url": final_url or url,
            "fetched_at": (fetched_at or datetime.now(UTC)).isoformat(timespec="seconds"),
            "content_type": content_type or "",
            "source": source,
            "kind": kind,
            "text_path": text_rel,
            "text_sha256": text_hash,
        }
        if not any(
            f.get("url") == url and f.get("text_sha256") == text_hash for f in record["fetches"]
        ):
            record["fetches"].append(fetch)
            self._changed.add(sidecar)
        return Evidence(doc_rel, doc_hash, text_rel, text_hash, url, fetched_at, kind)

    def keep_for_alert(
        self, *, source: str, text: str, page: Page | None, response: FetchResult
    ) -> Evidence:
        """Keep the evidence of one alert: its fetched page, else the source document.

        With a fulltext `page`, the page (HTML or PDF) and the text matching read;
        otherwise the feed, list page or sitemap as fetched (`response`) and the
        entry's text.
        """
        if page is not None:
            return self.keep(
                document=page.body,
                suffix=page.suffix,
                text=text,
                url=page.url,
                final_url=page.final_url,
                fetched_at=page.fetched_at,
                content_type=page.content_type,
                kind="pdf" if page.kind == "pdf" else "page",
                source=source,
            )
        ctype = (response.content_type or "").lower()
        return self.keep(
            document=response.body or b"",
            suffix=".html" if "html" in ctype else ".xml",
            text=text,
            url=response.url,
            final_url=response.final_url,
            fetched_at=response.fetched_at,
            content_type=response.content_type,
            kind="feed-entry",
            source=source,
        )

    def close(self) -> None:
        """Write every sidecar that gained a fetch (each once, atomically)."""
        for sidecar in sorted(self._changed):
            data = json.dumps(self._sidecars[sidecar], ensure_ascii=False, indent=2)
            tmp_path = sidecar.with_name(f".tmp-{sidecar.name}")
            tmp_path.write_bytes(data.encode("utf-8"))
            os.replace(tmp_path, sidecar)
        self._changed.clear()


def verify(state_dir: str | Path, evidence: Evidence) -> bool:
    """Whether the stored document still has the recorded hash."""
    path = Path(state_dir) / evidence.path
    return path.exists() and sha256(path.read_bytes()) == evidence.sha256
