"""The evidence archive (watcher.store.evidence): content-addressed files and their sidecars."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from watcher.models import FetchResult
from watcher.store import evidence

FEED = FetchResult(
    "https://news.example/feed/",
    status=200,
    body=b"<rss><channel><item><title>One</title></item></channel></rss>",
    content_type="application/rss+xml",
    fetched_at=datetime(2026, 11, 25, 3, 0, tzinfo=UTC),
)


def _sidecar(root: Path, kept: evidence.Evidence) -> Path:
    return root / "evidence" / kept.sha256[:2] / f"{kept.sha256}.json"


def test_one_poll_s_alerts_from_one_feed_share_one_sidecar_written_once(tmp_path: Path) -> None:
    batch = evidence.Batch(tmp_path)
    first = batch.keep_for_alert(source="S", text="first entry", page=None, response=FEED)
    second = batch.keep_for_alert(source="S", text="second entry", page=None, response=FEED)
    assert first.path == second.path and first.text_path != second.text_path
    # Documents and texts are on disk at once; the sidecar waits for close().
    assert (tmp_path / first.path).read_bytes() == FEED.body
    assert (tmp_path / second.text_path).read_text("utf-8") == "second entry"
    assert not _sidecar(tmp_path, first).exists()
    batch.close()
    record = json.loads(_sidecar(tmp_path, first).read_text("utf-8"))
    assert record["sha256"] == first.sha256 == evidence.sha256(FEED.body)
    texts = [f["text_sha256"] for f in record["fetches"]]
    assert texts == [first.text_sha256, second.text_sha256]
    assert evidence.verify(tmp_path, first)


def test_a_later_batch_adds_to_the_sidecar_and_repeats_nothing(tmp_path: Path) -> None:
    earlier = evidence.Batch(tmp_path)
    kept = earlier.keep_for_alert(source="S", text="first entry", page=None, response=FEED)
    earlier.close()
    batch = evidence.Batch(tmp_path)
    batch.keep_for_alert(source="S", text="first entry", page=None, response=FEED)  # again
    batch.keep_for_alert(source="S", text="third entry", page=None, response=FEED)
    batch.close()
    record = json.loads(_sidecar(tmp_path, kept).read_text("utf-8"))
    assert len(record["fetches"]) == 2
    assert not list(tmp_path.rglob(".tmp-*"))  # nothing half-written is left behind
