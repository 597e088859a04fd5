"""Khmer in the legacy Limon fonts: Unicode ↔ Limon, table-driven.

Many ministry sub-decrees and prakas still circulate as PDFs typeset in the
Limon fonts (Limon S1, R1, F1…), made before Khmer Unicode was common. Those
fonts put Khmer glyphs on Latin code points, so text extracted from such a PDF is
ASCII "gibberish": អនុក្រឹត្យ (sub-decree) comes out as `GnuRkwtü`. And it is in
*visual* order: the vowel េ and the subscript ្រ, drawn left of the consonant,
are typed before it (ក្រ is `Rk`, កើ is `ekI`).

`limon_encode` turns Unicode Khmer into that visual Limon text (used to build
test fixtures, and `limon_variants` gives the forms a term takes in such a PDF);
`limon_decode` turns Limon text back into Unicode so the ordinary Khmer matcher
can read it. Decoding, not extra Latin terms, is what the pipeline uses: the
matcher reads Latin-script terms as whole words, and Khmer has no spaces between
words, so `GnuRkwtü` inside `GnuRkwtüelx` (អនុក្រឹត្យលេខ, "sub-decree no.") would be
missed as a term but is found once decoded.

The layout is the Limon keyboard (one code point per glyph, cp1252 positions).
Ambiguities of the font are resolved the way Limon users type: subscript ដ and
ត share one glyph (`þ`), read back as ្ត.
"""

from __future__ import annotations

import re

from watcher.text.khmer import CLUSTER, normalise_khmer

_CONSONANTS = {
    "ក": "k", "ខ": "x", "គ": "K", "ឃ": "X", "ង": "g",
    "ច": "c", "ឆ": "q", "ជ": "C", "ឈ": "Q", "ញ": "j",
    "ដ": "d", "ឋ": "z", "ឌ": "D", "ឍ": "Z", "ណ": "N",
    "ត": "t", "ថ": "f", "ទ": "T", "ធ": "F", "ន": "n",
    "ប": "b", "ផ": "p", "ព": "B", "ភ": "P", "ម": "m",
    "យ": "y", "រ": "r", "ល": "l", "វ": "v", "ស": "s",
    "ហ": "h", "ឡ": "L", "អ": "G",
}  # fmt: skip
# Subscript (coeng) forms; ្រ is drawn before its consonant and handled apart.
_SUBSCRIPTS = {
    "ក": "á", "ខ": "ç", "គ": "Á", "ឃ": "Ç", "ង": "¶",
    "ច": "©", "ឆ": "ä", "ជ": "¢", "ឈ": "Ä", "ញ": "J",
    "ដ": "þ", "ឋ": "æ", "ឌ": "Ð", "ឍ": "Æ", "ណ": "Ñ",
    "ត": "þ", "ថ": "ß", "ទ": "Þ", "ធ": "§", "ន": "ñ",
    "ប": ",", "ផ": "ö", "ព": "<", "ភ": "Ö", "ម": "µ",
    "យ": "ü", "ល": "ø", "វ": "V", "ស": "S", "ហ": "ð", "អ": "¥",
}  # fmt: skip
_RO = "R"  # ្រ
_INDEPENDENT = {"ឥ": "\\", "ឦ": "|", "ឧ": "]", "ឪ": "«", "ឯ": "É", "ឱ": "»"}
# Dependent vowels drawn after/above/below the consonant.
_VOWELS = {
    "ា": "a", "ិ": "i", "ី": "I", "ឹ": "w", "ឺ": "W", "ុ": "u", "ូ": "U", "ួ": "Y",
}  # fmt: skip
# Vowels drawn (partly) left of the consonant: (left glyph, right glyph or "").
_PRE_VOWELS = {
    "េ": ("e", ""),
    "ែ": ("E", ""),
    "ៃ": ("é", ""),
    "ោ": ("e", "a"),
    "ើ": ("e", "I"),
    "ៀ": ("e", "o"),
    "ឿ": ("e", "O"),
    "ៅ": ("e", "A"),
}
_SIGNS = {
    "ំ": "M", "ះ": "H", "ៈ": "³", "់": ";", "៊": "‘", "៉": ":", "័": "½",
    "៏": "¾", "៌": "’", "៎": "+", "៍": "_", "ៗ": "²", "។": ".", "៛": "¹",
}  # fmt: skip
_DIGITS = {chr(0x17E0 + i): str(i) for i in range(10)}
_DIGITS_TO_LIMON = str.maketrans("".join(_DIGITS), "".join(_DIGITS.values()))
_WHOLE = {"ខ្ញុំ": "´"}  # "I": one ligature glyph in Limon

_COENG = "\u17d2"

# Reverse tables for decoding; a glyph that stands for two letters reads as the first
# listed in _DECODE_PREFER.
_DECODE_PREFER = {"þ": "ត"}


# Over an upper vowel the font draws the shifter ៊ below the consonant, in the
# shape of ុ, and typists type it as such: ស៊ី is `suI`, not `s‘I`.
_SHIFTER_UPPER = re.compile("\u17ca(?=[\u17b7-\u17ba])")
_U_UPPER = re.compile("(?<=[kxKXgcqCQjdzDZNtfTFnbpBPmyrlvshLG])u(?=[iIwW])")


def limon_encode(text: str, *, shifter_as_u: bool = True) -> str:
    """Unicode Khmer → the Limon-font text a legacy PDF carries (visual order).

    Characters outside the Khmer block pass through unchanged.
    """
    text = normalise_khmer(text)
    if shifter_as_u:
        text = _SHIFTER_UPPER.sub("\u17bb", text)
    for word, glyph in _WHOLE.items():
        text = text.replace(word, glyph)
    return CLUSTER.sub(lambda m: _encode_cluster(m.group(1), m.group(2)), text).translate(
        _DIGITS_TO_LIMON
    )


def _encode_cluster(base: str, marks: str) -> str:
    left = right = ""
    ro = False
    subs: list[str] = []
    tail: list[str] = []
    i = 0
    while i < len(marks):
        ch = marks[i]
        if ch == _COENG and i + 1 < len(marks):
            sub = marks[i + 1]
            if sub == "រ":
                ro = True
            else:
                subs.append(_SUBSCRIPTS.get(sub, _COENG + sub))
            i += 2
            continue
        if ch in _PRE_VOWELS:
            left, right = _PRE_VOWELS[ch]
            tail.append(right)
        elif ch in _VOWELS:
            tail.append(_VOWELS[ch])
        else:
            tail.append(_SIGNS.get(ch, ch))
        i += 1
    head = _CONSONANTS.get(base) or _INDEPENDENT.get(base) or base
    return left + (_RO if ro else "") + head + "".join(subs) + "".join(tail)


def limon_variants(term: str) -> list[str]:
    """The forms a Khmer watchlist term takes in Limon-font text ([] if not Khmer).

    Two forms when the term has ៊ over an upper vowel: typists use either glyph.
    """
    if not re.search("[\u1780-\u17ff]", term):
        return []
    forms = [limon_encode(term), limon_encode(term, shifter_as_u=False)]
    return [f for i, f in enumerate(forms) if f != term and f not in forms[:i]]


def _decode_tables() -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str]]:
    bases = {v: k for k, v in {**_CONSONANTS, **_INDEPENDENT}.items()}
    subs: dict[str, str] = {}
    for letter, glyph in _SUBSCRIPTS.items():
        subs.setdefault(glyph, _DECODE_PREFER.get(glyph, letter))
    subs[_RO] = "រ"
    marks = {v: k for k, v in {**_VOWELS, **_SIGNS}.items()}
    marks.update({"o": "ៀ", "O": "ឿ", "A": "ៅ"})
    pre = {"e": "េ", "E": "ែ", "é": "ៃ"}
    return bases, subs, marks, pre


_BASES, _SUBS, _MARKS, _PRE = _decode_tables()
# e + consonant + right part → one split vowel.
_SPLIT = {"a": "ោ", "I": "ើ", "o": "ៀ", "O": "ឿ", "A": "ៅ"}
_DIGITS_BACK = {v: k for k, v in _DIGITS.items()}


def limon_decode(text: str) -> str:
    """Limon-font text (visual order) → Unicode Khmer in logical order, normalised.

    Characters with no Limon meaning pass through unchanged.
    """
    out: list[str] = []
    pre = ""  # pending left vowel glyph
    ro = False  # pending subscript ro
    base = ""
    subs: list[str] = []
    marks: list[str] = []

    def flush() -> None:
        nonlocal pre, ro, base, subs, marks
        if base:
            vowel = ""
            rest: list[str] = []
            for glyph in marks:
                if pre == "e" and glyph in _SPLIT and not vowel:
                    vowel, pre = _SPLIT[glyph], ""
                else:
                    rest.append(_MARKS[glyph])
            if pre:
                vowel = _PRE[pre] + vowel
            coengs = "".join(_COENG + s for s in subs) + (_COENG + "រ" if ro else "")
            out.append(base + coengs + vowel + "".join(rest))
        else:
            out.append((_PRE[pre] if pre else "") + ("\u17d2រ" if ro else ""))
        pre, ro, base, subs, marks = "", False, "", [], []

    text = _U_UPPER.sub("‘", text)
    for ch in text:
        if ch == "´":
            flush()
            out.append("ខ្ញុំ")
        elif ch in _PRE:
            flush()
            pre = ch
        elif ch == _RO:
            if base:
                flush()
            ro = True
        elif ch in _BASES:
            if base:
                flush()
            base = _BASES[ch]
        elif ch in _SUBS and base:
            subs.append(_SUBS[ch])
        elif ch in _MARKS and base:
            marks.append(ch)
        else:
            flush()
            out.append(_DIGITS_BACK.get(ch, ch))
    flush()
    return normalise_khmer("".join(out))
