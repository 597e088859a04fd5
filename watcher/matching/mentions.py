"""Mentions of listed people in one item (SPEC §5).

A full name counts, in either order, unless an official title shows it is someone who
shares the names; a later mention by one name part counts when no other person in the
item shares that part.
"""

from __future__ import annotations

from collections.abc import Callable

from watcher.matching.automaton import FORM_ALONE, FORM_OTHER_ORDER, is_word_char
from watcher.matching.compiler import CompiledWatchlists
from watcher.matching.hits import Evidence, Hit
from watcher.matching.names import NOT_A_NAME, khmer_honorific_before, official_title_before
from watcher.matching.report import describe
from watcher.matching.text import ItemText, neighbour
from watcher.text.khmer import ends_cluster, is_khmer, starts_cluster


def person_mentions(
    compiled: CompiledWatchlists,
    wi: int,
    ev: Evidence,
    item: ItemText,
    note: Callable[[str], None] | None,
) -> list[Hit]:
    """Mentions of listed people: full names (less officials who share the names in
    another order), plus later mentions by one name part (SPEC §5) when no other
    person in the item shares that part."""
    wl = compiled.watchlists[wi]
    text = item.text
    original = item.original
    mentions: list[Hit] = []
    for hits in ev.people.values():
        exact = {(h.start, h.end) for h in hits if not h.fuzzy}
        for hit in hits:
            if hit.fuzzy and (hit.start, hit.end) in exact:
                continue  # the skeleton automaton also finds exact names
            if FORM_OTHER_ORDER in hit.form and not is_khmer(text[hit.start]):
                title = official_title_before(original, item.original_span(hit.start, hit.end)[0])
                if title:
                    if note:
                        note(
                            f"{describe(item, hit)}: after {title!r}, an official who "
                            f"shares the names of {hit.role.label}, not the person"
                        )
                    continue
            mentions.append(hit)
    tokens = compiled.person_tokens[wi]
    owners: dict[str, set[int]] = {}
    for pi in ev.people:
        for tok in tokens.get(pi, ()):
            owners.setdefault(tok, set()).add(pi)
    taken = [(h.start, h.end) for h in mentions]
    for pi in ev.people:
        full = [h for h in mentions if h.role.person == pi]
        if not full:
            continue
        first_end = min(h.end for h in full)
        role = full[0].role
        parts = set(tokens.get(pi, ()))
        for tok in tokens.get(pi, ()):
            if len(owners.get(tok, ())) > 1:
                if note:
                    note(f"'{tok}' alone is not {wl.people[pi].name}: another listed person")
                continue
            found, shared = _lone_parts(item, tok, parts, taken)
            if shared:
                if note:
                    note(f"'{tok}' alone is not {wl.people[pi].name}: {shared}")
                continue
            mentions.extend(
                Hit(pos, pos + len(tok), role, form=FORM_ALONE) for pos in found if pos >= first_end
            )
    return mentions


def _lone_parts(
    item: ItemText, tok: str, parts: set[str], taken: list[tuple[int, int]]
) -> tuple[list[int], str]:
    """Where one name part stands alone as a name; or why it cannot count at all
    (another person in the item shares it: "Interior Minister Sar Sokha" beside
    Kem Sokha, "Kem Monovithya" beside Kem Sokha)."""
    text = item.text
    found: list[int] = []
    pos = text.find(tok)
    while pos >= 0:
        end = pos + len(tok)
        inside = any(s <= pos and end <= e for s, e in taken)
        if not inside:
            if is_khmer(tok[0]):
                if starts_cluster(text, pos) and ends_cluster(text, end):
                    if khmer_honorific_before(text, pos):
                        found.append(pos)
                    elif pos > 0 and is_khmer(text[pos - 1]):
                        # Khmer has no spaces: a part glued to other letters that are
                        # not an honorific is part of someone else's name.
                        return [], "another name in the item contains it"
            elif _is_name_part(item, pos, end):
                shared = _shared_with(item, pos, end, parts)
                if shared:
                    return [], shared
                found.append(pos)
        pos = text.find(tok, end)
    return found, ""


def _is_name_part(item: ItemText, start: int, end: int) -> bool:
    text = item.text
    if (start > 0 and is_word_char(text[start - 1])) or (
        end < len(text) and is_word_char(text[end])
    ):
        return False
    # A name alone must be written as a name: "Am" yes, "I am" no.
    original = item.original
    at = item.original_span(start, end)[0]
    return at < len(original) and original[at].isupper()


def _shared_with(item: ItemText, start: int, end: int, parts: set[str]) -> str:
    """Why a lone name part at [start, end) belongs to someone else, or ""."""
    original = item.original
    o_start, o_end = item.original_span(start, end)
    title = official_title_before(original, o_start)
    if title:
        return f"written after {title!r}"
    text = item.text
    for span in (neighbour(text, start, end, -1), neighbour(text, start, end, +1)):
        if span is None:
            continue
        word = text[span[0] : span[1]]
        if word in parts or word in NOT_A_NAME or not word.isalpha():
            continue
        a, b = item.original_span(span[0], span[1])
        lo, hi = (b, o_start) if span[0] < start else (o_end, a)
        if original[a : a + 1].isupper() and original[lo:hi].strip(" ") == "":
            return f"'{original[a:b]} …' is another person's name"
    return ""
