"""Text normalisation (SPEC §5): HTML to text, and one normal form for terms and text.

`normalise` is applied alike to watchlist terms and to item text, so that a term
matches however the source typed it: NFC, case-folded, invisible characters removed,
every dash the same, punctuation and whitespace between words equivalent (a single
space), Khmer marks in canonical order, and no space between two Khmer words (Khmer
puts spaces between phrases, not words, and sources differ in where they put them).

`align` rebuilds the same normal form token by token and remembers where each character
came from in the original, so that snippets quote the original text and proximity can
see sentence ends; it is slower and only runs for items that matched something.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

from watcher.text.khmer import KHMER_RANGE, normalise_khmer

# Invisible characters (SPEC §5): zero-width space and joiners, word joiner, invisible
# separator, BOM, soft hyphen, Khmer inherent vowels (U+17B4/U+17B5, "should not be
# used" per Unicode), and the other format characters that sources paste into text.
_INVISIBLE = (
    "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u17b4\u17b5"
    "\u180e\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)

# Dashes and hyphens that are not in Unicode category Pd but act as one.
_EXTRA_SEPARATORS = "\u2212\u2043\u02d7\u2796\ufe63\uff0d"


# Blocks whose letters and marks the table maps to themselves: on text that is not all
# ASCII, `str.translate` raises and catches a LookupError for every character its table
# lacks (~20% slower). `align` translates each Khmer token, and `_translate` text with
# an emoji.
_KEPT_BLOCKS = ((0x0000, 0x0250), (0x0300, 0x0370), (0x1780, 0x1800), (0x19E0, 0x1A00))


def _build_table() -> dict[int, str | int | None]:
    """Translation table: invisibles deleted, punctuation/whitespace/dashes to a space,
    the letters of common non-ASCII blocks to themselves."""
    table: dict[int, str | int | None] = {}
    # Planes 0-1 hold every punctuation and space character that news text uses.
    for cp in range(0x20000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        cat = unicodedata.category(ch)
        # P*: punctuation, incl. every dash (Pd) and Khmer khan/bariyoosan;
        # Z*/Cc: whitespace and controls; Sk/Sm: ^ ` ´ + = < > | ~ and the like.
        if cat[0] == "P" or cat[0] == "Z" or cat == "Cc" or cat in ("Sk", "Sm"):
            table[cp] = " "
    for ch in _EXTRA_SEPARATORS:
        table[ord(ch)] = " "
    for ch in _INVISIBLE:
        table[ord(ch)] = None
    for lo, hi in _KEPT_BLOCKS:
        for cp in range(lo, hi):
            table.setdefault(cp, cp)
    return table


_TABLE = _build_table()


def _char_class(cps: Iterable[int]) -> str:
    """The inside of a regex character class holding the code points `cps`, as ranges."""
    ordered = sorted(cps)
    ranges: list[str] = []
    lo = prev = ordered[0]
    for cp in [*ordered[1:], -1]:
        if cp == prev + 1:
            prev = cp
            continue
        ranges.append(re.escape(chr(lo)) + ("-" + re.escape(chr(prev)) if prev > lo else ""))
        lo = prev = cp
    return "".join(ranges)


_SEPARATORS = tuple(sorted(cp for cp, out in _TABLE.items() if out == " "))
# For `_translate`: the table's separators and invisibles as regex classes, split so
# that each class holds only code points below U+10000 (see there).
_WIDE_SEPARATOR = re.compile(f"[{_char_class(c for c in _SEPARATORS if 0x80 <= c < 0x10000)}]")
_ASCII_SEPARATOR = re.compile(f"[{_char_class(c for c in _SEPARATORS if c < 0x80)}]")
_INVISIBLE_CHAR = re.compile(f"[{_char_class(ord(c) for c in _INVISIBLE)}]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_SPACES = re.compile(r" {2,}")
# Starts with the space so that the regex engine can skip to spaces quickly.
_KHMER_GAP = re.compile(f" (?<=[{KHMER_RANGE}] )(?=[{KHMER_RANGE}])")


def normalise(text: str) -> str:
    """Return the SPEC §5 normal form of `text` (a term or an item's text).

    `normalise("Sub‑Decree") == normalise("sub decree") == "sub decree"`.
    """
    text = normalise_khmer(_translate(unicodedata.normalize("NFC", text).casefold()))
    # The table turns every whitespace character into a space or nothing (a test in
    # test_matching_speedups checks it), so split() gives the words: spaces collapsed
    # and stripped in one C call.
    text = " ".join(text.split())
    return text if text.isascii() else _KHMER_GAP.sub("", text)


def _translate(text: str) -> str:
    """`text.translate(_TABLE)`, faster on text that is not all ASCII.

    CPython translates ASCII text quickly, but other text one character at a time
    through the dict (~45 ns each). A regex class of code points below U+10000 is a
    bitmap lookup, so the few separators of Khmer text, or the curly quotes of English,
    are replaced by regex instead (a 1.5 kB item: Khmer 44 → 18 µs, English with
    curly quotes 76 → 21 µs). A class with higher code points is a slow list of
    ranges: text holding any (emoji) keeps `translate`.
    """
    if text.isascii() or _ASTRAL.search(text):
        return text.translate(_TABLE)
    if _INVISIBLE_CHAR.search(text):
        text = _INVISIBLE_CHAR.sub("", text)
    text = _WIDE_SEPARATOR.sub(" ", text)
    if text.isascii():
        return text.translate(_TABLE)
    return _ASCII_SEPARATOR.sub(" ", text)


def is_separator(ch: str) -> bool:
    """True for a character that normalisation turns into a word gap."""
    return _TABLE.get(ord(ch), "x") == " "


# --- HTML ---------------------------------------------------------------------------

_BLOCK_TAGS = (
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "td",
    "th",
    "table",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "figcaption",
    "pre",
    "dt",
    "dd",
    "hr",
    "title",
)
_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "svg", "head")
_DROP_SELECTOR = ", ".join(_DROP_TAGS)
_BLOCK_SELECTOR = ", ".join(_BLOCK_TAGS)
_BLANK_LINES = re.compile(r"\n\s*\n\s*")
_LINE_SPACE = re.compile(r"[ \t\r\f\v]+")


def html_to_text(html: str) -> str:
    """Strip tags (dropping script/style), decode entities, keep paragraph breaks.

    Block elements end in a blank line, so sentence and paragraph ends survive for
    proximity (SPEC §5). Never raises on malformed input; plain text comes back as is.
    """
    if not html:
        return ""
    if "<" not in html and "&" not in html:
        return html.strip()
    try:
        tree = LexborHTMLParser(html)
        # One selector per kind: one walk of the tree each, not one per tag.
        for node in tree.css(_DROP_SELECTOR):
            node.decompose()
        root = tree.body or tree.root
        if root is None:
            return ""
        for node in root.css(_BLOCK_SELECTOR):
            node.insert_after("\n\n")
        text = root.text(deep=True, separator="", strip=False)
    except (ValueError, TypeError, RuntimeError, AttributeError):
        # selectolax raises on a few degenerate inputs (e.g. NUL-heavy bytes decoded to
        # str); fall back to a crude tag strip rather than losing the item.
        import html as html_lib

        text = html_lib.unescape(re.sub(r"<[^>]*>", " ", html))
    text = text.replace("\xa0", " ")
    text = _LINE_SPACE.sub(" ", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


# --- alignment with the original text -----------------------------------------------

# Abbreviations after which a full stop does not end a sentence (SPEC §5 proximity).
_ABBREVIATIONS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "no",
        "gen",
        "lt",
        "col",
        "capt",
        "maj",
        "sgt",
        "gov",
        "sen",
        "rep",
        "hon",
        "jr",
        "sr",
        "vs",
        "etc",
        "inc",
        "ltd",
        "co",
        "corp",
        "dept",
        "art",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)
_SENTENCE_END = frozenset(".!?\u17d4\u17d5\n")


@dataclass(frozen=True)
class Aligned:
    """Normalised text with, for each of its characters, the offset in the original.

    `sentences` holds the normalised offsets at which a new sentence starts (after
    `.`/`!`/`?`/`។`/`៕` or a line break; not after `Mr.` or an initial `C.`).
    """

    original: str
    text: str
    offsets: tuple[int, ...]
    sentences: tuple[int, ...]

    def to_original(self, i: int) -> int:
        """Map a normalised offset to the offset of the same character in the original."""
        if not self.offsets:
            return 0
        if i >= len(self.offsets):
            return len(self.original)
        return self.offsets[max(i, 0)]

    def sentence_of(self, i: int) -> int:
        """Index of the sentence that normalised offset `i` is in."""
        return bisect_right(self.sentences, i)


def align(original: str, drop: re.Pattern[str] | None = None, stop: int | None = None) -> Aligned:
    """Normalise `original` token by token, keeping offsets and sentence starts.

    `drop` (optional) names whole normalised tokens to leave out, as the matcher does
    with middle initials. `stop` ends the work once that many normalised characters
    are aligned (a snippet near the start needs no more). Produces the same text as the
    fast path; if it ever did not
    (an exotic character whose NFC spans a separator), offsets are spread evenly so
    that snippets stay close.
    """
    pieces: list[str] = []
    offsets: list[int] = []
    sentences: list[int] = []
    length = 0
    prev_token = ""
    pending_break = False
    last_end = 0
    for raw in _iter_tokens(original):
        start, token = raw
        gap = original[last_end:start]
        if pieces and gap != " " and _ends_sentence(gap, prev_token):
            pending_break = True
        last_end = start + len(token)
        # ASCII tokens (most of English text) only need lower-casing.
        norm = token.lower() if token.isascii() else _normalise_token(token)
        if not norm or (drop is not None and drop.fullmatch(norm)):
            if norm:
                prev_token = norm
            continue
        if pieces:
            joined = _needs_space(pieces[-1][-1], norm[0])
            if joined:
                pieces.append(" ")
                offsets.append(start - 1 if start > 0 else 0)
                length += 1
        if pending_break:
            sentences.append(length)
            pending_break = False
        pieces.append(norm)
        if len(norm) == len(token):
            offsets.extend(range(start, start + len(token)))
        else:
            scale = len(token) / len(norm)
            offsets.extend(start + int(k * scale) for k in range(len(norm)))
        length += len(norm)
        prev_token = norm
        if stop is not None and length > stop:
            break
    return Aligned(original, "".join(pieces), tuple(offsets), tuple(sentences))


_TOKEN_RUN = re.compile(f"[^{_char_class(_SEPARATORS)}]+")


def _iter_tokens(original: str) -> Iterator[tuple[int, str]]:
    """Runs of characters that normalisation keeps together (between separators)."""
    for m in _TOKEN_RUN.finditer(original):
        yield m.start(), m.group(0)


def _normalise_token(token: str) -> str:
    text = unicodedata.normalize("NFC", token).casefold().translate(_TABLE)
    text = normalise_khmer(text)
    if " " in text:  # casefold produced a separator (never seen, but stay exact)
        text = _SPACES.sub(" ", text).strip(" ")
        text = _KHMER_GAP.sub("", text)
    return text


def _needs_space(left: str, right: str) -> bool:
    return not (_is_khmer(left) and _is_khmer(right))


def _is_khmer(ch: str) -> bool:
    return "\u1780" <= ch <= "\u17ff" or "\u19e0" <= ch <= "\u19ff"


def _ends_sentence(gap: str, prev_token: str) -> bool:
    """Whether the separators between two tokens end a sentence."""
    if not any(ch in _SENTENCE_END for ch in gap):
        return False
    if "\n" in gap or "\u17d4" in gap or "\u17d5" in gap or "!" in gap or "?" in gap:
        return True
    # A full stop ends a sentence unless it closes an initial or an abbreviation
    # ("Theary C. Seng", "Mr. Kem Sokha") or sits inside a number ("1.5").
    dot = gap.index(".")
    if not any(c.isspace() for c in gap[dot:]):
        return False
    return not (len(prev_token) == 1 or prev_token in _ABBREVIATIONS)
