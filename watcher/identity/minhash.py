"""MinHash signatures and LSH band keys with numpy: the arithmetic behind story fingerprints.

Kept apart from watcher.identity.stories so that only the processes that compute fingerprints
(the pool's workers, watcher.pipeline.pool) load numpy; the main process, which only
compares signatures, does not (numpy is ~15 MB of resident memory per process).
Every parameter (NUM_PERM, SHINGLE, SEED_KEY) is watcher.identity.stories'; band keys are
made there.
"""

from __future__ import annotations

import numpy as np

from watcher.identity.stories import NUM_PERM, SEED_KEY, SHINGLE, blake2b


def _hash_constants(count: int, label: bytes) -> np.ndarray:
    # Derived from blake2b rather than a random generator, whose stream NumPy does not
    # promise to keep across versions: stored signatures must stay comparable.
    words = [
        int.from_bytes(
            blake2b(b"%d" % i, digest_size=8, key=SEED_KEY, person=label).digest(), "little"
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


def signature(hashes: np.ndarray) -> np.ndarray:
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
