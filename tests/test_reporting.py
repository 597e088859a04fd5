"""Matching measured on texts written like real Cambodian reporting (issue #10, SPEC §5).

tests/data/matching/reporting/ holds one TOML file per text (English or Khmer, written
for these tests in the style of the news, not copied) with the expected result per
watchlist: "match", "possible" or "nothing". The watchlists and people list beside them
mirror config/watcher.toml. `pytest -s tests/test_reporting.py` prints recall and
precision per watchlist; the floors asserted below are the levels reached, so that a
regression fails.

Recall: of the texts that should alert, the share that match. Precision: of the texts
that match, the share that should. "Possible" is SPEC §5's review-only result; a text
that should alert and gets nothing at all is counted as silenced.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watcher.config import load_people
from watcher.matching import Matcher
from watcher.models import Severity, Watchlist

DATA = Path(__file__).parent / "data" / "matching" / "reporting"
RESULTS = ("match", "possible", "nothing")

# Every pattern issue #10 lists: what keyword rules miss, then what they alert wrongly.
PATTERNS = frozenset(
    {
        "inflection",
        "conviction",
        "khmer_detention",
        "khmer_charge",
        "family_name_alone",
        "given_name_in_list",
        "middle_initial",
        "name_order",
        "khmer_honorific",
        "misspelling",
        "khmer_spelling",
        "long_sentence",
        "next_sentence",
        "quoted_source",
        "caption",
        "byline",
        "background",
        "anniversary",
        "retrospective",
        "threat",
        "release",
        "homonym_order",
        "homonym_given_name",
        "nig_other",
        "nig_glued",
        "nig_true",
        "plain",
    }
)

# Floors: the levels reached when this was written (see the printed summary).
MIN_RECALL = {
    "Arrests of named defenders": 1.0,
    "Sub-decrees": 1.0,
    "Ministry working groups": 1.0,
    "Internet gateway": 1.0,
}
MIN_PRECISION = {
    "Arrests of named defenders": 1.0,
    "Sub-decrees": 1.0,
    "Ministry working groups": 1.0,
    "Internet gateway": 1.0,
}
MIN_EXACT = 1.0  # share of (text, watchlist) verdicts exactly as expected


@dataclass(frozen=True)
class Text:
    """One reporting text and what each watchlist should make of it."""

    name: str
    language: str
    patterns: tuple[str, ...]
    text: str
    expect: dict[str, str]


def _watchlists() -> list[Watchlist]:
    with (DATA / "watchlists.toml").open("rb") as f:
        raw = tomllib.load(f)["watchlists"]
    out = []
    for data in raw:
        people: tuple[Any, ...] = ()
        if "people" in data:
            loaded, issues = load_people(DATA / data["people"])
            assert not issues, issues
            people = tuple(loaded)
        out.append(
            Watchlist(
                name=data["name"],
                severity=Severity.parse(data["severity"]),
                any=tuple(data.get("any", ())),
                all=tuple(tuple(a) if isinstance(a, list) else (a,) for a in data.get("all", ())),
                none=tuple(data.get("none", ())),
                people=people,
                near=tuple(data.get("near", ())),
                within=int(data.get("within", 30)),
                fuzzy=bool(data.get("fuzzy", False)),
            )
        )
    return out


def _texts() -> list[Text]:
    texts = []
    for path in sorted(DATA.glob("*.toml")):
        if path.name == "watchlists.toml":
            continue
        with path.open("rb") as f:
            data = tomllib.load(f)
        texts.append(
            Text(
                path.stem,
                data["language"],
                tuple(data["patterns"]),
                data["text"],
                dict(data["expect"]),
            )
        )
    return texts


WATCHLISTS = _watchlists()
TEXTS = _texts()


def _verdicts(matcher: Matcher, text: Text) -> dict[str, str]:
    found = {
        m.watchlist: ("possible" if m.possible else "match") for m in matcher.match(text.text, "s")
    }
    return {wl.name: found.get(wl.name, "nothing") for wl in WATCHLISTS}


def test_corpus_covers_every_pattern_in_both_languages() -> None:
    assert len(TEXTS) >= 80
    assert sum(t.language == "km" for t in TEXTS) >= 30
    assert sum(t.language == "en" for t in TEXTS) >= 30
    seen = {p for t in TEXTS for p in t.patterns}
    assert seen == PATTERNS, (PATTERNS - seen, seen - PATTERNS)
    for text in TEXTS:
        assert set(text.expect) == {wl.name for wl in WATCHLISTS}, text.name
        assert set(text.expect.values()) <= set(RESULTS), text.name


def test_recall_and_precision_per_watchlist() -> None:
    matcher = Matcher(WATCHLISTS)
    wrong: list[str] = []
    exact = total = 0
    scores: dict[str, tuple[float, float]] = {}
    lines = [f"{'watchlist':<28} {'texts':>5} {'recall':>7} {'precision':>9} {'silenced':>8}"]
    for wl in WATCHLISTS:
        tp = fp = fn = silenced = 0
        wanted = 0
        for text in TEXTS:
            want = text.expect[wl.name]
            got = _verdicts(matcher, text)[wl.name]
            total += 1
            exact += got == want
            if got != want:
                wrong.append(f"{text.name}: {wl.name}: expected {want}, got {got}")
            wanted += want == "match"
            tp += want == "match" and got == "match"
            fp += want != "match" and got == "match"
            fn += want == "match" and got != "match"
            silenced += want != "nothing" and got == "nothing"
        recall = tp / (tp + fn) if tp + fn else 1.0
        precision = tp / (tp + fp) if tp + fp else 1.0
        lines.append(f"{wl.name:<28} {wanted:>5} {recall:>7.2f} {precision:>9.2f} {silenced:>8}")
        scores[wl.name] = (recall, precision)
    print("\n" + "\n".join(lines))
    print(f"exact verdicts: {exact}/{total}")
    print("\n".join(wrong) or "no wrong verdicts")
    for name, (recall, precision) in scores.items():
        assert recall >= MIN_RECALL[name], (name, recall, wrong)
        assert precision >= MIN_PRECISION[name], (name, precision, wrong)
    assert exact / total >= MIN_EXACT, wrong


def test_explain_agrees_with_match_on_every_text() -> None:
    matcher = Matcher(WATCHLISTS)
    for text in TEXTS:
        verdicts = _verdicts(matcher, text)
        rendered = matcher.explain(text.text, "s").render()
        for name, got in verdicts.items():
            label = "no match" if got == "nothing" else got
            assert f"[{label}] {name}" in rendered, (text.name, name)
