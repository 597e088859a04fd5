"""Events, not mentions (SPEC §5), `watcher check --examples` (SPEC §13), explain's word
numbers in Khmer (issue 20 point 7), and the labelled corpus's goal (issue 19).

The rules' own examples live in docs/matching.md (each is a test in test_matching.py)
and in tests/data/matching/cases/event_*.toml; the texts here were written for the tests.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from watcher.cli import main
from watcher.matching import Matcher
from watcher.models import Person, Watchlist

DATA = Path(__file__).parent / "data" / "examples"
CONFIG = str(DATA / "config.toml")
CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


# --- explain: word numbers in Khmer are the segmenter's (issue 20 point 7) ------------


def test_explain_numbers_khmer_words_as_the_segmenter_counts_them() -> None:
    wl = Watchlist(
        "Arrests", people=(Person("Rong Chhun", ("រ៉ុង ឈុន",)),), near=("@arrest",), within=3
    )
    text = "លោក រ៉ុង ឈុន បានទៅផ្សារ។ ប៉ូលិសបានចាប់ខ្លួនយុវជនពីរនាក់នៅថ្ងៃសុក្រ។"
    rendered = Matcher([wl]).explain(text, "s").render()
    positions = [int(n) for n in re.findall(r"at word (\d+)", rendered)]
    assert positions, rendered
    # Before the fix every hit of the glued Khmer text was "at word 1".
    assert len(set(positions)) > 1, rendered
    line = next(x for x in rendered.splitlines() if "does not refer back" in x)
    name_at, near_at = (int(n) for n in re.findall(r"at word (\d+)", line))
    assert near_at > name_at + 3, line


def test_explain_latin_word_numbers_unchanged() -> None:
    wl = Watchlist("A", any=("sub-decree",))
    rendered = Matcher([wl]).explain("One two three sub-decree", "s").render()
    assert "at word 4" in rendered


# --- the tiers: one test per rule (more in docs/matching.md) --------------------------

ARRESTS = Watchlist(
    "Arrests",
    people=(Person("Kem Sokha", ("កឹម សុខា",)), Person("Rong Chhun", ("រ៉ុង ឈុន",))),
    near=("@arrest",),
)


def _verdict(text: str, wl: Watchlist = ARRESTS) -> tuple[str, str]:
    matcher = Matcher([wl])
    matches = matcher.match(text, "s")
    verdict = "none" if not matches else ("possible" if matches[0].possible else "match")
    return verdict, matcher.explain(text, "s").render()


@pytest.mark.parametrize(
    ("text", "verdict", "rule"),
    [
        (
            "Union leader arrested\n\nPolice arrested Rong Chhun at his home. He was taken "
            "to court.",
            "match",
            "headline-lead",
        ),
        (
            "Rain in the capital\n\nIt rained. Roads flooded. Police arrested Rong Chhun on "
            "Friday.",
            "match",
            "recent-day",
        ),
        (
            "Rain in the capital\n\nIt rained. Roads flooded. The party was banned after "
            "Kem Sokha was charged with treason.",
            "possible",
            "in-passing",
        ),
        (
            "Kem Sokha met diplomats\n\nKem Sokha, arrested in 2017, met diplomats on Monday.",
            "possible",
            "background-year",
        ),
        (
            "Talks in 2024\n\nIn 2024 the talks resumed. Rong Chhun was arrested in 2020 "
            "in the capital.",
            "possible",
            "background-year",
        ),
        ("Why was Kem Sokha arrested?\n\nA video.", "possible", "question"),
        (
            "Vigil for unionist\n\nMembers held a vigil for Rong Chhun, who was arrested a "
            "year ago.",
            "possible",
            "anniversary",
        ),
        (
            "Minister warns unionist\n\nThe minister said Rong Chhun could be arrested.",
            "possible",
            "threat",
        ),
        (
            "Court acts\n\nThe court issued an arrest warrant for Rong Chhun.",
            "possible",
            "warrant",
        ),
        (
            "លោក កឹម សុខា ត្រូវបានតុលាការផ្ដន្ទាទោសកាលពីម្សិលមិញ។",
            "match",
            "headline-lead",
        ),
    ],
)
def test_tier_rule(text: str, verdict: str, rule: str) -> None:
    got, rendered = _verdict(text)
    assert got == verdict, rendered
    assert f"[rule: {rule}]" in rendered, rendered


def test_coreference_from_headline_and_lead() -> None:
    text = (
        "Opposition leader detained\n\nKem Sokha returned from a trip abroad. His party "
        "waited at the airport for hours. Supporters sang songs outside the terminal.\n"
        "He was detained by immigration police."
    )
    got, rendered = _verdict(text)
    assert got == "match", rendered
    assert "[rule: coreference]" in rendered


def test_short_detention_and_release_reported_together_is_news() -> None:
    text = "Activists held overnight\n\nRong Chhun was released after a night in police custody."
    assert _verdict(text)[0] == "match"
    text = "Unionist freed\n\nRong Chhun was released from prison after serving his sentence."
    got, rendered = _verdict(text)
    assert got == "possible" and "[rule: time-served]" in rendered


def test_commentator_on_others_arrests_is_not_the_one_arrested() -> None:
    text = "Mr Rong Chhun on the radio on Sunday stated that 24 people have been arrested."
    got, rendered = _verdict(text)
    assert got == "possible" and "[rule: role]" in rendered


def test_byline_of_names_and_outlet_does_not_count() -> None:
    text = (
        "Six activists held\nRong Chhun & Jane Doe - Example News\n\n"
        "Police arrested six activists on Monday."
    )
    got, rendered = _verdict(text)
    assert got == "possible" and "byline" in rendered


def test_headline_repeated_in_the_body_is_not_a_caption() -> None:
    title = "Opposition leader Kem Sokha sentenced to prison"
    got, rendered = _verdict(f"{title}\n\n{title}\n\nThe court gave no reasons.")
    assert got == "match", rendered
    assert "caption" not in rendered


WG = Watchlist("WG", any=("@working-group",), all=(("ministr*", "ក្រសួង"),))


def test_working_group_set_up_is_certain_at_work_possible() -> None:
    assert _verdict("The ministries formed a new committee on online news.", WG)[0] == "match"
    got, rendered = _verdict("The ministry's task force met donors to discuss details.", WG)
    assert got == "possible" and "[rule: set-up]" in rendered
    assert _verdict("ក្រសួងបានបង្កើតក្រុមការងារមួយ។", WG)[0] == "match"


SUB = Watchlist("Sub", any=("sub-decree", "អនុក្រឹត្យ"))


def test_definition_and_chrome_do_not_count() -> None:
    got, rendered = _verdict("អ្វីជាអនុក្រឹត្យ\n\nអនុក្រឹត្យ គឺជាលិខិតបទដ្ឋាន។", SUB)
    assert got == "none" and "[rule: definition]" in rendered
    teaser = "News\n\nGroups: Discard the Sub-Decree on the… example.org - latest news\nRain."
    got, rendered = _verdict(teaser, SUB)
    assert got == "none" and "[rule: chrome]" in rendered
    assert _verdict("A new sub-decree\n\nThe sub-decree is dated Friday.", SUB)[0] == "match"


def test_working_group_set_is_known_and_unknown_sets_are_refused() -> None:
    from watcher.matching.termsets import TERMSETS

    assert {"committee", "គណៈកម្មាធិការ", "task force"} <= set(TERMSETS["working-group"])
    assert {"bail", "នៅក្រៅឃុំ", "found guilty"} <= set(TERMSETS["arrest"])
    with pytest.raises(KeyError):
        Matcher([Watchlist("x", any=("@working-groups",))])


def test_readme_lists_every_term_set_and_word() -> None:
    from watcher.matching.termsets import TERMSETS

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for name, words in TERMSETS.items():
        assert f"`@{name}`" in readme, name
        for word in words:
            assert f"`{word}`" in readme, (name, word)


# --- watcher check --examples (SPEC §13) ------------------------------------------------


def test_check_examples_all_as_expected_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["-c", CONFIG, "check", "--examples", str(DATA / "good.jsonl")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Arrests of named defenders: 1 expected alerts, 1 alerted, 0 missed, 0 false" in out


def test_check_examples_lists_misses_and_false_alerts_with_reasons(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc = main(["-c", CONFIG, "check", "--examples", str(DATA / "missed.jsonl")])
    captured = capsys.readouterr()
    out = captured.out
    assert rc == 1, out
    assert "missed: line 1" in out and "expected alert, got possible" in out
    assert "[rule: in-passing]" in out
    assert "missed: line 2" in out and "[rule: definition]" in out
    assert "differs: line 3" in out and "[rule: set-up]" in out
    assert "'Nonexistent list'" in out


def test_check_examples_reads_the_corpus_format(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["-c", CONFIG, "check", "--examples", str(DATA / "corpus_format.jsonl")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Arrests of named defenders: 1 expected alerts, 1 alerted" in out
    assert "differs: line 2 own-2: expected none, got possible" in out


def test_check_examples_bad_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-c", CONFIG, "check", "--examples", str(DATA / "bad.jsonl")]) == 2
    assert "bad.jsonl:1:" in capsys.readouterr().err
    assert main(["-c", CONFIG, "check", "--examples", str(DATA / "absent.jsonl")]) == 2


# --- the labelled corpus (issue 19): the goal, deterministically ----------------------

# The goal of SPEC §5. Reached on the corpus when this was written (100 / 100 / 97.9 /
# 0.14); lower these only with a note saying why.
GOAL = {"reaching": 100.0, "certain": 90.0, "right": 95.0, "possible_only": 0.15}
_TIERS = re.compile(
    r"tiers: reaching staff ([\d.]+)% .*certain ([\d.]+)% .*certain right ([\d.]+)% .*"
    r"possible-only ([\d.]+) per article"
)


@pytest.mark.skipif(
    not (CORPUS / "score.py").exists(), reason=f"the labelled corpus is not at {CORPUS}"
)
def test_corpus_goal() -> None:
    watcher = Path(sys.executable).parent / "watcher"
    proc = subprocess.run(
        [sys.executable, str(CORPUS / "score.py"), "--watcher", str(watcher)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    m = _TIERS.search(proc.stdout)
    assert m, proc.stdout[-3000:] + proc.stderr[-2000:]
    reaching, certain, right, possible_only = (float(g) for g in m.groups())
    assert reaching >= GOAL["reaching"], proc.stdout[-4000:]
    assert certain >= GOAL["certain"], proc.stdout[-4000:]
    assert right >= GOAL["right"], proc.stdout[-4000:]
    assert possible_only <= GOAL["possible_only"], proc.stdout[-4000:]
    assert proc.returncode == 0, proc.stdout[-4000:]
