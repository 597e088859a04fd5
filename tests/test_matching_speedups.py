"""The shortcuts that make matching fast (issue #8) decide nothing: each must give what
the plain computation gives.

- `Matcher.match` looks for fuzzy names only when they can change a verdict; `explain`
  always looks, so the two must agree on every case file.
- `normalise` replaces `str.translate` by regexes on non-ASCII text, and collapses
  spaces with `split()`; `match_normalise` drops initials with a cheaper regex; the
  Khmer normaliser's gates skip substitutions that would change nothing.
- An anchor's index turns words away before looking them up.
- A hit is found in an original without invisible characters by a regex without them.
"""

from __future__ import annotations

import random
import re
import unicodedata

import pytest
from rapidfuzz.distance import DamerauLevenshtein
from test_matching import CASE_FILES, _load, _watchlist

from watcher.matching import Matcher
from watcher.matching.compiler import CompiledWatchlists
from watcher.matching.names import match_normalise
from watcher.matching.text import _HAS_INVISIBLE as _needle_invisible
from watcher.matching.text import _needle_regex
from watcher.models import Person, Watchlist
from watcher.text import khmer, normalise


def test_match_agrees_with_explain_on_every_case() -> None:
    cases = [_load(path) for path in CASE_FILES]
    for case in cases:
        matcher = Matcher([_watchlist(case["watchlist"])])
        source = case.get("source", "Test source")
        assert matcher.match(case["text"], source) == matcher.explain(case["text"], source).matches
    # Every case's watchlist at once, over every case's text: hits of one watchlist's
    # terms and people meet the others' rules. (`match` lists matches in the order
    # their watchlists were first hit, `explain` in the config's order.)
    together = Matcher([_watchlist(case["watchlist"]) for case in cases])
    for case in cases:
        source = case.get("source", "Test source")
        matches = together.match(case["text"], source)
        explained = together.explain(case["text"], source).matches
        assert sorted(matches, key=repr) == sorted(explained, key=repr)


FUZZY = Person("Kem Sokha")


@pytest.mark.parametrize(
    ("watchlist", "text", "people"),
    [
        # A misspelt name counts beside an arrest word...
        (Watchlist("W", people=(FUZZY,), near=("arrest*",), fuzzy=True),
         "Police arrested Kem Sohka on Tuesday.", ("Kem Sokha",)),
        # ...and, without `near`, alone.
        (Watchlist("W", people=(FUZZY,), fuzzy=True), "Kem Sohka spoke.", ("Kem Sokha",)),
        # With `any` missing, or no `near` term, no name can make a match.
        (Watchlist("W", any=("prakas",), people=(FUZZY,), fuzzy=True), "Kem Sohka spoke.", None),
        (Watchlist("W", people=(FUZZY,), near=("arrest*",), fuzzy=True), "Kem Sohka spoke.", None),
        # A `none` term vetoes before names are looked at.
        (Watchlist("W", none=("football",), people=(FUZZY,), fuzzy=True),
         "Kem Sohka played football.", None),
    ],
)  # fmt: skip
def test_fuzzy_names_are_looked_for_when_they_can_count(
    watchlist: Watchlist, text: str, people: tuple[str, ...] | None
) -> None:
    matcher = Matcher([watchlist])
    matches = matcher.match(text, "s")
    assert (matches[0].people if matches else None) == people
    assert matches == matcher.explain(text, "s").matches
    assert "fuzzy: written 'kem sohka'" in matcher.explain(text, "s").render()


def _random_texts(count: int, seed: int) -> list[str]:
    """Mixed-script strings: English with curly quotes, Khmer, invisibles, emoji, and
    characters from anywhere in planes 0-2."""
    rng = random.Random(seed)
    pieces = [
        "Kem", "Sokha", " ", "  ", ". ", "\n\n", "\t", "\xa0", "’", "“", "—", "-", "a", "x ",
        "ក្រសួង", "សុខា", "។", " ", "\u200b", "\u00ad", "\ufeff", "é", "e\u0301", "İ", "ß",
        "😀", "\U0001f3fb", "᧠", "_", "$", "²", "\u2028", "\x85",
    ]  # fmt: skip
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 12)):
            if rng.random() < 0.2:
                cp = rng.randrange(0x20, 0x30000)
                parts.append(chr(cp) if not 0xD800 <= cp <= 0xDFFF else "?")
            else:
                parts.append(rng.choice(pieces))
        out.append("".join(parts))
    return out


def test_translate_gives_what_str_translate_gives() -> None:
    table = normalise._TABLE
    for text in _random_texts(5000, seed=1):
        folded = unicodedata.normalize("NFC", text).casefold()
        assert normalise._translate(folded) == folded.translate(table), repr(text)


def test_every_whitespace_character_becomes_a_space_or_nothing() -> None:
    # `normalise` collapses spaces with split(): no other whitespace may survive the table.
    table = normalise._TABLE
    for cp in range(0x110000):
        if not 0xD800 <= cp <= 0xDFFF and chr(cp).isspace():
            assert table.get(cp, "kept") in (" ", None), hex(cp)


_OLD_INITIAL = re.compile(r"(?<![^ ])[a-z](?: |$)")
_OLD_KHMER_GAP = re.compile(" (?<=[\u1780-\u17ff] )(?=[\u1780-\u17ff])")


def test_initials_are_dropped_as_the_lookbehind_regex_dropped_them() -> None:
    rng = random.Random(2)
    tokens = ["a", "b", "z", "ab", "mr", "ក", "ខ្មែរ", "᧠", "é", "1", "a1"]
    texts = [
        " ".join(rng.choice(tokens) for _ in range(rng.randint(0, 8))) for _ in range(5000)
    ] + _random_texts(2000, seed=3)
    for text in texts:
        norm = normalise.normalise(text)
        expected = norm
        if _OLD_INITIAL.search(norm):
            expected = _OLD_KHMER_GAP.sub("", _OLD_INITIAL.sub("", norm).rstrip(" "))
        assert match_normalise(text) == expected, repr(text)


def test_normalise_collapses_spaces_as_before() -> None:
    spaces = re.compile(r" {2,}")
    gap = re.compile(f" (?<=[{khmer.KHMER_RANGE}] )(?=[{khmer.KHMER_RANGE}])")
    table = normalise._TABLE
    for text in _random_texts(3000, seed=4):
        folded = unicodedata.normalize("NFC", text).casefold()
        plain = khmer.normalise_khmer(folded.translate(table))
        expected = gap.sub("", spaces.sub(" ", plain).strip(" "))
        assert normalise.normalise(text) == expected, repr(text)


def test_khmer_gates_skip_only_what_changes_nothing() -> None:
    pattern = khmer._DEFECT.pattern
    marks = khmer._MARKS
    prefix = f"(?=[{marks}][{marks}]|{khmer.COENG})"
    assert pattern.startswith(prefix)
    old_defect = re.compile(f"(?=[{marks}])" + pattern[len(prefix) :])

    def reference(text: str) -> str:
        # normalise_khmer as it was before its gates
        if not khmer._HAS_KHMER.search(text):
            return text
        if old_defect.search(text):
            text = khmer._SYLLABLE.sub(lambda m: khmer._sort_key_chars(m.group(0)), text)
        if "\u17c1" in text:
            text = khmer._SPLIT_OE.sub("\u17be\\1", text)
            text = khmer._SPLIT_OO.sub("\u17c4\\1", text)
        if "\u17bb" in text:
            text = khmer._OE_U.sub("\u17bb\u17be", text)
            text = khmer._U_AS_SHIFTER.sub(khmer._u_to_shifter, text)
        return text.replace("\u17d2\u178a", "\u17d2\u178f")

    rng = random.Random(5)
    alphabet = [chr(cp) for cp in range(0x1780, 0x17DE)] + [" ", "a"]
    for _ in range(100_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        assert khmer.normalise_khmer(text) == reference(text), [hex(ord(c)) for c in text]


def test_anchor_index_finds_every_part_one_edit_away() -> None:
    rng = random.Random(6)
    family = ["Kem", "Chhim", "Sam", "Seng", "Chan", "Long"]
    syllables = ["so", "kha", "thar", "phea", "rith", "vanna", "dara", "ny", "mony", "ly"]
    people = tuple(
        Person(f"{rng.choice(family)} {''.join(rng.sample(syllables, 2)).capitalize()}")
        for _ in range(200)
    )
    compiled = CompiledWatchlists([Watchlist("W", people=people, fuzzy=True)])
    letters = "abcdehiklmnoprstvy"
    for indexes in compiled.anchors.values():
        for index in indexes:
            parts = {entry for entries in index.variants.values() for entry in entries}
            for _ in range(60):
                word = "".join(rng.choice(letters) for _ in range(rng.randint(1, 9)))
                if rng.random() < 0.5:  # a real part, edited once
                    word = _edit(rng, rng.choice(sorted(p[1] for p in parts)), letters)
                expected = {
                    p
                    for p in parts
                    if p[1] != word and DamerauLevenshtein.distance(p[1], word) <= 1
                }
                assert set(index.near(word)) == expected, (word, index.side)


def _edit(rng: random.Random, word: str, letters: str) -> str:
    i = rng.randrange(len(word))
    return rng.choice(
        [
            word[:i] + word[i + 1 :],
            word[:i] + rng.choice(letters) + word[i:],
            word[:i] + rng.choice(letters) + word[i + 1 :],
            word[:i] + word[i + 1 : i + 2] + word[i] + word[i + 2 :],
            word,
        ]
    )


def test_needles_without_invisible_characters_find_the_same_spans() -> None:
    # For an original with no invisible character, the regex without them is used.
    texts = [_load(path)["text"] for path in CASE_FILES]
    for text in texts:
        if _needle_invisible.search(text):
            continue
        words = match_normalise(text).split(" ")
        for k in range(0, len(words), 3):
            needle = " ".join(words[k : k + 2])
            full = [m.span() for m in _needle_regex(needle).finditer(text)]
            plain = [m.span() for m in _needle_regex(needle, invisible=False).finditer(text)]
            assert plain == full, needle
