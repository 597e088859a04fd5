"""Data-driven matching tests (SPEC §5): one TOML file per case in tests/data/matching/cases.

Each case holds an item's text, one watchlist and the expected verdict (`match`,
`possible` or `none`), optionally the exact matched terms and people and a piece of
the original text the snippet must quote.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from watcher.matching import Matcher, match_normalise
from watcher.models import Person, Severity, Watchlist
from watcher.text.normalise import align

CASES = Path(__file__).parent / "data" / "matching" / "cases"


def _watchlist(data: dict[str, Any]) -> Watchlist:
    return Watchlist(
        name=data["name"],
        severity=Severity.parse(data.get("severity", "normal")),
        any=tuple(data.get("any", ())),
        all=tuple(tuple(a) if isinstance(a, list) else (a,) for a in data.get("all", ())),
        none=tuple(data.get("none", ())),
        sources=tuple(data.get("sources", ("*",))),
        people=tuple(
            Person(p["name"], tuple(p.get("aliases", ()))) for p in data.get("people", ())
        ),
        near=tuple(data.get("near", ())),
        within=int(data.get("within", 30)),
        fuzzy=bool(data.get("fuzzy", False)),
    )


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


CASE_FILES = sorted(CASES.glob("*.toml"))


def test_there_are_cases() -> None:
    assert len(CASE_FILES) >= 60


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_case(path: Path) -> None:
    case = _load(path)
    wl = _watchlist(case["watchlist"])
    matcher = Matcher([wl])
    expect = case["expect"]
    matches = matcher.match(case["text"], case.get("source", "Test source"))
    assert len(matches) <= 1, matches
    result = "none" if not matches else ("possible" if matches[0].possible else "match")
    assert result == expect["result"], (case["description"], matches)
    if not matches:
        return
    m = matches[0]
    assert m.watchlist == wl.name
    assert m.severity == wl.severity
    if "terms" in expect:
        assert sorted(m.terms) == sorted(expect["terms"]), m
    if "people" in expect:
        assert sorted(m.people) == sorted(expect["people"]), m
    if "snippet_contains" in expect:
        assert expect["snippet_contains"] in m.snippet, m.snippet
    assert len(m.snippet) <= expect.get("snippet_max", 260)
    # explain must reach the same verdict and say so
    rendered = matcher.explain(case["text"], case.get("source", "Test source")).render()
    assert f"[{result}] {wl.name}" in rendered


def test_one_match_per_watchlist_and_only_applicable() -> None:
    wls = [
        Watchlist("A", any=("sub-decree", "អនុក្រឹត្យ")),
        Watchlist("B", any=("working group",), sources=("Other",)),
        Watchlist("C", people=(Person("Kem Sokha"),)),
    ]
    text = "Sub-decree, sub-decree and អនុក្រឹត្យ; a working group; Kem Sokha, Kem Sokha."
    matches = Matcher(wls).match(text, "Mine")
    assert [m.watchlist for m in matches] == ["A", "C"]
    assert matches[0].terms == ("sub-decree", "អនុក្រឹត្យ")
    assert matches[1].people == ("Kem Sokha",)


def test_thousands_of_people_in_one_automaton() -> None:
    people = tuple(Person(f"Person{i} Family{i}") for i in range(3000))
    wl = Watchlist("P", people=(*people, Person("Chhim Sithar", ("ឈឹម ស៊ីថា",))), fuzzy=True)
    matcher = Matcher([wl])
    assert matcher.match("Police held ឈឹម ស៊ីថា.", "s")[0].people == ("Chhim Sithar",)
    assert matcher.match("Family2999 Person2999 spoke", "s")[0].people == ("Person2999 Family2999",)
    assert matcher.match("Person29 Family2999 spoke", "s") == ()


def test_explain_shows_normalised_text_veto_and_near_miss() -> None:
    wl = Watchlist("Sub-decrees", any=("NIG", "sub-decree"), none=("mine clearance",))
    rendered = Matcher([wl]).explain("NIGeria: Sub‑Decree on mine clearance", "s").render()
    assert "nigeria sub decree on mine clearance" in rendered
    assert "vetoed by none: 'mine clearance'" in rendered
    assert "near miss: 'NIG'" in rendered
    assert "[no match] Sub-decrees" in rendered


def test_explain_reports_proximity_reason() -> None:
    wl = Watchlist("Arrests", people=(Person("Kem Sokha"),), near=("arrest*",), within=2)
    rendered = Matcher([wl]).explain("Kem Sokha met many people before arrests.", "s").render()
    assert "[possible] Arrests" in rendered
    assert "words apart (within = 2)" in rendered


def test_align_reproduces_match_normal_form() -> None:
    # Offsets for snippets come from `align`; it must rebuild exactly the fast-path text.
    texts = [_load(p)["text"] for p in CASE_FILES]
    for text in texts:
        aligned = align(text, drop=re.compile("[a-z]"))
        assert aligned.text == match_normalise(text)
        assert len(aligned.offsets) == len(aligned.text)


def test_unknown_termset_is_refused() -> None:
    with pytest.raises(KeyError, match="unknown term set"):
        Matcher([Watchlist("x", any=("@nonsense",))])


# --- docs/matching.md: its examples are tests ------------------------------------------

DOCS = Path(__file__).parent.parent / "docs" / "matching.md"
_FENCE = re.compile(r"```toml\n(.*?)```", re.S)


def _doc_examples() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    for block in _FENCE.findall(DOCS.read_text(encoding="utf-8")):
        data = tomllib.loads(block)
        for k, example in enumerate(data.get("example", [])):
            out.append((f"{len(out)}:{example['result']}:{k}", data["watchlist"], example))
    return out


DOC_EXAMPLES = _doc_examples()


def _doc_watchlist(data: dict[str, Any]) -> Watchlist:
    people = []
    for entry in data.get("people", ()):
        name, *aliases = (part.strip() for part in entry.split("|"))
        people.append(Person(name, tuple(aliases)))
    return Watchlist(
        name="docs",
        any=tuple(data.get("any", ())),
        all=tuple(tuple(a) if isinstance(a, list) else (a,) for a in data.get("all", ())),
        none=tuple(data.get("none", ())),
        people=tuple(people),
        near=tuple(data.get("near", ())),
        within=int(data.get("within", 30)),
        fuzzy=bool(data.get("fuzzy", False)),
    )


def test_docs_have_examples_of_every_result() -> None:
    assert len(DOC_EXAMPLES) >= 25
    assert {e["result"] for _, _, e in DOC_EXAMPLES} == {"match", "possible", "nothing"}


@pytest.mark.parametrize(
    ("watchlist", "example"),
    [(w, e) for _, w, e in DOC_EXAMPLES],
    ids=[i for i, _, _ in DOC_EXAMPLES],
)
def test_docs_example(watchlist: dict[str, Any], example: dict[str, Any]) -> None:
    matches = Matcher([_doc_watchlist(watchlist)]).match(example["text"], "docs")
    result = "nothing" if not matches else ("possible" if matches[0].possible else "match")
    assert result == example["result"], example["text"]


def test_docs_list_every_term_set_and_word() -> None:
    from watcher.matching.termsets import TERMSETS

    text = DOCS.read_text(encoding="utf-8")
    for name, words in TERMSETS.items():
        assert f"`@{name}`" in text, name
        for word in words:
            assert f"`{word}`" in text, (name, word)
