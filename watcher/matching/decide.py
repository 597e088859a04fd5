"""The decision for one watchlist (SPEC §5): a match, a possible match, or nothing.

`gather` sorts an item's hits into each watchlist's `Evidence`; `decide` applies the
rules: `none` vetoes, every `all` requirement and an `any` term must be found, and a
listed person counts only with a `near` term in the same sentence (or the next, when it
refers back), within `within` words, and not as the quoted source. A person and a near
term that do not meet these rules, or context that reports no new arrest, make a
possible match. The `why` list collects the reasons `explain` shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from watcher.matching import events, proximity
from watcher.matching.automaton import ANCHOR, ANY, NEAR, NONE, PERSON, Role
from watcher.matching.compiler import CompiledWatchlists
from watcher.matching.hits import Evidence, Hit
from watcher.matching.mentions import person_mentions
from watcher.matching.report import describe, first_each, name_detail
from watcher.matching.snippets import snippet_at
from watcher.matching.termsets import TERMSETS
from watcher.matching.text import ItemText
from watcher.models import Match, Watchlist
from watcher.text.khmer import count_words, is_khmer
from watcher.text.normalise import normalise


def gather(compiled: CompiledWatchlists, hits: list[Hit], source: str) -> dict[int, Evidence]:
    """Sort hits by watchlist and role, for the watchlists that apply to `source`."""
    evidence: dict[int, Evidence] = {}
    applies: dict[int, bool] = {}
    for hit in hits:
        wi = hit.role.watchlist
        ok = applies.get(wi)
        if ok is None:
            ok = applies[wi] = compiled.watchlists[wi].applies_to(source)
        if not ok:
            continue
        ev = evidence.get(wi)
        if ev is None:
            ev = evidence[wi] = Evidence()
        slot = hit.role.slot
        if slot == ANY:
            ev.any.append(hit)
        elif slot == NONE:
            ev.none.append(hit)
        elif slot == NEAR:
            ev.near.append(hit)
        elif slot == PERSON:
            ev.people.setdefault(hit.role.person, []).append(hit)
        else:
            ev.all.setdefault(slot, []).append(hit)
    return evidence


def people_can_count(wl: Watchlist, ev: Evidence) -> bool:
    """Whether hits of `wl`'s listed people can change what `decide` says for it.

    `decide` returns no match, without looking at people, when a `none` term vetoes,
    an `all` requirement or the `any` terms are missing, or (with `near`) no `near`
    term was found; then looking for fuzzy names (the costliest scan) is wasted.
    Mirrors the order of the checks in `decide`: keep the two together.
    """
    if not wl.people or ev.none:
        return False
    if any(k not in ev.all for k in range(len(wl.all))):
        return False
    if wl.any and not ev.any:
        return False
    return not wl.near or bool(ev.near)


def decide(
    compiled: CompiledWatchlists, wi: int, ev: Evidence, item: ItemText, why: list[str] | None
) -> Match | None:
    """Apply SPEC §5 to one watchlist's evidence; `why` collects reasons for explain."""
    wl = compiled.watchlists[wi]
    note = why.append if why is not None else None
    if note:
        for label, hits in (("any", ev.any), ("near", ev.near)):
            if hits:
                note(f"{label}: " + ", ".join(describe(item, h) for h in first_each(hits)))
        for k in range(len(wl.all)):
            hits_k = ev.all.get(k, [])
            shown = ", ".join(describe(item, h) for h in first_each(hits_k)) or "MISSING"
            note(f"all[{k}] {list(wl.all[k])}: {shown}")
        for pi, hits in ev.people.items():
            exact = {(h.start, h.end) for h in hits if not h.fuzzy}
            named = [h for h in hits if not (h.fuzzy and (h.start, h.end) in exact)]
            note(f"person {wl.people[pi].name}: " + ", ".join(describe(item, h) for h in named[:3]))
    if not (wl.any or wl.people or wl.all):
        return None
    if ev.none:
        if note:
            note("vetoed by none: " + ", ".join(describe(item, h) for h in first_each(ev.none)))
        return None
    if any(k not in ev.all for k in range(len(wl.all))):
        return None
    if wl.any and not ev.any:
        if note:
            note("no `any` term found")
        return None
    any_hits = _reported(item, ev.any, note) if ev.any else ev.any
    if wl.any and not any_hits:
        if note:
            note("no `any` term is reported in the item itself (see above)")
        return None
    evidence: list[Hit] = [*any_hits, *(h for hs in ev.all.values() for h in hs)]
    if wl.people:
        if not ev.people:
            if note:
                note("no listed person found")
            return None
        if not wl.near:
            people_hits = [h for hs in ev.people.values() for h in hs]
            return _build(wl, [*evidence, *people_hits], people_hits, False, item)
        return _decide_people(compiled, wi, ev, item, evidence, note)
    if wl.near:
        kept, near_used = _terms_near(wl, any_hits, ev.near, item, note)
        if not kept:
            return None
        evidence = [*kept, *(h for hs in ev.all.values() for h in hs), *near_used]
    elsewhere = events.another_country(item)
    if elsewhere:
        if note:
            note(
                f"the item is about another country ({elsewhere!r} in the headline, "
                "Cambodia never named) [rule: another-country]"
            )
        return None
    if WORKING_GROUP in wl.any:
        set_up = _set_up(item, any_hits, note)
        return _build(wl, evidence, [], not set_up, item)
    return _build(wl, evidence, [], False, item)


def _reported(item: ItemText, hits: list[Hit], note: Callable[[str], None] | None) -> list[Hit]:
    """The `any` hits that the item reports: not those in page chrome (rule `chrome`: a
    truncated teaser linking to another site), nor a term the item only explains (rule
    `definition`: its headline asks what the term is, or its lead defines it)."""
    explained = events.explained_terms(item, hits)
    chrome = events.teaser_lines(item)
    if not explained and not chrome:
        return hits
    kept: list[Hit] = []
    for hit in hits:
        if hit.role.label in explained:
            if note:
                note(
                    f"{describe(item, hit)}: the item explains what it is, it reports no "
                    f"new one ({explained[hit.role.label]}) [rule: definition]"
                )
            continue
        o_start = item.original_span(hit.start, hit.end)[0] if chrome else 0
        if chrome and any(a <= o_start < b for a, b in chrome):
            if note:
                note(f"{describe(item, hit)} is in a teaser linking elsewhere [rule: chrome]")
            continue
        kept.append(hit)
    return kept


WORKING_GROUP = "@working-group"
_BODIES = frozenset(TERMSETS["working-group"])


def _set_up(item: ItemText, hits: list[Hit], note: Callable[[str], None] | None) -> bool:
    """Rule `set-up` (SPEC §5, events not mentions, for `@working-group`): certain when
    the item reports a body being set up (created, formed, appointed, new) in the
    sentence that names it; a body that only goes about its work (monthly figures, a
    meeting) or is only planned makes a possible match."""
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.role.label not in _BODIES:
            continue
        o_start = item.original_span(hit.start, hit.end)[0]
        span = item.sentences.span(o_start)
        word = events.set_up(item.original[span[0] : span[1]])
        if word:
            if note:
                note(f"certain: {describe(item, hit)} is set up ({word!r}) [rule: set-up]")
            return True
    if note:
        note(
            "possible: a working group or committee is named, but no sentence reports one "
            "set up [rule: set-up]"
        )
    return False


def _terms_near(
    wl: Watchlist,
    terms: list[Hit],
    nears: list[Hit],
    item: ItemText,
    note: Callable[[str], None] | None,
) -> tuple[list[Hit], list[Hit]]:
    """With `near` and no people (a Matcher built without `check`), an `any` term
    counts only near a near term, by the same sentence rules as a person."""
    kept: list[Hit] = []
    used: list[Hit] = []
    for hit in terms:
        o_start, o_end = item.original_span(hit.start, hit.end)
        for near in nears:
            if near.start == hit.start and near.end == hit.end:
                continue
            reason = _proximity(hit, near, wl.within, item, o_start, o_end)
            if reason == "":
                kept.append(hit)
                used.append(near)
                break
            if note is not None:
                note(f"{describe(item, hit)} / {describe(item, near)}: {reason}")
    if not nears and note is not None:
        note("no `near` term found")
    return kept, used


def _decide_people(
    compiled: CompiledWatchlists,
    wi: int,
    ev: Evidence,
    item: ItemText,
    evidence: list[Hit],
    note: Callable[[str], None] | None,
) -> Match | None:
    """People with `near`: a match, a possible match (SPEC §5), or nothing.

    A person and a near term that meet the proximity rules make a candidate event;
    it is certain when nothing around it tells a past, a threat or a release, and the
    item reports it as news (rule `headline-lead`: an arrest word in the headline or
    lead; rule `recent-day`: its sentence names a recent day). Otherwise possible, with
    the rule that decided (docs/matching.md lists them).
    """
    wl = compiled.watchlists[wi]
    if not ev.near:
        if note:
            note("listed person found but no `near` term")
        return None
    mentions = person_mentions(compiled, wi, ev, item, note)
    if not mentions:
        if note:
            note("no mention of a listed person counts (see above)")
        return None
    ref = (lambda: events.reference_year(item), lambda: events.dated_by_day(item))
    frame = _news_frame(item, ev.near, ref)
    fresh: list[tuple[Hit, Hit]] = []
    old: list[tuple[Hit, Hit]] = []
    passing: list[tuple[Hit, Hit]] = []
    for hit in mentions:
        o_start, o_end = item.original_span(hit.start, hit.end)
        line = item.sentences.paragraph(o_start)
        caption = proximity.caption_or_byline(line, item.original)
        if caption:
            if note:
                note(f"{describe(item, hit)} is in {caption}: it does not count [rule: role]")
            continue
        for near in ev.near:
            reason = _proximity(hit, near, wl.within, item, o_start, o_end)
            if reason:
                if note:
                    rule = " [rule: role]" if "quoted source" in reason else ""
                    note(f"{describe(item, hit)} / {describe(item, near)}: {reason}{rule}")
                continue
            rule, context = _no_new_arrest(item, near, ref)
            if rule:
                if note:
                    note(
                        f"{describe(item, hit)} / {describe(item, near)}: {context} [rule: {rule}]"
                    )
                old.append((hit, near))
                continue
            why = frame or _recent(item, near)
            if not why:
                if note:
                    note(
                        f"{describe(item, hit)} / {describe(item, near)}: told in passing: "
                        "neither the headline nor the lead reports an arrest, and the "
                        "sentence names no recent day [rule: in-passing]"
                    )
                passing.append((hit, near))
                continue
            fresh.append((hit, near))
            if note:
                note(
                    f"counts: {describe(item, hit)}{name_detail(item, hit)}"
                    f" with {describe(item, near)}; {why}"
                )
            break
    if not fresh and frame:
        fresh = _coreference(mentions, ev.near, item, events.lead_end(item), ref, note)
    if fresh:
        people = [h for h, _ in fresh]
        return _build(wl, [*evidence, *(n for _, n in fresh)], people, False, item)
    if note:
        note("possible: a listed person and a `near` term, but not an arrest reported as news")
    kept = passing or old
    people = [h for h, _ in kept] or mentions
    nears = [n for _, n in kept] or ev.near
    return _build(wl, [*evidence, *nears], people, True, item)


def _news_frame(item: ItemText, nears: list[Hit], ref: _Time) -> _Because:
    """Why the item reports an arrest as news (rule `headline-lead`), or "": an arrest
    word in the headline or lead that no cue turns into a past, a threat or a question.
    The headline is always in the lead: finding the lead's end waits for a word past it."""
    headline = events.headline_end(item)
    lead = -1
    for near in sorted(nears, key=lambda h: h.start):
        o_near = item.original_span(near.start, near.end)[0]
        if o_near >= headline and lead < 0:
            lead = events.lead_end(item)
        if o_near >= max(lead, headline):
            break
        if _no_new_arrest(item, near, ref)[0]:
            continue
        return _Because("the headline or lead reports it", item, near, "headline-lead")
    # Or the headline and lead report the legal process ("… transferred to remote
    # prison", "court hears …"), with the arrest word further down.
    head = item.original[: events.lead_end(item)]
    word = events.legal_process(head)
    if word and not events.question(head) and not proximity.commemorates(normalise(head)):
        return _Because(
            f"the headline or lead reports the legal process ({word!r})", rule="headline-lead"
        )
    return _Because()


def _recent(item: ItemText, near: Hit) -> _Because:
    """Why a near term's sentence dates the event as news (rule `recent-day`), or ""."""
    o_near = item.original_span(near.start, near.end)[0]
    span = item.sentences.span(o_near)
    sentence = item.original[span[0] : span[1]]
    day = events.recent_day(sentence) or events.own_full_date(
        normalise(sentence), events.reference_year(item)
    )
    return (
        _Because(f"its sentence names a recent day ({day!r})", rule="recent-day")
        if day
        else _Because()
    )


_Time = tuple[Callable[[], int | None], Callable[[], bool]]  # read when a year is near


@dataclass(frozen=True)
class _Because:
    """Why an event counts as news, worded only when `explain` asks (describe() counts
    words, which `match` need not pay for). False when there is no reason."""

    what: str = ""
    item: ItemText | None = None
    hit: Hit | None = None
    rule: str = ""

    def __bool__(self) -> bool:
        return bool(self.what)

    def __str__(self) -> str:
        shown = f" ({describe(self.item, self.hit)})" if self.item and self.hit else ""
        return f"{self.what}{shown} [rule: {self.rule}]"


def _coreference(
    mentions: list[Hit],
    nears: list[Hit],
    item: ItemText,
    lead: int,
    ref: _Time,
    note: Callable[[str], None] | None,
) -> list[tuple[Hit, Hit]]:
    """SPEC §5: a person named in the headline or lead, the arrest reported there, and
    a later sentence with an arrest word that refers back to them ("She was
    detained…"): certain (rule `coreference`)."""
    named = [h for h in mentions if item.original_span(h.start, h.end)[0] < lead]
    if not named:
        return []
    for near in nears:
        o_near = item.original_span(near.start, near.end)[0]
        if o_near < lead:
            continue
        span = item.sentences.span(o_near)
        if not proximity.refers_back(item.original[span[0] : span[1]]):
            continue
        if _no_new_arrest(item, near, ref)[0]:
            continue
        if note:
            note(
                f"counts: {describe(item, named[0])} in the headline or lead, and "
                f"{describe(item, near)} in a sentence that refers back [rule: coreference]"
            )
        return [(named[0], near)]
    return []


def _proximity(
    person: Hit, near: Hit, within: int, item: ItemText, o_start: int, o_end: int
) -> str:
    """ "" if `near` counts for `person` (same sentence, or the next one when it refers
    back; at most `within` words between; the person not only the quoted source),
    else the reason it does not."""
    sentences = item.sentences
    original = item.original
    o_near = item.original_span(near.start, near.end)[0]
    s_person = sentences.span(o_start)
    s_near = sentences.span(o_near)
    if s_near != s_person:
        if s_near != sentences.next_span(s_person):
            return "not in the same sentence"
        if not proximity.refers_back(original[s_near[0] : s_near[1]]):
            return "in the next sentence, which does not refer back to the person"
    lo, hi = (person.end, near.start) if person.end <= near.start else (near.end, person.start)
    gap = count_words(item.text[lo:hi]) if hi > lo else 0
    if gap > within:
        return f"{gap} words apart (within = {within})"
    if _quoted_source(item, person, near, o_start, o_end, o_near):
        return "the person is only the quoted source of that sentence"
    return ""


def _quoted_source(
    item: ItemText, person: Hit, near: Hit, o_start: int, o_end: int, o_near: int
) -> bool:
    """ "…, said Am Sam Ath" / "Am Sam Ath, of LICADHO, said police arrested…" /
    "លោក អំ សំអាត បានថ្លែងថា…": the person only speaks about the arrest. "Police
    arrested Kem Sokha, who told reporters…" is not: the arrest word comes first."""
    if is_khmer(item.text[person.start]):
        if proximity.khmer_quoted_before(item.text, person.start):
            return True
        verb = proximity.khmer_speech_after(item.text, person.end, len(item.text))
        return verb >= 0 and near.start >= verb
    if proximity.quoted_before(item.original, o_start, o_end):
        return True
    verb = proximity.speech_after(item.original, o_end)
    return verb >= 0 and o_near >= verb


def _no_new_arrest(item: ItemText, near: Hit, ref: _Time) -> tuple[str, str]:
    """(rule, reason) when the context around a near term reports no new arrest
    (SPEC §5: a possible match at most): a question, a past arrest, an anniversary, a
    threat or warrant, a release; ("", "") otherwise."""
    o_near = item.original_span(near.start, near.end)[0]
    span = item.sentences.span(o_near)
    sentence = item.original[span[0] : span[1]]
    if events.question(sentence):
        return "question", "the sentence asks a question, it reports nothing"
    head = normalise(item.original[span[0] : o_near])
    norm = normalise(sentence)
    word = item.text[near.start : near.end]
    at = norm.find(word, max(0, len(head) - 2))
    if at < 0:
        at = max(norm.find(word), 0)
    return proximity.no_new_arrest(norm, at, at + len(word), *ref)


def _build(
    wl: Watchlist,
    evidence: list[Hit],
    people: list[Hit],
    possible: bool,
    item: ItemText,
) -> Match:
    """The Match for `wl`: its terms and people in text order, and a snippet at the first."""
    ordered = sorted(evidence, key=lambda h: h.start)
    terms = tuple(
        dict.fromkeys(h.role.label for h in ordered if h.role.slot not in (PERSON, ANCHOR))
    )
    names = tuple(dict.fromkeys(h.role.label for h in sorted(people, key=lambda h: h.start)))
    hits = [*ordered, *people]
    first = min(hits, key=lambda h: h.start) if hits else Hit(0, 0, Role(-1, ANY, ""))
    return Match(
        watchlist=wl.name,
        severity=wl.severity,
        terms=terms,
        people=names,
        snippet=_snippet(item, first.start, first.end),
        possible=possible,
    )


def _snippet(item: ItemText, start: int, end: int) -> str:
    """Snippet around a hit, quoting the original text."""
    return snippet_at(item.original, *item.original_span(start, end))
