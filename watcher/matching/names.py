"""How reporting writes a listed person's name (SPEC §5 people), as pure helpers.

Cambodian names are a family name then a given name ("Chhim Sithar"); English reporting
writes both orders, adds a middle initial ("Theary C. Seng"), shortens later mentions
to one part ("Chhun was arrested"), and romanises the same Khmer name several ways
("Chhim Sitha", "Chim Sithar"). Khmer reporting glues honorifics to the name
("លោកកឹមសុខា") and spells some names more than one way (ឈឹម ស៊ីថា / ឈឹម ស៊ីថរ).
"""

from __future__ import annotations

import re
from typing import Final

from watcher.text.khmer import starts_cluster
from watcher.text.normalise import normalise

# A middle initial ("Theary C. Seng", SPEC §5) is dropped from text and names alike, so
# the name matches with or without it. Single letters carry no meaning for any term.
# Normal text has single spaces between words and none at either end, so a one-letter
# word is " x" before a space or the end, or the first word ("a …"). Starting with a
# literal space lets `re` skip to spaces (2-3x faster than a lookbehind at every letter).
_INITIAL = re.compile(r" [a-z](?= |$)")
_KHMER_GAP = re.compile(" (?<=[\u1780-\u17ff] )(?=[\u1780-\u17ff])")


def match_normalise(text: str) -> str:
    """The normal form matching works on: SPEC §5 `normalise` minus middle initials."""
    text = normalise(text)
    dropped = _drop_initials(text)
    if len(dropped) == len(text):
        return text
    # Khmer words on either side of a dropped initial are glued, as normalise glues them.
    return dropped if dropped.isascii() else _KHMER_GAP.sub("", dropped)


def _drop_initials(text: str) -> str:
    """`text` (normalised) without its one-letter Latin words."""
    text = _INITIAL.sub("", text)
    if len(text) == 1 and "a" <= text <= "z":
        return ""
    if len(text) > 1 and text[1] == " " and "a" <= text[0] <= "z":
        return text[2:]
    return text


# Transliteration skeleton for fuzzy names: "Chhim Sithar", "Chim Sithar" and "Chhim
# Sitha" all read "cim sita"; "Kem Sohka" and "Kem Sokha" both "kem soka". h is dropped
# (romanisations differ on aspirates: ch/chh, k/kh), doubled letters are one, y is i,
# and a word-final r is dropped (Khmer final r is silent: ស៊ីថា / ស៊ីថរ).
# Patterns start with a literal or a plain class so that `re` scans quickly (~1 µs/kB).
_DOUBLED = re.compile(r"([a-z])(?=\1)")
_FINAL_R = re.compile(r"r(?![a-z])(?<=[a-z]r)")


def skeleton(text: str) -> str:
    """Phonetic skeleton of normalised Latin text, word count preserved (fuzzy names)."""
    text = text.replace("h", "").replace("y", "i")
    text = _DOUBLED.sub("", text)
    return _FINAL_R.sub("", text)


HONORIFICS: Final = (
    "mr",
    "mrs",
    "ms",
    "miss",
    "dr",
    "lok",
    "lok chumteav",
    "oknha",
    "his excellency",
    "her excellency",
    "samdech",
    "លោក",
    "លោកស្រី",
    "អ្នកស្រី",
    "កញ្ញា",
    "ឯកឧត្តម",
    "លោកជំទាវ",
    "សម្តេច",
    "អ្នកនាង",
    "ឧកញ៉ា",
)
HONORIFIC_WORDS: Final = frozenset(match_normalise(h) for h in HONORIFICS if " " not in h)
KHMER_HONORIFICS: Final = tuple(
    sorted(
        (match_normalise(h) for h in HONORIFICS if "\u1780" <= h[0] <= "\u17ff"),
        key=len,
        reverse=True,
    )
)


def strip_khmer_honorific(part: str) -> str:
    """Drop a Khmer honorific glued to a name in the people list ("លោកកឹម")."""
    for h in KHMER_HONORIFICS:
        if part.startswith(h) and len(part) > len(h) and starts_cluster(part, len(h)):
            return part[len(h) :]
    return part


def khmer_honorific_before(text: str, start: int) -> str:
    """The Khmer honorific that normalised `text` has right before `start`, or ""."""
    for h in KHMER_HONORIFICS:
        if text.startswith(h, max(0, start - len(h))) and start >= len(h):
            return h
    return ""


# Titles of officials. A name in an order the people list does not write, right after
# one of these, is an official who shares a defender's names ("Deputy Governor Sokha
# Sam" is not the activist Sam Sokha), and "Minister Sokha" alone is the minister.
_OFFICIAL_TITLE = re.compile(
    r"(?:\b(?:minister|governor|deputy|official|spokes(?:man|woman|person)|secretary|"
    r"undersecretary|general|commander|commissioner|chief|director[- ]general|"
    r"excellency|oknha|senator|ambassador|prosecutor|judge|tycoon|"
    r"h\.\s?e\.?)|ឯកឧត្តម|រដ្ឋមន្ត្រី|អភិបាល|ឧត្តមសេនីយ៍|អ្នកនាំពាក្យ)[\s,]*$",
    re.IGNORECASE,
)
# Capitalised words before or after a lone name part that are not someone's name.
NOT_A_NAME: Final = frozenset(
    """
    mr mrs ms miss dr lok oknha samdech police court judge prosecutor activist activists
    unionist leader president minister governor deputy official spokesman spokeswoman
    the a an and or but of in on at by for with to from as defender lawyer monitor
    director chief general his her their opposition former rights union said says told
    according monday tuesday wednesday thursday friday saturday sunday january february
    march april may june july august september october november december phnom penh
    cambodia cambodian
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def official_title_before(original: str, start: int) -> str:
    """The official title written right before original offset `start`, or ""."""
    m = _OFFICIAL_TITLE.search(original, max(0, start - 40), start)
    return m.group(0).strip(" ,") if m else ""
