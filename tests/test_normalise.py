"""Normalisation (SPEC §5) and HTML stripping; rules in tests/data/matching/normalise.toml."""

from __future__ import annotations

import random
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from watcher.matching import match_normalise
from watcher.text.khmer import count_words, normalise_khmer, segment_words
from watcher.text.normalise import align, html_to_text, normalise

DATA = Path(__file__).parent / "data" / "matching"
with (DATA / "normalise.toml").open("rb") as _f:
    RULES: dict[str, Any] = tomllib.load(_f)


@pytest.mark.parametrize("rule", RULES["same"], ids=[r["rule"] for r in RULES["same"]])
def test_same_normal_form(rule: dict[str, str]) -> None:
    assert normalise(rule["a"]) == rule["expected"]
    assert normalise(rule["b"]) == rule["expected"]


@pytest.mark.parametrize("rule", RULES["different"], ids=[r["rule"] for r in RULES["different"]])
def test_different_normal_form(rule: dict[str, str]) -> None:
    assert normalise(rule["a"]) != normalise(rule["b"])


def test_normalise_is_idempotent() -> None:
    for rule in RULES["same"]:
        once = normalise(rule["a"])
        assert normalise(once) == once


def test_khmer_canonical_text_is_untouched() -> None:
    text = "រាជរដ្ឋាភិបាលបានចេញអនុក្រឹត្យស្តីពីការបង្កើតក្រុមការងារ"
    assert normalise_khmer(text) == text


def test_khmer_random_mark_orders_agree() -> None:
    # Shuffle the marks of each syllable: every order types the same word (SPEC §5).
    word = "ក្រសួង អនុក្រឹត្យ ស្ត្រី បង្កើត ចាប់ខ្លួន"
    rng = random.Random(7)
    syllables = re.findall(
        "[\u1780-\u17b3](?:\u17d2[\u1780-\u17b3]|[\u17b6-\u17d1\u17d3\u17dd])*", word
    )
    for _ in range(50):
        shuffled = []
        for syl in syllables:
            base, marks = syl[0], re.findall("\u17d2.|[\u17b6-\u17d1\u17d3\u17dd]", syl[1:])
            rng.shuffle(marks)
            shuffled.append(base + "".join(marks))
        assert normalise("".join(shuffled)) == normalise("".join(syllables))


def test_html_to_text_strips_and_decodes() -> None:
    html = (
        "<html><head><title>x</title><style>p{}</style></head><body>"
        "<h1>Sub&#8209;Decree</h1><p>A&nbsp;new <b>working</b> group &amp; more</p>"
        "<script>alert(1)</script><p>ក្រសួង</p></body></html>"
    )
    text = html_to_text(html)
    assert "alert" not in text and "p{}" not in text
    assert text == "Sub\u2011Decree\n\nA new working group & more\n\nក្រសួង"


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        "plain & text",
        "<",
        "<<<>>>",
        "\x00<p>\x00</p>",
        "<frameset></frameset>",
        "<p>" * 5000,
        "&#xffffffff; &#0; &bogus;",
        "<script>never closed",
        "\ud800"[:0],
    ],
)
def test_html_to_text_never_crashes(hostile: str) -> None:
    assert isinstance(html_to_text(hostile), str)


def test_align_offsets_point_into_original() -> None:
    original = "Mr. Kem\u200bSokha — the Sub‑Decree.\n\nលោក ឈឹម ស៊ីថា ត្រូវបានចាប់ខ្លួន។ Next"
    aligned = align(original, drop=re.compile("[a-z]"))
    assert aligned.text == match_normalise(original)
    i = aligned.text.index("sub decree")
    assert original[aligned.to_original(i) :].startswith("Sub‑Decree")
    k = aligned.text.index("ចាប់ខ្លួន")
    assert original[aligned.to_original(k) :].startswith("ចាប់ខ្លួន")
    # sentence starts after "Decree." and after "។", not after "Mr."
    assert aligned.sentence_of(aligned.text.index("kem")) == 0
    assert aligned.sentence_of(k) == 1
    assert aligned.sentence_of(aligned.text.index("next")) == 2


def test_khmer_word_count() -> None:
    assert count_words("sub decree on the gateway") == 5
    words = segment_words("ត្រូវបានចាប់ខ្លួន")
    assert "".join(words) == "ត្រូវបានចាប់ខ្លួន"
    assert 2 <= len(words) <= 4
