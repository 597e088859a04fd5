"""Which items are one story across outlets (SPEC §6): near-identical text within 7 days.

Pure logic: fingerprints and the decision whether two fingerprints are one story. No clock,
database or network; the store keeps fingerprints and their LSH band keys (an index), and
the pipeline asks it for candidates.

Method: MinHash over character shingles of the normalised headline and lead, written here
with numpy (one vectorised hash of all shingles, one matrix operation for the 128 hash
functions) rather than taken from datasketch, whose MinHash runs SHA-1 once per shingle in
Python and whose package pulls in scipy (1.3 s and 74 MB on every start; docs/performance.md).

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

import numpy as np

from watcher.models import Item
from watcher.normalise import normalise

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


def _hash_constants(count: int, label: bytes) -> np.ndarray:
    # Derived from blake2b rather than a random generator, whose stream NumPy does not
    # promise to keep across versions: stored signatures must stay comparable.
    words = [
        int.from_bytes(
            hashlib.blake2b(b"%d" % i, digest_size=8, key=SEED_KEY, person=label).digest(), "little"
        )
        for i in range(count)
    ]
    return np.array(words, dtype=np.uint64)


# Shingle hashing: a polynomial over the shingle's code points (odd 64-bit multiplier,
# arithmetic modulo 2**64), finished with MurmurHash3's 64-bit mixer so every bit of the
# result depends on every character.
_BASE = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_MIX_SHIFT = np.uint64(33)
# The NUM_PERM hash functions: multiply-shift, h(x) = ((a*x + b) mod 2**64) >> 32 with a
# odd, a universal family of 64-to-32-bit hashes (Dietzfelbinger et al., 1997).
_A = _hash_constants(NUM_PERM, b"minhash-a") | np.uint64(1)
_B = _hash_constants(NUM_PERM, b"minhash-b")
_KEEP_HIGH = np.uint64(32)
# Shingles per block of the signature: a (NUM_PERM, 512) uint64 matrix is 512 KiB, so a
# long headline (a feed that puts the whole article in <title>) cannot make the matrix
# grow with it; a headline and LEAD_CHARS lead (~450 shingles) is a single block.
_SIGNATURE_BLOCK = 512
# One blake2b state per band, personalised "band0000", "band0001", …, copied for each
# item rather than built again (building a personalised state costs more than hashing
# 12 bytes). Constants: never updated themselves, only copied.
_BAND_HASHES = tuple(
    hashlib.blake2b(digest_size=8, person=b"band%04d" % band) for band in range(BANDS)
)
_BAND_BYTES = ROWS * 4  # ROWS unsigned 32-bit values
_BAND_KEY_FORMAT = struct.Struct(f"<{BANDS}q")  # SQLite integers are signed 64-bit


def _shingle_values(points: np.ndarray) -> np.ndarray:
    """The hash of every SHINGLE-long window of `points` (code points), repeats included.

    Horner's rule, (((p0*B + p1)*B + p2)...)*B + p6, is the same polynomial modulo 2**64
    as the sum of p_j * B**(SHINGLE-1-j), computed in place: no temporary array per term.
    """
    count = len(points) - SHINGLE + 1
    value = points[:count].copy()
    for j in range(1, SHINGLE):
        value *= _BASE
        value += points[j : j + count]
    shifted = np.empty_like(value)
    for multiplier in (_MIX1, _MIX2):
        np.right_shift(value, _MIX_SHIFT, out=shifted)
        value ^= shifted
        value *= multiplier
    np.right_shift(value, _MIX_SHIFT, out=shifted)
    value ^= shifted
    return value


def shingle_hashes(text: str) -> np.ndarray:
    """The distinct 64-bit hashes of the SHINGLE-character substrings of normalised `text`,
    in ascending order.

    Stable across processes and runs (no use of Python's randomised `hash`); vectorised,
    so a 500-character lead costs about ten microseconds.
    """
    if not text:
        return np.empty(0, np.uint64)
    points = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    if len(points) < SHINGLE:  # the whole text is the one shingle
        points = np.concatenate([np.zeros(SHINGLE - len(points), np.uint64), points])
    value = _shingle_values(points)
    # Sort and drop repeats: what np.unique returns, at a quarter of its cost on a few
    # hundred values (NumPy 2.3+ builds a hash table first, then sorts anyway).
    value.sort()
    distinct = np.empty(len(value), bool)
    distinct[0] = True
    np.not_equal(value[1:], value[:-1], out=distinct[1:])
    return value[distinct]


def _block_minima(hashes: np.ndarray) -> np.ndarray:
    """Per hash function, the least (a*x + b) mod 2**64 over the non-empty `hashes`.

    One (NUM_PERM, len(hashes)) matrix, one row per function, built in place: each
    operation that returned a new matrix would cost a fresh allocation of its size.
    """
    permuted = np.multiply.outer(_A, hashes)
    permuted += _B[:, np.newaxis]
    minima: np.ndarray = permuted.min(axis=1)
    return minima


def _signature(hashes: np.ndarray) -> np.ndarray:
    """The NUM_PERM MinHash values of a non-empty set of shingle hashes, as "<u4".

    The minimum is taken before the `>> 32` of multiply-shift, over the 64-bit values:
    shifting right is monotonic, so min(x) >> 32 == min(x >> 32), and one pass over the
    matrix is saved. Repeated hashes could not change a minimum either. The shingles are
    taken `_SIGNATURE_BLOCK` at a time.
    """
    lowest = _block_minima(hashes[:_SIGNATURE_BLOCK])
    for start in range(_SIGNATURE_BLOCK, len(hashes), _SIGNATURE_BLOCK):
        np.minimum(lowest, _block_minima(hashes[start : start + _SIGNATURE_BLOCK]), out=lowest)
    return (lowest >> _KEEP_HIGH).astype("<u4")


def _band_keys(signature: bytes) -> tuple[int, ...]:
    """The BANDS index keys of a signature: blake2b of each ROWS-value band, personalised
    by the band's number so that equal values in different bands are different keys."""
    digests = []
    for band, seeded in enumerate(_BAND_HASHES):
        state = seeded.copy()
        state.update(signature[band * _BAND_BYTES : (band + 1) * _BAND_BYTES])
        digests.append(state.digest())
    return _BAND_KEY_FORMAT.unpack(b"".join(digests))


def fingerprint(item: Item) -> Fingerprint | None:
    """The item's fingerprint, or None when its text is too short to judge by."""
    text = story_text(item)
    # A text of n characters has at most n - SHINGLE + 1 distinct shingles: a headline
    # alone is refused before any hashing.
    if len(text) - SHINGLE + 1 < MIN_SHINGLES:
        return None
    found = shingle_hashes(text)
    if len(found) < MIN_SHINGLES:
        return None
    signature = _signature(found).tobytes()
    return Fingerprint(signature, _band_keys(signature), len(found), headline_numbers(item.title))


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
