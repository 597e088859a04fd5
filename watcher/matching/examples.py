"""`watcher check --examples FILE` (SPEC §13): labelled examples against the watchlists.

Staff keep a file of examples beside the config, one JSON object a line:

    {"title": "…", "text": "…", "url": "…", "published": "…",
     "expect": {"Arrests of named defenders": "alert", "Sub-decrees": "none"}}

and see, before a reload, which wanted alerts an edit of a watchlist would lose and which
examples it would alert on wrongly, each with the `explain` reason. The labelled corpus's
format is read too (`want`: watchlist key → true/false, as `shared/corpus/score.py` writes
its four watchlists): a key is the watchlist whose name holds its word (`sub` →
"sub-decree", `wg` → "working group", `arrest` → "arrest", `nig` → "gateway").

The decision part (`run_examples`) is pure; `load_examples` reads the file.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from watcher.matching import Matcher
from watcher.models import Watchlist

EXPECTATIONS = ("alert", "possible", "none")
# The corpus's watchlist keys, and the word of the watchlist name each stands for.
CORPUS_KEYS = {
    "sub": "sub-decree",
    "wg": "working group",
    "arrest": "arrest",
    "nig": "gateway",
}


class ExamplesError(ValueError):
    """An examples file that cannot be read: FILE:LINE: message."""


@dataclass(frozen=True)
class Example:
    """One labelled example: its text and, per watchlist key, what is expected."""

    line: int
    label: str
    text: str
    expect: tuple[tuple[str, str], ...]  # (watchlist name or corpus key, expectation)


@dataclass(frozen=True)
class Outcome:
    """One example that a watchlist gets wrong."""

    example: Example
    expected: str
    got: str  # "alert" | "possible" | "none"
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class WatchlistResult:
    """Per watchlist: how many examples expect an alert, and the ones it gets wrong."""

    watchlist: str
    expected_alerts: int
    alerted: int
    missed: tuple[Outcome, ...]  # an expected alert that is possible or none
    false: tuple[Outcome, ...]  # an alert where none or possible was expected
    other: tuple[Outcome, ...]  # a possible or none that differs from what was expected


def load_examples(path: Path) -> list[Example]:
    """Read an examples file (SPEC §13 JSON lines, or the corpus's format)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ExamplesError(f"{path}: cannot read: {exc}") from exc
    out: list[Example] = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ExamplesError(f"{path}:{n}: not JSON: {exc.msg}") from exc
        if not isinstance(data, dict):
            raise ExamplesError(f"{path}:{n}: an example is a JSON object")
        out.append(_example(path, n, data))
    return out


def _example(path: Path, n: int, data: dict[str, object]) -> Example:
    title = data.get("title") or ""
    text = data.get("text") or ""
    if not isinstance(title, str) or not isinstance(text, str) or not (title or text):
        raise ExamplesError(f"{path}:{n}: text: needs a `title` or `text` string")
    expect: list[tuple[str, str]] = []
    labels, wants = data.get("expect"), data.get("want")
    if isinstance(labels, dict):
        for name, value in labels.items():
            if value not in EXPECTATIONS:
                raise ExamplesError(
                    f"{path}:{n}: expect.{name}: {value!r} is not one of " + ", ".join(EXPECTATIONS)
                )
            expect.append((str(name), str(value)))
    elif isinstance(wants, dict):
        for key, value in wants.items():
            expect.append((str(key), "alert" if value else "none"))
    else:
        raise ExamplesError(f"{path}:{n}: expect: missing (watchlist name -> alert|possible|none)")
    label = str(data.get("id") or data.get("url") or title or text[:60])
    body = "\n\n".join(part for part in (title, text) if part)
    return Example(n, label, body, tuple(expect))


def resolve(name: str, watchlists: Sequence[Watchlist]) -> Watchlist | None:
    """The watchlist an expectation names: by name (case-insensitive), else a corpus key."""
    for wl in watchlists:
        if wl.name.casefold() == name.casefold():
            return wl
    word = CORPUS_KEYS.get(name)
    if word:
        for wl in watchlists:
            if word in wl.name.casefold():
                return wl
    return None


def run_examples(
    watchlists: Sequence[Watchlist], examples: Sequence[Example]
) -> tuple[list[WatchlistResult], list[str]]:
    """Each watchlist's results over the examples, and the expectations that name no
    watchlist. Every watchlist reads every example (sources = *), as `explain` does."""
    wls = tuple(dataclasses.replace(w, sources=("*",)) for w in watchlists)
    matcher = Matcher(wls)
    per: dict[str, dict[str, list[Outcome]]] = {
        w.name: {"missed": [], "false": [], "other": []} for w in wls
    }
    counts: dict[str, list[int]] = {w.name: [0, 0] for w in wls}
    unknown: list[str] = []
    for ex in examples:
        wanted: dict[str, str] = {}
        for name, value in ex.expect:
            wl = resolve(name, wls)
            if wl is None:
                if name not in unknown:
                    unknown.append(name)
                continue
            wanted[wl.name] = value
        if not wanted:
            continue
        explanation = matcher.explain(ex.text, "*")
        for report in explanation.reports:
            if report.name not in wanted:
                continue
            expected = wanted[report.name]
            got = {"match": "alert", "possible": "possible"}.get(report.verdict, "none")
            if expected == "alert":
                counts[report.name][0] += 1
            if got == "alert":
                counts[report.name][1] += 1
            if got == expected:
                continue
            outcome = Outcome(ex, expected, got, _reasons(report.lines))
            if expected == "alert":
                per[report.name]["missed"].append(outcome)
            elif got == "alert":
                per[report.name]["false"].append(outcome)
            else:
                per[report.name]["other"].append(outcome)
    results = [
        WatchlistResult(
            w.name,
            counts[w.name][0],
            counts[w.name][1],
            tuple(per[w.name]["missed"]),
            tuple(per[w.name]["false"]),
            tuple(per[w.name]["other"]),
        )
        for w in wls
    ]
    return results, unknown


def _reasons(lines: Sequence[str]) -> tuple[str, ...]:
    """The explain lines that say why: those naming a rule, else the last ones."""
    ruled = [line for line in lines if "[rule:" in line]
    if ruled:
        return tuple(dict.fromkeys(ruled))[:3]
    shown = [line for line in lines if not line.startswith("snippet:")]
    return tuple(shown[-2:])


def render(path: Path, results: Sequence[WatchlistResult], unknown: Sequence[str]) -> str:
    """What `watcher check --examples` prints."""
    out: list[str] = []
    for name in unknown:
        out.append(f"{path}: expect names no watchlist: {name!r} (ignored)")
    for r in results:
        out.append(
            f"{r.watchlist}: {r.expected_alerts} expected alerts, {r.alerted} alerted, "
            f"{len(r.missed)} missed, {len(r.false)} false"
        )
        for kind, outcomes in (("missed", r.missed), ("false", r.false), ("differs", r.other)):
            for o in outcomes:
                out.append(
                    f"  {kind}: line {o.example.line} {o.example.label}: "
                    f"expected {o.expected}, got {o.got}"
                )
                out.extend(f"      {reason[:300]}" for reason in o.reasons)
    return "\n".join(out)


def any_missed(results: Sequence[WatchlistResult]) -> bool:
    """True when a wanted alert would be missed (exit 1, SPEC §13)."""
    return any(r.missed for r in results)
