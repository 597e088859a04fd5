"""One item's text in the forms matching needs: normalised, aligned with the original,
as a phonetic skeleton, split into words and sentences. Slow forms are built only when a
hit needs them.

Also the text helpers around it: where an acronym is spelled out, and the word next to
a span.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate

from watcher.matching import proximity
from watcher.matching.names import match_normalise, skeleton
from watcher.text.khmer import is_khmer, segment_words
from watcher.text.normalise import Aligned, align

_INITIAL_TOKEN = re.compile(r"[a-z]")
_SMALL_WORDS = frozenset(("of", "and", "for", "the", "on", "de", "du", "&"))
_GAP_CLASS = r"[\s\W_]+"
_INVISIBLES = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
_INVISIBLE_CLASS = f"[{_INVISIBLES}]*"
_HAS_INVISIBLE = re.compile(f"[{_INVISIBLES}]")
# Khmer words are glued by normalisation: the original may have spaces between them.
_KHMER_INSIDE = f"[\\s{_INVISIBLES}]*"
_ONE_MORE = (1).__add__  # a word's length and the space after it
# Needle regexes a Matcher keeps for every item (then it starts again): ~1 kB each
# (~5 kB with invisible characters), while a name or term found costs ~30 µs to compile.
_NEEDLES_KEPT = 2048


class ItemText:
    """One item's text in the forms matching needs, built lazily (slow parts only on hits)."""

    def __init__(
        self, original: str, needles: dict[tuple[str, bool], re.Pattern[str]] | None = None
    ) -> None:
        self.original = original
        self.text = match_normalise(original)
        self._needles = needles if needles is not None else {}
        self._aligned: Aligned | None = None
        self._skeleton: str | None = None
        self._word_starts: list[int] | None = None
        self._segmented: list[int] | None = None
        # Item-wide readings of the event rules (matching/events.py), computed once.
        self.memo: dict[str, object] = {}
        self._sentences: proximity.Sentences | None = None
        self._acronyms: dict[str, str | None] = {}
        self._found: dict[str, list[tuple[int, int]]] = {}
        self._invisible: bool | None = None  # whether the original holds any

    @property
    def aligned(self) -> Aligned:
        """Normalised text aligned with the original (~0.2 ms a 2 kB item: only for
        items with a person and a near term, or a snippet the fast path cannot place)."""
        if self._aligned is None:
            aligned = align(self.original, drop=_INITIAL_TOKEN)
            if aligned.text != self.text:  # pragma: no cover - defensive, see align()
                n = max(len(self.text), 1)
                scale = len(self.original) / n
                aligned = Aligned(
                    self.original,
                    self.text,
                    tuple(int(i * scale) for i in range(len(self.text))),
                    (),
                )
            self._aligned = aligned
        return self._aligned

    @property
    def sentences(self) -> proximity.Sentences:
        """The original text's sentences and paragraphs (for proximity rules)."""
        if self._sentences is None:
            self._sentences = proximity.Sentences(self.original)
        return self._sentences

    @property
    def skeleton(self) -> str:
        """The normalised text's phonetic skeleton (for fuzzy names), word for word."""
        if self._skeleton is None:
            self._skeleton = skeleton(self.text)
        return self._skeleton

    def word_start(self, index: int) -> int:
        """Offset in `text` of its word number `index` (words are space-separated)."""
        if self._word_starts is None:
            # Each word starts one past the end of the one before: C-level sums (5x
            # faster than a find() loop over the spaces).
            ends = accumulate(map(_ONE_MORE, map(len, self.text.split(" "))), initial=0)
            self._word_starts = list(ends)[:-1]
        return self._word_starts[min(index, len(self._word_starts) - 1)]

    def word_number(self, start: int) -> int:
        """Which word (from 1) normalised offset `start` is in, as `explain` says it.

        Khmer has no spaces between words: there the words are the segmenter's (the
        ones SPEC §5 proximity counts), not the space-separated runs, which would put
        every hit of a Khmer sentence "at word 1".
        """
        if self._segmented is None:
            if not any(is_khmer(c) for c in self.text):
                self._segmented = []
            else:
                starts: list[int] = []
                pos = 0
                for word in segment_words(self.text):
                    at = self.text.find(word, pos)
                    if at < 0:  # pragma: no cover - the segmenter returns pieces of text
                        continue
                    starts.append(at)
                    pos = at + len(word)
                self._segmented = starts
        if not self._segmented:
            return self.text.count(" ", 0, start) + 1
        return max(bisect_right(self._segmented, start), 1)

    def acronym_meaning(self, acronym: str) -> str | None:
        """How the original writes `acronym`: None if never in capitals; else what it
        is spelled out as ("Nigerian Investment Group (NIG)"), "" if it is not."""
        if acronym not in self._acronyms:
            meaning: str | None = None
            if re.search(rf"(?<![A-Za-z]){acronym}(?:s|es)?(?![A-Za-z])", self.original):
                meaning = _spelled_out(self.original, acronym)
            self._acronyms[acronym] = meaning
        return self._acronyms[acronym]

    def to_original(self, i: int) -> int:
        """Offset in the original of normalised offset `i` (aligns the whole item)."""
        return self.aligned.to_original(i)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """[start, end) of the normalised text as a span of the original.

        Fast path: a regex built from the hit's normal form finds it in the original
        (~2 µs), when the original holds exactly as many as the normal form; aligning
        the whole item (~0.5 ms for 2 kB) is the fallback.
        """
        if self._aligned is None:
            located = self._locate(start, end)
            if located is not None:
                return located
        aligned = self.aligned
        o_start = aligned.to_original(start)
        return o_start, max(aligned.to_original(max(end - 1, start)) + 1, o_start)

    def _locate(self, start: int, end: int) -> tuple[int, int] | None:
        needle = self.text[start:end]
        if not needle:
            return None
        # A hit is located several times (proximity, context, snippet): search once.
        found = self._found.get(needle)
        if found is None:
            found = self._found[needle] = self._find_all(needle)
        if len(found) != self.text.count(needle):
            return None  # normalisation changed more than case and gaps here
        return found[self.text.count(needle, 0, start)]

    def _find_all(self, needle: str) -> list[tuple[int, int]]:
        """Every span of the original that reads as `needle` once normalised."""
        if self._invisible is None:
            self._invisible = _HAS_INVISIBLE.search(self.original) is not None
        key = (needle, self._invisible)
        rx = self._needles.get(key)
        if rx is None:
            if len(self._needles) >= _NEEDLES_KEPT:
                self._needles.clear()
            rx = self._needles[key] = _needle_regex(needle, self._invisible)
        return [m.span() for m in rx.finditer(self.original)]


def _spelled_out(original: str, acronym: str) -> str:
    """The capitalised words right before "(ACRONYM)" whose initials spell it, normalised."""
    for m in re.finditer(rf"\(\s*{acronym}\s*\)", original):
        words = re.findall(r"[\w’'&-]+", original[max(0, m.start() - 120) : m.start()])
        initials: list[str] = []
        taken: list[str] = []
        for word in reversed(words):
            if word.lower() in _SMALL_WORDS and taken:
                taken.append(word)
                continue
            if not word[:1].isupper():
                break
            initials.append(word[0])
            taken.append(word)
            if len(initials) == len(acronym):
                break
        if "".join(reversed(initials)).upper() == acronym:
            return match_normalise(" ".join(reversed(taken)))
    return ""


def _needle_regex(needle: str, invisible: bool = True) -> re.Pattern[str]:
    """A regex finding the original text of a hit: case-insensitive, any punctuation
    or space between words, invisible characters (and, in Khmer, spaces) anywhere.

    `invisible=False` leaves the invisible characters out, for an original that has
    none: there it finds the same spans, and it compiles ~50x faster (~30 µs), for
    `re` turns each class of scattered non-Latin characters into a 64k-entry bitmap.
    """
    words = needle.split(" ")
    latin, khmer = (_INVISIBLE_CLASS, _KHMER_INSIDE) if invisible else ("", r"\s*")
    inside = [khmer if any(is_khmer(c) for c in w) else latin for w in words]
    body = _GAP_CLASS.join(
        join.join(re.escape(c) for c in w) for w, join in zip(words, inside, strict=True)
    )
    return re.compile(body, re.IGNORECASE)


def term_initials(term: str) -> str:
    """The initials of a normalised term, small words left out ("nig" for "national internet
    gateway"): whether the term spells out an acronym."""
    return "".join(w[0] for w in term.split(" ") if w and w not in _SMALL_WORDS)


def neighbour(text: str, start: int, end: int, side: int) -> tuple[int, int] | None:
    """Span of the word right after [start, end) (side +1) or right before (side -1)."""
    if side > 0:
        if end + 1 >= len(text) or text[end] != " ":
            return None
        stop = text.find(" ", end + 1)
        return (end + 1, len(text) if stop < 0 else stop)
    if start < 2 or text[start - 1] != " ":
        return None
    begin = text.rfind(" ", 0, start - 1) + 1
    return (begin, start - 1)
