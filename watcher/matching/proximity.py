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
from collections.abc import Callable
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
    r"warned|stressed|insisted|commented|confirmed|recalled|"
    # the commentator on others' arrests: "X condemned the arrest of …"
    r"condemned|condemns|denounced|denounces|criticised|criticized|criticises|criticizes|"
    r"decried|decries|slammed|slams|urged|urges|called for|calls for|demanded|demands)"
)
# "NAME said", "NAME, director of LICADHO, told CamboJA" (an appositive between commas).
# Or a few plain words between ("Mr Sam Ath on Radio Free Asia Sunday stated …"): the
# caller counts the person as the source only when the arrest word comes after the verb.
# "Chak Sopheap: arrests must stop" (a headline giving the person's words) is one too.
_QUOTED_AFTER_EN = re.compile(
    r"(?:[ \t]*:|[\s\"'”’)]*(?:,[^,.;:!?\n]{1,120},\s*|(?:[\w’'-]+\s+){1,7}?)?"
    r"(?:has |had |also |then |later )?" + _SPEECH_EN + r"\b)"
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
    r"ឱ្យដឹងថា|អោយដឹងថា|អះអាងថា|សរសេរថា|ថ្កោលទោស|រិះគន់|អំពាវនាវ)"
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
    r"\((?:photo|supplied|file)[^)]*\)|\bphoto (?:by|credit)|រូបថត|រូបឯកសារ",
    re.IGNORECASE,
)


# "Jane Doe & John Roe - Outlet News" / "Jane Doe | Outlet": names, then the outlet.
_BYLINE_NAMES = re.compile(
    r"^(?:[A-Z][\w’'.-]+ ){1,3}[A-Z][\w’'.-]+"
    r"(?:\s*(?:&|and|,)\s*(?:[A-Z][\w’'.-]+ ){1,3}[A-Z][\w’'.-]+)*"
    r"\s+[-–—|/]\s+[A-Z][\w .&’'-]{1,40}$"
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
    # "Names - Outlet", but not a title-case headline ("Kem Sokha Sentenced - Outlet").
    headline = whole.lstrip().startswith(line)
    if len(line) < 90 and not headline and _BYLINE_NAMES.match(line):
        return "a byline or photo credit"
    if _CAPTION_MARK.search(line):
        return "a photo caption"
    # A headline repeated as the first line of the body is not a caption.
    if len(line) > 30 and whole.count(line) > 1 and not whole.lstrip().startswith(line):
        return "a photo caption (the line is repeated)"
    return ""


# --- context that reports no new arrest ------------------------------------------------
#
# Each cue has a rule name that `watcher explain` prints, so that staff see which habit of
# reporting decided (docs/matching.md lists them). Cues are read in the normalised
# sentence (lower case, punctuation gone, Khmer words glued).

_YEAR_RX = re.compile(r"(?<![0-9០-៩])((?:19|20)[0-9][0-9]|[១២][៩០][០-៩][០-៩])(?![0-9០-៩])")
_KHMER_DIGITS = str.maketrans("០១២៣៤៥៦៧៨៩", "0123456789")


def years_in(text: str) -> list[int]:
    """Every year (1900-2099, Latin or Khmer digits) written in `text`."""
    return [int(m.group(1).translate(_KHMER_DIGITS)) for m in _YEAR_RX.finditer(text)]


# A full date before a year ("March 14, 2020", "14 March 2020", "ថ្ងៃទី១៤ ខែមិថុនា
# ឆ្នាំ២០២២"): the date of a report or a dateline, not "in 2017" told as background.
_DAY_BEFORE_YEAR = re.compile(
    r"(?:[0-9]{1,2} [a-z]+|[a-z]+ [0-9]{1,2}(?:st|nd|rd|th)?) $|ថ្ងៃទី[0-9០-៩]{1,2}ខែ\S{1,12}ឆ្នាំ$"
)


def dated_years(text: str) -> list[tuple[int, bool, str]]:
    """Each year in normalised `text`, whether a day and month come before it, and the
    date as written."""
    out: list[tuple[int, bool, str]] = []
    for m in _YEAR_RX.finditer(text):
        day = _DAY_BEFORE_YEAR.search(text, max(0, m.start() - 30), m.start())
        written = text[day.start() : m.end()] if day else m.group(1)
        out.append((int(m.group(1).translate(_KHMER_DIGITS)), bool(day), written))
    return out


def _years_with_days(text: str) -> list[tuple[int, bool]]:
    """Each year in normalised `text`, and whether a day and month come before it."""
    return [
        (
            int(m.group(1).translate(_KHMER_DIGITS)),
            bool(_DAY_BEFORE_YEAR.search(text, max(0, m.start() - 30), m.start())),
        )
        for m in _YEAR_RX.finditer(text)
    ]


# Sentence-wide: an anniversary or a commemoration, a look back, time served.
_ANNIVERSARY = re.compile(
    r"(?<![^ ])(?:anniversar\w*|commemorat\w*|vigil\w*|years since|year since|"
    r"retrospective|looking back|look back|timeline|"
    r"mark(?:s|ed|ing)? (?:the )?(?:\w+ )?(?:one|two|three|four|five|ten|\d+|first|second|"
    r"third|fourth|fifth|tenth) ?(?:years?|months?|days))(?![^ ])"
    r"|ខួប|រំលឹក"
)
_SERVED = re.compile(
    r"(?<![^ ])(?:spent (?:\w+ ){0,5}(?:in|behind) (?:jail|prison|detention|bars|custody)|"
    r"serv(?:ed|ing) (?:his|her|their|a) (?:\w+ )?(?:sentence|term|years?)|"
    r"completed (?:his|her|their) (?:\w+ )?sentence)(?![^ ])"
)
# In the sentence: a release or pardon, unless the same sentence says the detention was
# short ("released after being detained for days").
_RELEASE_EN = re.compile(r"(?<![^ ])(?:released|freed|walked free|pardoned|acquitted)(?![^ ])")
# A call for release is arrest news, not a release: "ទាមទារឱ្យដោះលែង" (demand release).
_RELEASE_CALL_KM = re.compile(r"(?:ទាមទារ|ស្នើ|អំពាវនាវ|ឱ្យ|អោយ|ឲ្យ)$")
_RELEASE_KM = re.compile(r"ដោះលែង|លើកលែងទោស|រួចផុតពីពន្ធនាគារ|ចេញពីពន្ធនាគារ|បានរួចខ្លួន")
_SHORT_HOLD = re.compile(
    r"(?<![^ ])(?:(?:for|after) (?:\w+ ){0,2}(?:hours|days|nights)|"
    r"(?:for|after) (?:a|one|the) (?:day|night)|overnight|a night in|"
    r"spending a night)(?![^ ])|មួយយប់|ប៉ុន្មានម៉ោង|ប៉ុន្មានថ្ងៃ"
)
_PAST_NEAR_EN = re.compile(
    r"(?<![^ ])(?:(?:\w+ )?years ago|last year|that year|a year earlier|years earlier|"
    r"in the past|since (?:\w+ )?(?:19|20)[0-9][0-9])(?![^ ])"
)
# Right before the arrest word: a threat or a possibility ("I can have you arrested") ...
_THREAT_BEFORE = re.compile(
    r"(?:(?<![^ ])(?:threat\w* (?:of|with|to)|could|can|cannot|may|might|would|will|"
    r"risk\w*(?: of)?|face|faces|facing|fear\w*(?: of)?|warn\w*(?: of)?|if|avoid\w*|"
    r"escape\w*)(?: \w+){0,2} $|(?<![^ ])(?:can|could|will|would) have(?: \w+){1,4} $)"
    r"|(?:គំរាម.{0,15}|ព្រមាន.{0,15}|អាច(?:នឹង)?(?:ត្រូវ)?(?:បាន)?|"
    r"ខ្លាច(?:ត្រូវ)?(?:បាន)?|ប្រឈមនឹង(?:ការ)?)$"
)
# ... or a past told as such.
_PAST_BEFORE = re.compile(
    r"(?:(?<![^ ])(?:had been|previously|once|formerly|former|since (?:his|her|their)|"
    r"remain\w*|still)(?: \w+){0,2} $)"
    r"|(?:ធ្លាប់(?:ត្រូវ)?(?:បាន)?|នៅតែ(?:ត្រូវ)?(?:បាន)?)$"
)
# Right after the arrest word: only a warrant; (Khmer) when it happened, long ago.
_WARRANT_AFTER = re.compile(r" ?warrants?(?![^ ])|ដីកាចាប់ខ្លួន")
_PAST_AFTER_KM = re.compile(r".{0,25}(?:កាលពីឆ្នាំ|ឆ្នាំមុន|កាលពីពេលមុន|ពីមុន|កន្លងទៅ)")
_NEAR_WORDS = 8  # words either side of the arrest word that a local cue may stand in
_NEAR_KHMER = 45  # the same, in characters of glued Khmer


def _around(sentence_norm: str, start: int, end: int) -> tuple[str, str]:
    """The few words before and after [start, end) of a normalised sentence."""
    before = sentence_norm[max(0, start - 120) : start]
    after = sentence_norm[end : end + 120]
    if is_khmer_text(sentence_norm[start:end]):
        return before[-_NEAR_KHMER:], after[:_NEAR_KHMER]
    return (
        " ".join(before.split(" ")[-_NEAR_WORDS - 1 :]),
        " ".join(after.split(" ")[: _NEAR_WORDS + 1]),
    )


_DATED_AFTER = re.compile(r"(?: \w+){0,3} (?:in |on )?(?:19|20)[0-9][0-9](?![0-9])")


def commemorates(text_norm: str) -> bool:
    """True when normalised text tells of an anniversary, a vigil or a look back."""
    return bool(_ANNIVERSARY.search(text_norm))


def _release(sentence_norm: str) -> re.Match[str] | None:
    """A release the sentence tells of, unless it is dated to a year of its own ("who
    was arrested and released in 2021, …"): then it is background to another event."""
    for m in _RELEASE_EN.finditer(sentence_norm):
        if not _DATED_AFTER.match(sentence_norm, m.end()):
            return m
    return _release_km(sentence_norm)


def _release_km(text: str) -> re.Match[str] | None:
    """A Khmer release that is not a call for one."""
    for m in _RELEASE_KM.finditer(text):
        if not _RELEASE_CALL_KM.search(text, 0, m.start()):
            return m
    return None


def is_khmer_text(text: str) -> bool:
    """True when `text` holds a Khmer letter."""
    return any("\u1780" <= c <= "\u17ff" for c in text)


def no_new_arrest(
    sentence_norm: str,
    near_start: int,
    near_end: int,
    reference_year: Callable[[], int | None] = lambda: None,
    dated_by_day: Callable[[], bool] = lambda: False,
) -> tuple[str, str]:
    """(rule, reason) when a sentence (normalised) reports no new arrest around the
    `near` term at [near_start, near_end), or ("", "") when nothing says so.

    `reference_year()` is the item's own time (the latest year it mentions): a year
    written next to the arrest word before it marks a past arrest told as background.
    News leaves the year out of the current year's dates: when the item tells its own
    time by days (`dated_by_day()`: "on Monday", "Nov. 26"), a year written next to the
    arrest word, even the latest one, is another year's.
    """
    m = _ANNIVERSARY.search(sentence_norm)
    if m:
        return "anniversary", f"the sentence tells of {m.group(0)!r}, not a new arrest"
    m = _SERVED.search(sentence_norm)
    if m:
        return "time-served", f"the sentence tells of {m.group(0)!r}: time served, not news"
    before, after = _around(sentence_norm, near_start, near_end)
    near = f"{before} {after}"
    m = _release(sentence_norm)
    if m and not _SHORT_HOLD.search(sentence_norm):
        return "release", f"{m.group(0)!r} next to the arrest word: a release, not an arrest"
    years = _years_with_days(near) if _YEAR_RX.search(near) else []
    ref = reference_year() if years else None  # read the whole item only when needed
    if ref is not None:
        old = [
            y
            for y, full_date in years
            if y < ref or (y == ref and not full_date and dated_by_day())
        ]
        if old:
            return (
                "background-year",
                f"{old[0]} next to the arrest word, before the item's own time "
                f"({'its days' if old[0] == ref else ref}): "
                "a past arrest told as background",
            )
    m = _PAST_NEAR_EN.search(near)
    if m:
        return "background", f"{m.group(0)!r} next to the arrest word: a past arrest"
    head = sentence_norm[max(0, near_start - 40) : near_start]
    m = _THREAT_BEFORE.search(head)
    if m:
        return "threat", f"{m.group(0).strip()!r} before the arrest word: a threat or possibility"
    m = _PAST_BEFORE.search(head)
    if m:
        return "background", f"{m.group(0).strip()!r} before the arrest word: a past arrest"
    m = _WARRANT_AFTER.match(sentence_norm, near_end)
    if m:
        return "warrant", "an arrest warrant, not an arrest"
    m = _PAST_AFTER_KM.match(sentence_norm, near_end, near_end + 60)
    if m:
        return "background", f"{m.group(0).strip()!r} after the arrest word: a past arrest"
    return "", ""
