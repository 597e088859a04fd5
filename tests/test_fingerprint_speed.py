"""Making `stories.fingerprint` faster (issue #8) must not change a single output bit.

Databases keep fingerprints for FINGERPRINT_KEEP and compare new items against them; a
fingerprint that changed without a METHOD bump would silently stop matching its copies.
So each corpus below is fingerprinted and its outputs (signature bytes, size, headline
numbers, or None) hashed into one sha256, and the hash is the one the code gave before
the speed work (commit 71e33ed). Band keys are hashed apart: they are derived from the
signature, and changing how (BANDING: 42 bands of 3 rows became 32 of 4) rebuilds them in
the store, leaving signatures comparable. A deliberate change of method updates METHOD or
BANDING and these hashes together.
"""

from __future__ import annotations

import hashlib
import importlib.util
import random
import struct
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from watcher.demo.sample import render_dates, render_demo_feeds
from watcher.identity import minhash, stories
from watcher.models import FetchResult, Item, Source
from watcher.sources import parse_items

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "stories"
NOW = datetime(2026, 11, 25, tzinfo=UTC)

EXPECTED_METHOD = "minhash/multshift64/seed1/p128/k7/lead400"
EXPECTED = {  # signatures, sizes, numbers: as commit 71e33ed gave them
    "fixtures": "6638c93976e50ec077809f5a13821dd6c228e1a3d0e37b308dffd38710ddd12e",
    "demo": "9e353d235c123ac805bb8b80b1bc573123a7747b32fb64e6b74b60dc4fa3ff1a",
    "generated": "02abf7245cd45117a6e6f08a0fd5223ff4b22589d7df85bba7006e994afdc662",
    "edge": "956fa7a7cd3671e739bd3213adff6c2649975f58ff47ceecc245ada403766843",
}
EXPECTED_BANDING = "blake2b/b32r4"
EXPECTED_BANDS = {  # band keys of BANDING
    "fixtures": "6e529effdc8d7a4cb3f004d4025d2924537e4c741f546ff715f30edc07538e3f",
    "demo": "af29a4a4486a1faee2dbfbef968e5fb16ae600622725671d22b7092c7089bd37",
    "generated": "3d48aa48781ea32a33c0cee886be2b4b24995d1a13ada79110d2c4edd24d0d4d",
    "edge": "430893f51f2d40118fe8d6fedc068da21f2f47164327276287765828005f291c",
}


def _digest(items: Iterable[Item], *, bands: bool = False) -> str:
    digest = hashlib.sha256()
    for item in items:
        found = stories.fingerprint(item)
        if found is None:
            digest.update(b"none;")
        elif bands:
            digest.update(struct.pack(f"<{len(found.bands)}q", *found.bands))
        else:
            digest.update(found.signature)
            digest.update(struct.pack("<q", found.size))
            digest.update(repr(found.numbers).encode() + b";")
    return digest.hexdigest()


def _parse(name: str, body: bytes) -> list[Item]:
    source = Source(name=name, url=f"http://127.0.0.1/{name}")
    return parse_items(source, FetchResult(url=source.url, status=200, body=body))


def _fixture_items() -> list[Item]:
    """Every item of the story fixtures (real cases: syndication, Khmer re-typing)."""
    items: list[Item] = []
    for path in sorted(DATA.glob("*.xml")):
        body = render_dates(path.read_text(encoding="utf-8"), NOW).encode("utf-8")
        items += _parse(path.name, body)
    return items


def _demo_items() -> list[Item]:
    """Every item of the demo's feeds."""
    items: list[Item] = []
    for url_path, body in render_demo_feeds(NOW).items():
        if url_path.startswith("/feeds/"):
            items += _parse(url_path, body)
    return items


def _feedgen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("feedgen", ROOT / "bench" / "feedgen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module runs.
    sys.modules.setdefault("feedgen", module)
    spec.loader.exec_module(module)
    return module


def _generated_items() -> list[Item]:
    """2,000 items of the scale benchmark's feeds (a third Khmer, excerpts to full text)."""
    feedgen = _feedgen()
    names = [name for name, _ in feedgen.people()]
    items: list[Item] = []
    for spec in feedgen.feed_specs(40):
        items += _parse(spec.path, feedgen.feed_xml(spec, 0, 50, NOW, names))
    return items


# Alphabets for the edge corpus: Latin with accents and digits, Khmer consonants, vowels,
# coeng and Khmer digits, combining marks, astral characters (emoji: 4 bytes in UTF-8,
# one code point), punctuation and invisibles that normalisation folds or removes.
_ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz ",
    "ÀÉîöüçñßẞ 0123456789",
    "".join(chr(c) for c in range(0x1780, 0x17A3)) + "ាិីុូេែោៅំះ្ ១២៣",
    "e\u0301\u0323\u0308a\u030a",
    "\U0001f600\U0001f4f0\U00020000𝐀 ",
    ".,;:!?-–—‐ \u200b\u00ad\t\n",
]


def _text(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(rng.choice(_ALPHABETS)) for _ in range(length))


def _edge_items() -> list[Item]:
    """Lengths around every threshold (shingle, MIN_SHINGLES, LEAD_CHARS, long headlines),
    repeated text (many duplicate shingles) and random mixed-script text."""
    rng = random.Random(8)
    items: list[Item] = []

    def add(title: str, content: str = "", summary: str = "") -> None:
        items.append(Item(source="edge", guid=None, link=None, title=title, content=content,
                          summary=summary))  # fmt: skip

    for length in [0, 1, 6, 7, 8, 40, 78, 79, 80, 85, 86, 87, 88, 100, 399, 400, 401, 2000]:
        add("", _text(rng, length))
        add(_text(rng, length))
        add("Sub-decree No. 141", "x" * length)
    add("the same words again " * 40)
    add("ab" * 300, "ab" * 300)
    add("Headline ១៤១ and 2026", summary=_text(rng, 600))
    add(_text(rng, 5000), _text(rng, 5000))  # a headline longer than any chunk
    add(_text(rng, 20000))
    for _ in range(300):
        add(_text(rng, rng.randint(0, 120)), _text(rng, rng.randint(0, 1500)))
    return items


CORPORA = {
    "fixtures": _fixture_items,
    "demo": _demo_items,
    "generated": _generated_items,
    "edge": _edge_items,
}


def test_method_unchanged() -> None:
    assert stories.METHOD == EXPECTED_METHOD
    assert stories.BANDING == EXPECTED_BANDING


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_fingerprints_unchanged(corpus: str) -> None:
    items = CORPORA[corpus]()
    assert len(items) > 10
    assert _digest(items) == EXPECTED[corpus]
    assert _digest(items, bands=True) == EXPECTED_BANDS[corpus]


def test_shingle_hashes_are_sorted_and_distinct() -> None:
    # The contract np.unique gave shingle_hashes: `size` is the number of distinct shingles.
    for item in _edge_items():
        found = minhash.shingle_hashes(stories.story_text(item))
        assert np.array_equal(found, np.unique(found))


def test_signature_in_blocks_is_the_plain_minhash() -> None:
    # A long headline is hashed in several blocks; the result must be the one-matrix
    # MinHash of the first implementation, kept here as the reference.
    hashes = minhash.shingle_hashes(_text(random.Random(3), 3000))
    assert len(hashes) > 2 * minhash._SIGNATURE_BLOCK
    with np.errstate(over="ignore"):
        plain = (hashes[:, None] * minhash._A[None, :] + minhash._B[None, :]) >> np.uint64(32)
    assert minhash.signature(hashes).tobytes() == plain.min(axis=0).astype("<u4").tobytes()
