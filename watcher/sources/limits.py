"""What one fetched document may cost (issue 17): items past `max_age` and outsized text.

Pure functions on parsed Items, applied by `watcher.sources.parse_document` where the
parsing happens (in a pool worker when there is one), so what is dropped or cut here
is never pickled, keyed, stored or matched.

- **Items published (else updated) longer ago than both `max_age` and `retention`** are
  dropped while parsing instead of being recorded: past `max_age` an item can never alert
  (SPEC §6), and past `retention` its text would not be kept for search (SPEC §12)
  either. An archive feed of 50,000 entries then costs what its last `retention` costs.
  Undated items are kept (the first-poll rule decides about them); a first poll counts
  the dropped items as seen (watcher.pipeline.poll).
- **A headline longer than TITLE_MAX characters** is not one: it is cut (between words or
  Khmer clusters) for messages and story fingerprints, and the whole of it is read as the
  start of the item's text, so matching loses nothing of it. The limit is far above any
  real headline, so that a long one still shows whole, split over several Telegram
  messages where it must be (SPEC §7).
- **An item's own text beyond TEXT_MAX characters** (title, summary and content) is not
  read: about 80,000 words, longer than any article a feed carries. A 5 MB title made of
  a watched word cost ~300 MB in matching and story fingerprints before (docs/performance.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from watcher.models import Item
from watcher.text.cut import ELLIPSIS, break_positions, cluster_boundaries

TITLE_MAX = 20_000
TEXT_MAX = 500_000
_LOOK_BACK = 200  # characters searched backwards from a limit for a place to cut


@dataclass(frozen=True)
class Trimmed:
    """A document's items after the limits, and what the limits did to it."""

    items: list[Item]
    too_old: int = 0  # items dropped: older than max_age
    cut: tuple[str, ...] = ()  # (shortened) titles of the items whose text was cut


def cut_at(text: str, limit: int) -> str:
    """The longest start of `text` of at most `limit` characters that ends between two
    words or Khmer clusters (inside a word only when no break is near)."""
    if len(text) <= limit:
        return text
    start = max(0, limit - _LOOK_BACK)
    window = text[start : limit + 1]
    breaks = [i for i in break_positions(window) if i + start <= limit]
    if not breaks:
        breaks = [i for i in cluster_boundaries(window) if i + start <= limit]
    return text[: start + breaks[-1]].rstrip() if breaks else text[:limit]


def _within_budget(item: Item) -> tuple[Item, bool]:
    """The item with its title and text inside the limits, and whether anything was cut."""
    title, summary, content = item.title, item.summary, item.content
    if len(title) > TITLE_MAX:
        summary = f"{title}\n\n{summary}" if summary else title
        title = cut_at(title, TITLE_MAX - len(ELLIPSIS)) + ELLIPSIS
    room = TEXT_MAX - len(title)
    text_cut = len(summary) + len(content) > room
    if text_cut:
        summary = cut_at(summary, room)
        content = cut_at(content, max(0, room - len(summary)))
    if (title, summary, content) == (item.title, item.summary, item.content):
        return item, False
    return replace(item, title=title, summary=summary, content=content), text_cut


def trim(items: list[Item], since: datetime | None) -> Trimmed:
    """Drop the items dated before `since` (None: keep all) and bring the rest within
    TITLE_MAX and TEXT_MAX, in order."""
    kept: list[Item] = []
    cut: list[str] = []
    too_old = 0
    for item in items:
        when = item.when
        if since is not None and when is not None and when < since:
            too_old += 1
            continue
        bounded, was_cut = _within_budget(item)
        if was_cut:
            cut.append(bounded.title[:80])
        kept.append(bounded)
    return Trimmed(kept, too_old, tuple(cut))
