"""Making `stories.fingerprint` faster (issue #8) must not change a single output bit.

Databases keep fingerprints for FINGERPRINT_KEEP and compare new items against them; a
fingerprint that changed without a METHOD bump would silently stop matching its copies.
So each corpus below is fingerprinted and its outputs (signature bytes, band keys, size,
headline numbers, or None) hashed into one sha256, and the hash is the one the code gave
before the speed work (commit 71e33ed). A deliberate change of method updates METHOD and
these hashes together.
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

from watcher import minhash, stories
from watcher.demo_data import render_dates, render_demo_feeds
from watcher.models import FetchResult, Item, Source
from watcher.sources import parse_items

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data" / "stories"
NOW = datetime(2026, 11, 25, tzinfo=UTC)

EXPECTED_METHOD = "minhash/multshift64/seed1/p128/k7/lead400"
EXPECTED = {
    "fixtures": "0ff89b1969db74210038c0cfc152217c42e18ce632f81d1399ce3653f914ab23",
    "demo": "19be52bc12777539b986ef8396b6249e9e42f975f065781a8e0fd047340e5741",
    "generated": "f49e4aa9359331bee776008c2c500945bf5d798c4b03740e26be788a8b342684",
    "edge": "683b1bbcbaa38e989277d20b938b94e3f972e4130f16fc2742c186901c90f585",
}


def _digest(items: Iterable[Item]) -> str:
    digest = hashlib.sha256()
    for item in items:
        found = stories.fingerprint(item)
        if found is None:
            digest.update(b"none;")
            continue
        digest.update(found.signature)
        digest.update(struct.pack(f"<{len(found.bands)}q", *found.bands))
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


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_fingerprints_unchanged(corpus: str) -> None:
    items = CORPORA[corpus]()
    assert len(items) > 10
    assert _digest(items) == EXPECTED[corpus]


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
