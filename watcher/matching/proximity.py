"""Sentences and their context around a person and an arrest word (SPEC §5 proximity).

Matching finds names and `near` terms in the normalised text; this module answers the
questions that need the ORIGINAL text (its punctuation, capitals and line breaks):

- which sentence an offset is in (ICU's sentence break iterator, run only on the
  paragraphs that hold a candidate, so items without a person and a near term never
  pay for it);
- whether the next sentence refers back to the person ("He was charged…");
- whether the person is only the quoted source ("…, said Am Sam Ath"), or is named
  in a byline or photo caption;
- whether the sentence reports no new arrest (a past arrest told as background, an
  anniversary, a threat of arrest, a release): SPEC §5 lets such context turn a
  match into a possible match, never into silence.

All functions are pure over plain strings and offsets.
"""

from __future__ import annotations

import itertools
import re
from functools import lru_cache

from watcher.text.normalise import normalise

# --- sentences ------------------------------------------------------------------------

# ICU (`en@ss=standard`) already keeps "Mr. Kem Sokha" together; these are the
# abbreviations and initials it still splits after ("Theary C. Seng", "Lt. Gen. Sok Phal").
_NO_BREAK_AFTER = re.compile(
    r"(?:^|[\s(])(?:[A-Z]|Mr|Mrs|Ms|Dr|Prof|St|No|Gen|Lt|Col|Capt|Maj|Sgt|Gov|Sen|Rep|Hon|"
    r"Jr|Sr|vs|etc|Inc|Ltd|Co|Corp|Dept|Art|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|"
    r"Nov|Dec|H\.E|U\.S|U\.N)\.\s*$"
)


@lru_cache(maxsize=1)
def _icu_sentence_breaker() -> object | None:
    try:
        import icu  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:  # pragma: no cover - pyicu-wheels is a declared dependency
        return None
    # `ss=standard` turns on ICU's suppressions for "Mr.", "Dr." and the like.
    breaker: object = icu.BreakIterator.createSentenceInstance(icu.Locale("en@ss=standard"))
    return breaker


_FALLBACK_END = re.compile(r"(?<=[.!?\u17d4\u17d5])[\"'”’)\]]*\s+")


def split_sentences(paragraph: str) -> list[int]:
    """Offsets inside `paragraph` where a new sentence starts (0 is implied, not listed).

    English sentences end in . ! ?, Khmer ones in ។ or ៕ (ICU knows both); a full stop
    after an initial or a listed abbreviation does not end one.
    """
    breaker = _icu_sentence_breaker()
    if breaker is None:  # pragma: no cover - see above
        cuts = [m.end() for m in _FALLBACK_END.finditer(paragraph)]
    else:
        breaker.setText(paragraph)  # type: ignore[attr-defined]
        cuts = [b for b in breaker if 0 < b < len(paragraph)]  # type: ignore[attr-defined]
    return [c for c in cuts if not _NO_BREAK_AFTER.search(paragraph, max(0, c - 12), c)]


class Sentences:
    """Sentence spans of one original text, segmented lazily paragraph by paragraph.

    A line break always ends a sentence: feeds and pages put headlines, captions and
    bylines on lines of their own, without a full stop.
    """

    def __init__(self, original: str) -> None:
        self.original = original
        self._cache: dict[int, list[tuple[int, int]]] = {}

    def _paragraph(self, at: int) -> tuple[int, int]:
        text = self.original
        start = text.rfind("\n", 0, at) + 1
        end = text.find("\n", at)
        return start, len(text) if end < 0 else end

    def _spans(self, para_start: int, para_end: int) -> list[tuple[int, int]]:
        spans = self._cache.get(para_start)
        if spans is None:
            paragraph = self.original[para_start:para_end]
            bounds = [0, *split_sentences(paragraph), len(paragraph)]
            spans = [(para_start + a, para_start + b) for a, b in itertools.pairwise(bounds)]
            self._cache[para_start] = spans
        return spans

    def span(self, at: int) -> tuple[int, int]:
        """(start, end) in the original of the sentence holding offset `at`."""
        at = min(max(at, 0), max(len(self.original) - 1, 0))
        p_start, p_end = self._paragraph(at)
        for span in self._spans(p_start, p_end):
            if at < span[1]:
                return span
        return (p_start, p_end)

    def next_span(self, span: tuple[int, int]) -> tuple[int, int] | None:
        """The sentence after `span`, across a paragraph break if need be."""
        text = self.original
        pos = span[1]
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return None
        return self.span(pos)

    def paragraph(self, at: int) -> str:
        """The line (paragraph) holding offset `at`."""
        start, end = self._paragraph(at)
        return self.original[start:end]


# --- referring back ----------------------------------------------------------------------

# "He was detained…" / "លោកត្រូវបានចាប់ខ្លួន…": a next sentence that opens with a pronoun
# (or "the activist", "the unionist") as its subject refers back. In Khmer, លោក and
# អ្នកស្រី are also honorifics before another name, so only a pronoun followed by a verb
# marker (ត្រូវ, បាន, ក៏, នឹង…) counts.
_BACK_EN = re.compile(
    r"^(?:but |and |later |then |on \w+ |yesterday |today )?"
    r"(?:he|she|his|her|they|their|the (?:activist|unionist|union leader|opposition leader|"
    r"defender|rights defender|lawyer|monitor|environmentalist|journalist|former \w+))\b"
)
_BACK_KM = re.compile(
    r"^(?:ហើយ|ក្រោយមក|បន្ទាប់មក)?(?:លោកស្រី|អ្នកស្រី|លោក|គាត់|នាង|កញ្ញា)"
    r"(?:ត្រូវ|បាន|ក៏|នឹង|ស្ថិត|កំពុង|ដែល|មិន|ទើប|ធ្លាប់)"
)


def refers_back(sentence: str) -> bool:
    """True when a sentence opens by referring back to a person named just before it."""
    norm = normalise(sentence)
    return bool(_BACK_EN.match(norm) or _BACK_KM.match(norm))


# --- quoted source, byline, caption ------------------------------------------------------

_SPEECH_EN = (
    r"(?:said|says|told|tells|added|adds|explained|noted|stated|wrote|claimed|argued|"
    r"warned|stressed|insisted|commented|confirmed|recalled)"
)
# "NAME said", "NAME, director of LICADHO, told CamboJA" (an appositive between commas).
_QUOTED_AFTER_EN = re.compile(
    r"[\s\"'”’)]*(?:,[^,.;:!?\n]{1,120},\s*)?(?:has |had |also |then |later )?" + _SPEECH_EN + r"\b"
)
# "…, said Am Sam Ath." / "according to Am Sam Ath," : the name closes the clause.
_QUOTED_BEFORE_EN = re.compile(
    r"(?:\b" + _SPEECH_EN + r"|\baccording to|\bquoted|\bquoting)"
    r"\s+(?:(?:Mr|Mrs|Ms|Dr)\.?\s+|lok\s+|lok chumteav\s+|[a-z][\w-]*\s+){0,6}$",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[\s\"'”’)]*(?:[.,;:!?\n។៕]|$)")
# Khmer speech verbs after the name (an appositive may stand between: "លោក អំ សំអាត
# នាយករងអង្គការលីកាដូ បានថ្លែងថា…"), and "according to" before it.
_SPEECH_KM = re.compile(
    r"(?:បាន)?(?:ថ្លែងថា|ថ្លែងប្រាប់|និយាយថា|ប្រាប់|មានប្រសាសន៍ថា|លើកឡើងថា|បញ្ជាក់ថា|"
    r"ឱ្យដឹងថា|អោយដឹងថា|អះអាងថា|សរសេរថា)"
)
_QUOTED_BEFORE_KM = re.compile(r"(?:បើតាម|យោងតាម|តាមសម្ដីរបស់|តាមសម្តីរបស់)(?:លោកស្រី|អ្នកស្រី|លោក)?$")
_KHMER_APPOSITIVE = 60  # normalised characters between a Khmer name and its speech verb


def speech_after(original: str, end: int) -> int:
    """If a speech verb follows a name ending at `end`, the offset after it, else -1."""
    m = _QUOTED_AFTER_EN.match(original, end, min(len(original), end + 160))
    return m.end() if m else -1


def quoted_before(original: str, start: int, end: int) -> bool:
    """ "…, said NAME." / "according to NAME": a speech verb before a name that closes
    its clause."""
    before = original[max(0, start - 60) : start]
    if not _QUOTED_BEFORE_EN.search(before):
        return False
    return bool(_CLAUSE_END.match(original, end))


def khmer_speech_after(norm: str, end: int, limit: int) -> int:
    """In normalised Khmer text: the end of a speech verb shortly after `end`, else -1."""
    m = _SPEECH_KM.search(norm, end, min(limit, end + _KHMER_APPOSITIVE))
    return m.end() if m else -1


def khmer_quoted_before(norm: str, start: int) -> bool:
    """ "បើតាមលោក អំ សំអាត…" (according to …) just before a name."""
    return bool(_QUOTED_BEFORE_KM.search(norm, max(0, start - 20), start))


_BYLINE = re.compile(
    r"^\s*(?:by|reporting by|written by|story by|photo|photos|photo by|file photo|"
    r"រូបថត|អត្ថបទដោយ|ដោយ)\b",
    re.IGNORECASE,
)
_CAPTION_MARK = re.compile(
    r"\b(?:photo|photos|file photo|supplied|screenshot|screengrab)\s*[:/]|"
    r"\((?:photo|supplied|file)[^)]*\)|\bphoto (?:by|credit)|រូបថត",
    re.IGNORECASE,
)


def caption_or_byline(paragraph: str, whole: str) -> str:
    """Why the line holding a name is a byline or a photo caption, or "" if it is not.

    Captions repeat in scraped pages (the seed CamboJA article prints its caption twice,
    ending in the photographer's name), so a line found twice in the item is one too.
    """
    line = paragraph.strip()
    if not line:
        return ""
    if _BYLINE.match(line):
        return "a byline or photo credit"
    if _CAPTION_MARK.search(line):
        return "a photo caption"
    if len(line) > 30 and whole.count(line) > 1:
        return "a photo caption (the line is repeated)"
    return ""


# --- context that reports no new arrest ------------------------------------------------

_YEAR = r"(?:19|20)\d\d|[១២][៩០][០-៩][០-៩]"
# Sentence-wide cues: an anniversary, a retrospective, a release, a pardon.
_NOT_NEW_SENTENCE = re.compile(
    r"(?<![^ ])(?:anniversar\w*|years since|years after|year since|commemorat\w*|"
    r"remember\w*|retrospective|looking back|look back|timeline|released|freed|"
    r"walked free|pardon\w*|acquitted|released on bail|was released|were released|"
    r"served (?:his|her|their) sentence|completed (?:his|her|their) sentence|"
    r"in (?:\w+ )?(?:" + _YEAR + r")|(?:\w+ )?years ago|last year)(?![^ ])"
    r"|កាលពីឆ្នាំ|ឆ្នាំមុន|ខួប|ដោះលែង|លើកលែងទោស|រួចផុតពីពន្ធនាគារ|ចេញពីពន្ធនាគារ|រំលឹក|បានរួចខ្លួន"
)
# Cues right before the arrest word: a threat or a possibility, or a past told as such.
_NOT_NEW_BEFORE = re.compile(
    r"(?:(?<![^ ])(?:threat\w* (?:of|with|to)|could|may|might|would|will|risk\w*(?: of)?|"
    r"could face|may face|fear\w*(?: of)?|warn\w*(?: of)?|if|avoid\w*|escape\w*|"
    r"had been|previously|once|formerly|former|since (?:his|her|their)|remain\w*|still)"
    r"(?: \w+){0,2} $)"
    r"|(?:គំរាម.{0,15}|ព្រមាន.{0,15}|អាច(?:នឹង)?(?:ត្រូវ)?(?:បាន)?|ធ្លាប់(?:ត្រូវ)?(?:បាន)?|"
    r"ខ្លាច(?:ត្រូវ)?(?:បាន)?|ប្រឈមនឹង(?:ការ)?|នៅតែ(?:ត្រូវ)?(?:បាន)?)$"
)
# Cues right after the arrest word (Khmer): when it happened, if it was long ago.
_NOT_NEW_AFTER = re.compile(r".{0,25}(?:កាលពីឆ្នាំ|ឆ្នាំមុន|កាលពីពេលមុន|ពីមុន|កន្លងទៅ)")


def no_new_arrest(sentence_norm: str, near_start: int, near_end: int) -> str:
    """Why a sentence (normalised) reports no new arrest around the `near` term at
    [near_start, near_end), or "" when nothing says so."""
    m = _NOT_NEW_SENTENCE.search(sentence_norm)
    if m:
        return f"the sentence tells of {m.group(0)!r}, not a new arrest"
    before = sentence_norm[max(0, near_start - 40) : near_start]
    m = _NOT_NEW_BEFORE.search(before)
    if m:
        return f"{m.group(0).strip()!r} before the arrest word: a threat, possibility or past"
    m = _NOT_NEW_AFTER.match(sentence_norm, near_end, near_end + 60)
    if m:
        return f"{m.group(0).strip()!r} after the arrest word: a past arrest"
    return ""
