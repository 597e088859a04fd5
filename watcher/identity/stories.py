"""Which items are one story across outlets (SPEC §6): near-identical text within 7 days.

Pure logic: fingerprints and the decision whether two fingerprints are one story. No clock,
database or network; the store keeps fingerprints and their LSH band keys (an index), and
the pipeline asks it for candidates.

Method: MinHash over character shingles of the normalised headline and lead, written here
with numpy (one vectorised hash of all shingles, one matrix operation for the 128 hash
functions) rather than taken from datasketch, whose MinHash runs SHA-1 once per shingle in
Python and whose package pulls in scipy (1.3 s and 74 MB on every start; docs/performance.md).

- Character shingles, not words, because Khmer is written without spaces between words; after
  `watcher.text.normalise.normalise` (case, dashes, invisible characters, Khmer mark order) a
  republication that only re-typed zero-width spaces or reordered marks has the same shingles.
- Headline plus the first `LEAD_CHARS` of the body, not the whole text: outlets' feeds carry
  anything from a 55-word excerpt to the full article, and a syndicated copy adds its own
  tail (credits, "read more"), while the headline and first paragraph survive syndication.
- MinHash signatures estimate the Jaccard resemblance of two shingle sets in constant space
  (128 32-bit values per item); cutting the signature into `BANDS` bands of `ROWS` rows gives
  band keys that the store indexes, so finding candidates is an index lookup whatever the
  number of stories (locality-sensitive hashing).
"""

from __future__ import annotations

import re
import struct
import sys
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from watcher.models import Item

try:
    # CPython's own BLAKE2, which hashlib.blake2b is: importing hashlib also loads OpenSSL's
    # libcrypto, ~3.6 MB of resident memory in each pool worker, for hashes it never uses.
    from _blake2 import blake2b as blake2b
except ImportError:  # an interpreter without the module
    from hashlib import blake2b as blake2b
from watcher.text.normalise import normalise

# Bump METHOD whenever any parameter below changes: stored fingerprints of another method are
# not comparable (the store drops them; they only matter for WINDOW anyway).
METHOD = "minhash/multshift64/seed1/p128/k7/lead400"
NUM_PERM = 128
SEED = 1
SEED_KEY = b"watcher-stories-%d" % SEED
# Shingle length in characters. Measured on the seed articles (SPEC's real Cambodian civic-space
# news, all on related topics): unrelated articles share 4% of their 7-shingles on average
# (8% at most) against 7% (13%) for 5-shingles, which keeps band collisions between unrelated
# stories, and so lookup cost, low; a light edit of one word still spoils only ~7+len shingles.
SHINGLE = 7
LEAD_CHARS = 400
# Below this many distinct shingles (about a headline alone) text says too little to call two
# items the same story: only the canonical link can.
MIN_SHINGLES = 80
# Estimated Jaccard resemblance at or above which two items are one story. See docs/stories.md
# and tests/test_stories.py for the fixture measurements behind it.
THRESHOLD = 0.5
# 32 bands of 4 rows (all 128 values): a pair at resemblance s shares a band with probability
# 1-(1-s^4)^32: 0.87 at 0.5, 0.99 at 0.6, 0.998 at 0.65 (the weakest real copy among the
# fixtures); 0.05 at 0.2 and 0.0001 at 0.04 (two unrelated articles). Unrelated candidates cost a
# signature comparison each, and their number grows with the store: at 1,000 sources a week
# holds ~100,000 items, and 42 bands of 3 rows (0.003 at 0.04) gave hundreds of candidates per
# item where 32 of 4 give a handful, with a quarter fewer index rows to write.
BANDS = 32
ROWS = 4
# Bump BANDING whenever BANDS, ROWS or the band hash change: the store then rebuilds every band
# key from the stored signatures (Store._rebuild_bands), which METHOD leaves comparable.
BANDING = "blake2b/b32r4"
WINDOW = timedelta(days=7)
# How long the store keeps fingerprints: they only serve WINDOW; four of them leave room for
# copies that arrive late or are dated oddly.
FINGERPRINT_KEEP = 4 * WINDOW


@dataclass(frozen=True)
class Fingerprint:
    """What the store keeps of an item's text to find its copies.

    `signature` is NUM_PERM unsigned 32-bit MinHash values (little-endian bytes);
    `bands` the BANDS signed 64-bit keys derived from it, for the index; `size` the
    number of distinct shingles.
    """

    signature: bytes
    bands: tuple[int, ...]
    size: int
    numbers: tuple[int, ...] = ()


@dataclass(frozen=True)
class Candidate:
    """A stored item that shares at least one band with the item being resolved."""

    story_id: int
    source: str
    at: datetime
    signature: bytes
    numbers: tuple[int, ...] = ()


_BAND_HASHES = tuple(blake2b(digest_size=8, person=b"band%04d" % band) for band in range(BANDS))
_BAND_BYTES = ROWS * 4  # ROWS unsigned 32-bit values
_BAND_KEY_FORMAT = struct.Struct(f"<{BANDS}q")  # SQLite integers are signed 64-bit


def band_keys(signature: bytes) -> tuple[int, ...]:
    """The BANDS index keys of a signature: blake2b of each ROWS-value band, personalised
    by the band's number so that equal values in different bands are different keys."""
    digests = []
    for band, seeded in enumerate(_BAND_HASHES):
        state = seeded.copy()
        state.update(signature[band * _BAND_BYTES : (band + 1) * _BAND_BYTES])
        digests.append(state.digest())
    return _BAND_KEY_FORMAT.unpack(b"".join(digests))


_NUMBER = re.compile(r"\d+")


def headline_numbers(title: str) -> tuple[int, ...]:
    """The numbers in a headline, Latin or Khmer digits alike (`No. 141`, `១២`), sorted."""
    # int() reads any Unicode decimal digits, so "១២" and "12" are the same number.
    return tuple(sorted({int(n) for n in _NUMBER.findall(title) if len(n) <= 18}))


def story_text(item: Item) -> str:
    """The normalised headline and lead that fingerprints are made of."""
    body = item.content or item.summary
    return normalise(item.title) + "\n" + normalise(body)[:LEAD_CHARS]


def fingerprint(item: Item) -> Fingerprint | None:
    """The item's fingerprint, or None when its text is too short to judge by."""
    text = story_text(item)
    # A text of n characters has at most n - SHINGLE + 1 distinct shingles: a headline
    # alone is refused before any hashing.
    if len(text) - SHINGLE + 1 < MIN_SHINGLES:
        return None
    # Imported here, not above: only the processes that fingerprint load numpy.
    from watcher.identity import minhash

    found = minhash.shingle_hashes(text)
    if len(found) < MIN_SHINGLES:
        return None
    signature = minhash.signature(found).tobytes()
    return Fingerprint(signature, band_keys(signature), len(found), headline_numbers(item.title))


def resemblance(a: bytes, b: bytes) -> float:
    """Estimated Jaccard resemblance of the texts behind two signatures (0.0 to 1.0)."""
    if len(a) != len(b) or not a or len(a) % 4:
        return 0.0  # a fingerprint of another METHOD
    left, right = _values(a), _values(b)
    return sum(x == y for x, y in zip(left, right, strict=True)) / len(left)


def _values(signature: bytes) -> array[int]:
    """A signature's unsigned 32-bit values (stored little-endian)."""
    values = array("I")
    assert values.itemsize == 4, "array('I') holds 32-bit values on every supported platform"
    values.frombytes(signature)
    if sys.byteorder != "little":
        values.byteswap()
    return values


def same_story(
    fingerprint: Fingerprint, source: str, when: datetime, candidate: Candidate
) -> float | None:
    """The resemblance of an item to a stored copy when they are one story, else None.

    One story when, within WINDOW (SPEC §6: republications within 7 days), the texts
    resemble each other at THRESHOLD or above, and:

    - the copy is from another source. Near-identical texts from ONE source within a
      week are its templates (the Royal Gazette announces each sub-decree in the same
      sentences), not republications; a source that re-posts its own story under a new
      guid and link costs one duplicate alert, a merged template costs a missed one.
    - the headlines do not carry disjoint numbers: `Sub-decree No. 141 …` and
      `Sub-decree No. 142 …` are different documents however alike their texts.
    """
    if candidate.source == source or abs(candidate.at - when) > WINDOW:
        return None
    ours, theirs = set(fingerprint.numbers), set(candidate.numbers)
    if ours and theirs and not ours & theirs:
        return None
    score = resemblance(fingerprint.signature, candidate.signature)
    return score if score >= THRESHOLD else None


def choose_story(
    fingerprint: Fingerprint, source: str, when: datetime, candidates: Iterable[Candidate]
) -> int | None:
    """The story whose stored copy is most like the item (see `same_story`), or None.

    A false merge hides a story from staff while a missed merge costs one duplicate
    alert, so every rule leans towards keeping stories apart.
    """
    best: tuple[float, int] | None = None
    for candidate in candidates:
        score = same_story(fingerprint, source, when, candidate)
        if score is None:
            continue
        if best is None or score > best[0] or (score == best[0] and candidate.story_id < best[1]):
            best = (score, candidate.story_id)
    return None if best is None else best[1]
