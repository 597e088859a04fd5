"""The rows of `watcher export` (SPEC §3): alerts with their sources, matched terms,
people and evidence, for reports; the web page's downloads use the same rows."""

from __future__ import annotations

import csv
import io
from typing import TextIO
from zoneinfo import ZoneInfo

from watcher.models import Config
from watcher.store.evidence import Evidence
from watcher.store.records import StoredAlert


def _csv_cell(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"  # as JSON writes them, not Python's True/False
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return value


def write_csv(rows: list[dict[str, object]], out: TextIO) -> None:
    """The export as CSV in UTF-8 with a byte-order mark: without it, spreadsheet programs
    read the file in the system's legacy code page and show Khmer as mojibake."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    data = text.getvalue().encode("utf-8-sig")
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        # As bytes, so the mark and the text are UTF-8 whatever the terminal's encoding.
        out.flush()
        buffer.write(data)
        buffer.flush()
    else:
        out.write(data.decode("utf-8"))


EXPORT_FIELDS = (
    "id", "created", "severity", "watchlists", "possible", "title", "link", "source",
    "also_reported_by", "published", "terms", "people", "snippet",
    "evidence_path", "evidence_sha256", "evidence_text_path", "evidence_text_sha256",
)  # fmt: skip


def export_row(
    stored: StoredAlert, config: Config, kept: Evidence | None = None
) -> dict[str, object]:
    """One alert as a row of `watcher export` (and the web page's CSV/JSON downloads)."""
    alert = stored.alert
    tz = ZoneInfo(config.settings.timezone)
    return {
        "id": stored.id,
        "created": stored.created.astimezone(tz).isoformat(timespec="seconds"),
        "severity": alert.severity.label,
        "watchlists": [m.watchlist for m in alert.matches],
        "possible": alert.possible,
        "title": alert.title,
        "link": alert.link,
        "source": alert.source,
        "also_reported_by": list(alert.also_reported_by),
        "published": alert.published.astimezone(tz).isoformat(timespec="seconds")
        if alert.published
        else "",
        "terms": sorted({t for m in alert.matches for t in m.terms}),
        "people": sorted({p for m in alert.matches for p in m.people}),
        "snippet": next((m.snippet for m in alert.matches if m.snippet), ""),
        # Paths relative to the state directory; hashes let anyone check the files (SPEC §10).
        "evidence_path": kept.path if kept else "",
        "evidence_sha256": kept.sha256 if kept else "",
        "evidence_text_path": kept.text_path if kept else "",
        "evidence_text_sha256": kept.text_sha256 if kept else "",
    }
