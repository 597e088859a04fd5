"""Which items are one story across outlets (SPEC §6): near-identical text within 7 days.

Pure logic: fingerprints and the decision whether two fingerprints are one story. No clock,
database or network; the store keeps fingerprints and their LSH band keys (an index), and
the pipeline asks it for candidates.

Method: MinHash (datasketch) over character shingles of the normalised headline and lead.

- Character shingles, not words, because Khmer is written without spaces between words; after
  `watcher.normalise.normalise` (case, dashes, invisible characters, Khmer mark order) a
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

import hashlib
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
from datasketch import MinHash

from watcher.models import Item
from watcher.normalise import normalise

# Bump METHOD whenever any parameter below changes: stored fingerprints of another method are
# not comparable (the store drops them; they only matter for WINDOW anyway).
METHOD = "minhash/affine32/seed1/p128/k7/lead400"
NUM_PERM = 128
SEED = 1
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
# 42 bands of 3 rows (126 of the 128 values): a pair at resemblance s shares a band with
# probability 1-(1-s^3)^42: 0.996 at 0.5, 0.94 at 0.4; 0.29 at 0.2, 0.003 at 0.04 (two
# unrelated articles). Unrelated candidates cost one signature comparison each.
BANDS = 42
ROWS = 3
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


_NUMBER = re.compile(r"\d+")


def headline_numbers(title: str) -> tuple[int, ...]:
    """The numbers in a headline, Latin or Khmer digits alike (`No. 141`, `១២`), sorted."""
    # int() reads any Unicode decimal digits, so "១២" and "12" are the same number.
    return tuple(sorted({int(n) for n in _NUMBER.findall(title) if len(n) <= 18}))


def story_text(item: Item) -> str:
    """The normalised headline and lead that fingerprints are made of."""
    body = item.content or item.summary
    return normalise(item.title) + "\n" + normalise(body)[:LEAD_CHARS]


def shingles(text: str) -> set[bytes]:
    """The distinct SHINGLE-character substrings of already normalised `text`, as UTF-8."""
    if len(text) <= SHINGLE:
        return {text.encode("utf-8")} if text else set()
    return {text[i : i + SHINGLE].encode("utf-8") for i in range(len(text) - SHINGLE + 1)}


@lru_cache(maxsize=1)
def _permutations() -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    # Generating the permutations is the costly part of a MinHash; they depend only on
    # NUM_PERM and SEED, so every fingerprint reuses one set.
    return MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32").permutations


def _signature(items: set[bytes]) -> np.ndarray:
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32", permutations=_permutations())
    minhash.update_batch(sorted(items))
    return np.asarray(minhash.hashvalues, dtype="<u4")


def _band_keys(signature: np.ndarray) -> tuple[int, ...]:
    keys = []
    for band in range(BANDS):
        rows = signature[band * ROWS : (band + 1) * ROWS].tobytes()
        digest = hashlib.blake2b(rows, digest_size=8, person=b"band%04d" % band).digest()
        # SQLite integers are signed 64-bit.
        keys.append(struct.unpack("<q", digest)[0])
    return tuple(keys)


def fingerprint(item: Item) -> Fingerprint | None:
    """The item's fingerprint, or None when its text is too short to judge by."""
    found = shingles(story_text(item))
    if len(found) < MIN_SHINGLES:
        return None
    signature = _signature(found)
    return Fingerprint(
        signature.tobytes(), _band_keys(signature), len(found), headline_numbers(item.title)
    )


def resemblance(a: bytes, b: bytes) -> float:
    """Estimated Jaccard resemblance of the texts behind two signatures (0.0 to 1.0)."""
    left = np.frombuffer(a, dtype="<u4")
    right = np.frombuffer(b, dtype="<u4")
    if left.shape != right.shape:
        return 0.0  # a fingerprint of another METHOD
    return float(np.count_nonzero(left == right)) / len(left)


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
