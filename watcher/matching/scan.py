"""Scanning one item: the compiled automata find candidates, and the word, cluster,
stem and acronym rules decide which are hits.

Python only looks at the few candidates the automata find: boundaries (a term inside a
longer word, or inside a Khmer cluster, is no hit), the other words of a stemmed term,
an acronym written in capitals, and the part of a fuzzy name that is one edit away.
"""

from __future__ import annotations

from collections.abc import Callable

from watcher.matching.automaton import ANCHOR, Group, Role, is_word_char
from watcher.matching.compiler import CompiledWatchlists, NearPart
from watcher.matching.hits import Hit, Rejected
from watcher.matching.text import ItemText, neighbour, term_initials
from watcher.text.khmer import ends_cluster, starts_cluster


def scan(
    compiled: CompiledWatchlists,
    item: ItemText,
    rejected: list[Rejected] | None,
    fuzzy: bool = True,
) -> list[Hit]:
    """Every hit of every watchlist in one item; candidates the rules refuse go to
    `rejected` (for explain) when it is a list. `fuzzy=False` leaves out the fuzzy
    names (`scan_fuzzy`), which `Matcher.match` only looks for when they can count."""
    hits = _scan_main(compiled, item, rejected)
    if fuzzy:
        hits.extend(scan_fuzzy(compiled, item))
    return hits


def _scan_main(
    compiled: CompiledWatchlists, item: ItemText, rejected: list[Rejected] | None
) -> list[Hit]:
    """Hits of the main automaton: terms, and names as listed."""
    text = item.text
    n = len(text)
    hits: list[Hit] = []
    for idx, start, end in compiled.main.find(text):
        for group in compiled.main.groups[idx]:
            reason = _boundary(text, n, start, end, group)
            span = (start, end)
            if reason == "" and group.kind != "exact":
                w = end
                while w < n and is_word_char(text[w]):
                    w += 1
                span = (start, w)
                if group.kind == "stem":
                    found = _stem_span(compiled, text, start, w, group)
                    if isinstance(found, str):
                        reason = found
                    else:
                        span = found
            roles = group.roles
            if reason == "" and group.acronym:
                reason, roles = _acronym_roles(compiled, item, group)
            if reason == "":
                hits.extend(Hit(span[0], span[1], role, form=role.form) for role in roles)
                continue
            if rejected is not None:
                for role in group.roles:
                    rejected.append(Rejected(start, end, role.label, reason))
    return hits


def _acronym_roles(
    compiled: CompiledWatchlists, item: ItemText, group: Group
) -> tuple[str, list[Role]]:
    """An acronym term counts where the text writes it in capitals, and not for a
    watchlist when the item spells it out as something else (other bodies are
    called NIG too)."""
    meaning = item.acronym_meaning(group.acronym)
    if meaning is None:
        return f"not written in capitals as {group.acronym!r}", []
    if not meaning:
        return "", group.roles
    # Only a watchlist that spells the acronym out itself ("National Internet
    # Gateway") can tell its NIG from another body's.
    roles = [
        r
        for r in group.roles
        if meaning in compiled.terms[r.watchlist]
        or not any(term_initials(t) == group.acronym.lower() for t in compiled.terms[r.watchlist])
    ]
    if roles:
        return "", roles
    return f"{group.acronym} stands for '{meaning}' here", []


def _stem_span(
    compiled: CompiledWatchlists, text: str, start: int, end: int, group: Group
) -> tuple[int, int] | str:
    """Check every word of a stemmed term around the anchor word at [start, end)."""
    stem_word = compiled.stemmer.stemWord
    word = text[start:end]
    if stem_word(word) != group.stems[group.anchor]:
        return f"'{word}' is another word"
    lo, hi = start, end
    for i in range(group.anchor - 1, -1, -1):
        if lo < 2 or text[lo - 1] != " ":
            return "a word of the term is missing"
        b = lo - 1
        while b > 0 and is_word_char(text[b - 1]):
            b -= 1
        if not _same_word(text[b : lo - 1], group.words[i], group.stems[i], stem_word):
            return f"'{text[b : lo - 1]}' is not '{group.words[i]}'"
        lo = b
    for i in range(group.anchor + 1, len(group.words)):
        if hi + 1 >= len(text) or text[hi] != " ":
            return "a word of the term is missing"
        e = hi + 1
        while e < len(text) and is_word_char(text[e]):
            e += 1
        if not _same_word(text[hi + 1 : e], group.words[i], group.stems[i], stem_word):
            return f"'{text[hi + 1 : e]}' is not '{group.words[i]}'"
        hi = e
    return (lo, hi)


def _boundary(text: str, n: int, start: int, end: int, group: Group) -> str:
    """Return "" if a hit respects word/cluster boundaries, else why it does not."""
    if group.latin_left:
        if start > 0 and is_word_char(text[start - 1]):
            return "inside a longer word"
    elif not starts_cluster(text, start):
        return "starts inside a Khmer cluster"
    if group.kind != "exact":
        return ""
    if group.latin_right:
        if end < n and is_word_char(text[end]):
            return "inside a longer word"
    elif not ends_cluster(text, end):
        return "ends inside a Khmer cluster"
    return ""


def scan_fuzzy(compiled: CompiledWatchlists, item: ItemText) -> list[Hit]:
    """Hits of fuzzy names: whole skeletons, and one exact part beside a near miss."""
    if compiled.fuzzy.automaton is None:
        return []
    skel = item.skeleton
    n = len(skel)
    hits: list[Hit] = []
    for idx, start, end in compiled.fuzzy.find(skel):
        if (start > 0 and is_word_char(skel[start - 1])) or (end < n and is_word_char(skel[end])):
            continue
        for group in compiled.fuzzy.groups[idx]:
            for role in group.roles:
                if role.slot != ANCHOR:
                    hits.append(_fuzzy_hit(item, start, end, role))
                    continue
                for index in compiled.anchors.get(role.label, ()):
                    span = neighbour(skel, start, end, index.side)
                    if span is None:
                        continue
                    parts = index.near(skel[span[0] : span[1]])
                    if not parts:
                        continue
                    lo, hi = (start, span[1]) if index.side > 0 else (span[0], end)
                    for person_role in _written_near(item, span[0], parts):
                        hits.append(_fuzzy_hit(item, lo, hi, person_role))
    return hits


def _written_near(item: ItemText, at: int, parts: tuple[NearPart, ...]) -> list[Role]:
    """The people whose part is misspelt as the skeleton word at `at`, once each."""
    written = ""
    seen: set[tuple[int, int]] = set()
    roles: list[Role] = []
    for person_role, _, raw in parts:
        key = (person_role.watchlist, person_role.person)
        if key in seen:
            continue
        if not written:
            written = _word_at(item, item.skeleton.count(" ", 0, at))
        if min(len(raw), len(written)) <= 3 and len(raw) == len(written):
            # a short part may lose or gain a letter ("Och Leng" for Ouch Leng),
            # not change one: Interior Minister Sar Sokha is not the activist Sam Sokha
            continue
        seen.add(key)
        roles.append(person_role)
    return roles


def _word_at(item: ItemText, index: int) -> str:
    """Word number `index` of the item's normalised text."""
    start = item.word_start(index)
    end = item.text.find(" ", start)
    return item.text[start:] if end < 0 else item.text[start:end]


def _fuzzy_hit(item: ItemText, start: int, end: int, role: Role) -> Hit:
    """Map a hit in the skeleton (same word count as the text) back to the text."""
    skel = item.skeleton
    first = skel.count(" ", 0, start)
    words = skel.count(" ", start, end) + 1
    t_start = item.word_start(first)
    t_end = item.text.find(" ", item.word_start(first + words - 1))
    t_end = len(item.text) if t_end < 0 else t_end
    written = item.text[t_start:t_end]
    form = f"{role.form}, fuzzy: written '{written}'"
    return Hit(t_start, t_end, role, fuzzy=True, form=form)


def _same_word(found: str, word: str, stem: str | None, stem_word: Callable[[str], str]) -> bool:
    return found == word if stem is None else stem_word(found) == stem
