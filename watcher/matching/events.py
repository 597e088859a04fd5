"""Events, not mentions (SPEC §5): does an item report an arrest as news?

A listed person near an arrest word is the start, not the end: news reports the event
in its headline or lead (the inverted pyramid) or dates it to a recent day ("on
Friday", "yesterday", "ម្សិលមិញ"); a feature, an economy story or an interview that
names the person and mentions an arrest further down tells it as background. This
module reads those habits of reporting from the original text; `decide` applies them:

- `lead_end`: where the headline and lead (the title line and the first two sentences
  of the body, bylines, captions and a repeated title left out) end;
- `reference_year`: the item's own time as the text tells it, the latest year it
  mentions (a feed's date is often that of a re-publication or a crawl);
- `recent_day`: a recent day named in a sentence;
- `question`: a sentence that asks ("Why was he arrested?") reports nothing.

All functions are pure over the item's text.
"""

from __future__ import annotations

import re

from watcher.matching import proximity
from watcher.matching.hits import Hit
from watcher.matching.text import ItemText
from watcher.text.normalise import normalise

_LEAD_SENTENCES = 2

_DAYS_EN = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_MONTHS_EN = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# A recent day as English news writes it: a weekday, yesterday, this week, or a date
# without a year (news leaves the year out for the current one).
_RECENT_EN = re.compile(
    rf"\b(?:{_DAYS_EN}|yesterday|today|tonight|this (?:week|morning|afternoon|evening|month)"
    rf"|last (?:week|night)|earlier (?:this|today)"
    rf"|{_MONTHS_EN} \d{{1,2}}(?:st|nd|rd|th)?\b(?!,? \d{{4}})"
    rf"|\d{{1,2}}(?:st|nd|rd|th)? {_MONTHS_EN}(?! \d{{4}}))",
    re.IGNORECASE,
)
# The same in Khmer (normalised: words glued): today, yesterday, last night, this
# morning, a weekday, this week.
_KM_MONTHS = "មករា|កុម្ភៈ|មីនា|មេសា|ឧសភា|មិថុនា|កក្កដា|សីហា|កញ្ញា|តុលា|វិច្ឆិកា|ធ្នូ"
_RECENT_KM = re.compile(
    r"ថ្ងៃនេះ|ម្សិលមិញ|យប់មិញ|ព្រឹកមិញ|ល្ងាចមិញ|ព្រឹកនេះ|រសៀលនេះ|ល្ងាចនេះ|យប់នេះ|"
    r"សប្ដាហ៍នេះ|សប្តាហ៍នេះ|ថ្ងៃ(?:ចន្ទ|អង្គារ|ពុធ|ព្រហស្បតិ៍|សុក្រ|សៅរ៍|អាទិត្យ)|"
    # a date without a year: "ថ្ងៃទី២៨ ខែកញ្ញា" (news leaves out the current year)
    rf"ថ្ងៃទី[0-9០-៩]{{1,2}}ខែ(?:{_KM_MONTHS})(?!ឆ្នាំ|[0-9០-៩])"
)
_HAS_KHMER = re.compile("[\u1780-\u17ff]")  # normalise() only text that holds Khmer
_QUESTION_START = re.compile(r"^\W*(?:why|how|what|who|when|was|did|is|តើ|ហេតុអ្វី)\b", re.I)


def reference_year(item: ItemText) -> int | None:
    """The latest year the item's text mentions, or None when it names none."""
    if "year" not in item.memo:
        years = proximity.years_in(item.text)
        item.memo["year"] = max(years) if years else None
    return item.memo["year"]  # type: ignore[return-value]


def dated_by_day(item: ItemText) -> bool:
    """Whether the item tells its own time by days ("on Monday", "Nov. 26")."""
    found = item.memo.get("dated_by_day")
    if found is None:
        found = item.memo["dated_by_day"] = bool(
            _RECENT_EN.search(item.original) or _RECENT_KM.search(item.text)
        )
    return bool(found)


def headline_end(item: ItemText) -> int:
    """Offset in the original where the headline (the first line) ends."""
    end = item.original.find("\n")
    return len(item.original) if end < 0 else end


def lead_end(item: ItemText) -> int:
    """Offset in the original where the headline and lead end."""
    found = item.memo.get("lead_end")
    if found is None:
        found = item.memo["lead_end"] = _lead_end(item)
    assert isinstance(found, int)
    return found


def _lead_end(item: ItemText) -> int:
    original = item.original
    lines = original.split("\n")
    pos = 0
    title = ""
    taken = 0
    for line in lines:
        start, pos = pos, pos + len(line) + 1
        text = line.strip()
        if not text:
            continue
        if not title:
            title = text.casefold()
            continue
        if text.casefold() == title or proximity.caption_or_byline(line, original):
            continue
        for s_start, s_end in _sentences_of(item, start, start + len(line)):
            if original[s_start:s_end].strip():
                taken += 1
                if taken >= _LEAD_SENTENCES:
                    return s_end
    return len(original)


def _sentences_of(item: ItemText, start: int, end: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    at = start
    while at < end:
        span = item.sentences.span(at)
        if span[1] <= at:
            break
        out.append(span)
        at = span[1]
    return out


def recent_day(sentence: str) -> str:
    """A recent day the sentence names ("on Friday", "yesterday", "Nov. 26"), or ""."""
    m = _RECENT_EN.search(sentence)
    if m:
        return m.group(0)
    m = _HAS_KHMER.search(sentence) and _RECENT_KM.search(normalise(sentence))
    return m.group(0) if m else ""


def question(sentence: str) -> bool:
    """True when a sentence asks rather than reports."""
    text = sentence.strip().rstrip("\"'”’»)] ")
    return text.endswith("?") or bool(_QUESTION_START.match(text) and "?" in text)


# A body being set up, in English and Khmer: create, establish, form, set up, appoint,
# launch, new (Khmer: បង្កើត create, រៀបចំ organise, តែងតាំង appoint, ថ្មី new).
_SET_UP_EN = re.compile(
    r"\b(?:set(?:s|ting)? up|establish\w*|creat\w*|form(?:s|ed|ing|ation)?|launch\w*|"
    r"appoint\w*|new|newly)\b",
    re.IGNORECASE,
)
_SET_UP_KM = re.compile(r"បង្កើត|រៀបចំ|តែងតាំង|ថ្មី")


def set_up(sentence: str) -> str:
    """The word by which a sentence reports a body being set up, or ""."""
    m = _SET_UP_EN.search(sentence) or _SET_UP_KM.search(normalise(sentence))
    return m.group(0) if m else ""


# A link teaser of page chrome: cut short ("…") and naming a web site.
_TRUNCATED = re.compile(r"…|\.\.\.")
_DOMAIN = re.compile(r"\b[\w-]+\.(?:com|org|net|info|news|asia|gov|int|kh|io|co)\b", re.I)


def teaser_lines(item: ItemText) -> list[tuple[int, int]]:
    """Spans of the original's lines that are teasers of other pages (memoised)."""
    found = item.memo.get("teasers")
    if found is None:
        found = item.memo["teasers"] = _teaser_lines(item.original)
    return found  # type: ignore[return-value]


def _teaser_lines(original: str) -> list[tuple[int, int]]:
    if "…" not in original and "..." not in original:  # str search: much faster than re
        return []
    out: list[tuple[int, int]] = []
    pos = 0
    for line in original.split("\n"):
        if ("…" in line or "..." in line) and _DOMAIN.search(line):
            out.append((pos, pos + len(line)))
        pos += len(line) + 1
    return out


def teaser(line: str) -> bool:
    """True when a line is a teaser of another page (aggregators, related links)."""
    return bool(_TRUNCATED.search(line) and _DOMAIN.search(line))


_WHAT_IS_RX = re.compile(r"(?:what is|what are|what s|អ្វីទៅជា|អ្វីជា) ?")
_IS_A_AFTER = re.compile(r" ?(?:is|are|means|refers to|គឺជា|គឺ|សំដៅលើ|មានន័យថា)(?![a-z])")
_ARTICLE = re.compile(r"^(?:an? |the )")


def _title(item: ItemText, title_end: int) -> str:
    found = item.memo.get("title")
    if found is None:
        found = item.memo["title"] = normalise(item.original[:title_end])
    return str(found)


def explained_terms(item: ItemText, hits: list[Hit]) -> dict[str, str]:
    """Terms the item explains rather than reports, with how: its headline asks what
    the term is ("What is a sub-decree?"), or a lead sentence opens by defining it
    ("A sub-decree is a …"). "What is the new sub-decree?" is not: it is about one."""
    out: dict[str, str] = {}
    first: dict[str, Hit] = {}
    for hit in hits:
        if hit.role.label not in first or hit.start < first[hit.role.label].start:
            first[hit.role.label] = hit
    lead = -1
    title_end = item.original.find("\n")
    title_end = len(item.original) if title_end < 0 else title_end
    text = item.text
    # The first mention of a term decides: an explainer names it in its headline or lead.
    for label, hit in first.items():
        word = text[hit.start : hit.end]
        # Normalising drops characters, never adds: a hit past the headline's original
        # length is past the headline.
        if hit.start < title_end and hit.start < len(title := _title(item, title_end)):
            for m in _WHAT_IS_RX.finditer(title):
                if _ARTICLE.sub("", title[m.end() :], count=1).startswith(word):
                    out[label] = "the headline asks what it is"
            continue
        # Cheap first: is this mention followed by "is", "គឺជា"…?
        if not _IS_A_AFTER.match(text, hit.end):
            continue
        o_start = item.original_span(hit.start, hit.end)[0]
        if lead < 0:
            lead = lead_end(item)
        if o_start >= lead:
            continue
        span = item.sentences.span(o_start)
        sentence = normalise(item.original[span[0] : span[1]])
        if _ARTICLE.sub("", sentence, count=1).startswith(word):
            out[label] = "the lead defines it"
    return out


# The legal process as a headline or lead reports it, besides the arrest words
# themselves: a court, a trial or hearing, a verdict, a prison (transfer, hearing).
_LEGAL_EN = re.compile(r"\b(?:court|trial|verdict|hearing|prison)s?\b", re.IGNORECASE)
_LEGAL_KM = re.compile(r"តុលាការ|សវនាការ|សាលក្រម|ពន្ធនាគារ")


def legal_process(text: str) -> str:
    """A word by which a headline or lead reports the legal process, or ""."""
    m = _LEGAL_EN.search(text) or (_HAS_KHMER.search(text) and _LEGAL_KM.search(normalise(text)))
    return m.group(0) if m else ""


# The product watches Cambodia (SPEC §1). An item whose headline places itself in another
# country ("Nepal's national internet gateway", "In Pakistan: …") and that never names
# Cambodia is about that country's body or decree, not the one staff watch.
_HOME = re.compile(r"cambodia|khmer|phnom penh|kingdom|[\u1780-\u17ff]", re.IGNORECASE)
_COUNTRIES = (
    "Afghanistan|Algeria|Australia|Azerbaijan|Bangladesh|Belarus|Bhutan|Brazil|Brunei|"
    "Burma|Canada|China|Cuba|Egypt|Ethiopia|France|Germany|Hong Kong|India|Indonesia|Iran|"
    "Iraq|Japan|Kazakhstan|Kenya|Korea|Kyrgyzstan|Laos|Malaysia|Mexico|Mongolia|Myanmar|"
    "Nepal|Nicaragua|Nigeria|Pakistan|Philippines|Russia|Rwanda|Saudi Arabia|Singapore|"
    "Sri Lanka|Syria|Taiwan|Tajikistan|Tanzania|Thailand|Timor-Leste|Turkey|Turkmenistan|"
    "Uganda|Ukraine|United Kingdom|Uzbekistan|Venezuela|Vietnam|Viet Nam|Zimbabwe"
)
_ELSEWHERE = re.compile(rf"(?:\b(?:{_COUNTRIES})(?:['’]s\b|\s*:)|\b(?:in|of) (?:{_COUNTRIES})\b)")


def another_country(item: ItemText) -> str:
    """The other country an item's headline places it in, when the item never names
    Cambodia (nor is written in Khmer); else ""."""
    original = item.original
    end = original.find("\n")
    headline = original if end < 0 else original[:end]
    m = _ELSEWHERE.search(headline)
    if not m or _HOME.search(original):
        return ""
    return m.group(0)


def own_full_date(sentence_norm: str, year: int | None) -> str:
    """A full date (day, month and year) in the item's own year, as Khmer news writes
    the current year's dates ("ថ្ងៃទី១៩ ខែមករា ឆ្នាំ២០២៣"), or ""."""
    if year is None:
        return ""
    for found, full, text in proximity.dated_years(sentence_norm):
        if full and found == year:
            return text
    return ""
