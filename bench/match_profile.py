"""Where `Matcher.match` spends its time on the scale benchmark's items (issue #8).

Run: .venv/bin/python bench/match_profile.py [--feeds 100] [--items 50] [--runs 5] [--profile]

Renders the feeds of the 1,000-feed benchmark directly with bench/feedgen.py (no
server: the bytes are the ones bench/feedserver.py serves), parses them with
`parse_feed`, compiles the benchmark config's watchlists (3 watchlists, 500 people,
feedgen.write_config) and times `Matcher.match(matched_text(item, None), source)` per
item. Reports the median of `--runs` runs in ms/item (CPU time), split into items that match
nothing and items that match; the compile time; and how much the process's resident
memory (VmRSS) grows when the matcher is compiled, since a compiled matcher lives in
every parse worker process.

`--profile` adds a cProfile of one run. `--dump FILE` saves the texts and every
Match and `explain` output (bench items, the demo feeds, the test cases and
bench/matching.py's items); `--check FILE` re-runs them with the current code and
lists every difference: the differential check for changes that must not change a
verdict. Dump with the old code (e.g. `git archive HEAD` unpacked elsewhere, run with
PYTHONPATH pointing there), check with the new. Not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pickle
import pstats
import random
import statistics
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feedgen import ENGLISH as ENGLISH_SENTENCES
from feedgen import default_epoch, feed_specs, feed_xml, people, write_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from test_matching import _watchlist as case_watchlist  # the case files' own reader

from watcher.config import load_config
from watcher.matching import Matcher
from watcher.models import FetchResult, Watchlist
from watcher.pipeline.poll import matched_text
from watcher.sources.feed import parse_feed

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Corpus:
    """Watchlists and the (text, source) pairs to match against them."""

    name: str
    watchlists: tuple[Watchlist, ...]
    items: tuple[tuple[str, str], ...]


def rss_kib() -> int:
    """This process's resident set size (VmRSS), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def bench_corpus(feeds: int, items: int) -> Corpus:
    """The scale benchmark's first `feeds` feeds, parsed, with its config's watchlists."""
    specs = feed_specs(max(feeds, 1))[:feeds]
    epoch = default_epoch(items)
    names = [name for name, _ in people()]
    with tempfile.TemporaryDirectory(prefix="match-profile-") as tmp:
        config = load_config(write_config(Path(tmp), specs, 9))
    out: list[tuple[str, str]] = []
    for spec, source in zip(specs, config.sources, strict=True):
        body = feed_xml(spec, 0, items, epoch, names)
        content_type = "application/atom+xml" if spec.atom else "application/rss+xml"
        result = FetchResult(
            url=source.url, status=200, body=body, content_type=content_type, final_url=source.url
        )
        out.extend((matched_text(item, None), source.name) for item in parse_feed(source, result))
    return Corpus("bench", config.watchlists, tuple(out))


def demo_corpus() -> Corpus:
    """The demo's feeds, parsed, with the demo config's watchlists."""
    from watcher.demo.sample import render_demo_feeds, write_demo_config

    bodies = render_demo_feeds(datetime.now(UTC))
    with tempfile.TemporaryDirectory(prefix="match-profile-demo-") as tmp:
        config = load_config(write_demo_config(Path(tmp), "127.0.0.1:9", "127.0.0.1:9"), {})
    out: list[tuple[str, str]] = []
    for source in config.sources:
        if source.kind != "feed":
            continue
        path = "/" + source.url.split("/", 3)[3]
        result = FetchResult(url=source.url, status=200, body=bodies[path], final_url=source.url)
        out.extend((matched_text(item, None), source.name) for item in parse_feed(source, result))
    return Corpus("demo", config.watchlists, tuple(out))


def case_corpora() -> Iterator[Corpus]:
    """Every data-driven matching case, each with its own watchlist."""
    for folder in ("cases", "reporting"):
        for path in sorted((ROOT / "tests" / "data" / "matching" / folder).glob("*.toml")):
            with path.open("rb") as f:
                case = tomllib.load(f)
            if "watchlist" not in case or "text" not in case:
                continue
            data = case["watchlist"]
            wl = case_watchlist(data)
            yield Corpus(
                f"{folder}/{path.stem}", (wl,), ((case["text"], case.get("source", "Test source")),)
            )


def synthetic_corpus() -> Corpus:
    """bench/matching.py's items (worst case: every watched sentence and a person)."""
    import matching as synth  # bench/matching.py

    rng = random.Random(5)
    persons = synth.make_people(300, rng)
    texts = synth.make_items(300, rng, 0.3) + synth.make_items(100, rng, 1.0)
    local = random.Random(1)
    items = tuple(
        (t + (f" Police arrested {local.choice(persons).name}." if i % 3 == 0 else ""), "bench")
        for i, t in enumerate(texts)
    )
    return Corpus("synthetic", tuple(synth.watchlists(persons)), items)


def _misspell(rng: random.Random, word: str) -> str:
    """`word` with one random edit: a letter dropped, doubled, changed or swapped."""
    i = rng.randrange(len(word))
    kind = rng.randrange(4)
    if kind == 0 and len(word) > 1:
        return word[:i] + word[i + 1 :]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i] + rng.choice("aehiknorsty") + word[i + 1 :]
    if i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word


def misspelt_corpus(count: int = 400) -> Corpus:
    """The benchmark's people written as reporting writes them: misspelt, in the other
    order, with a middle initial or an honorific, by one part alone, in Khmer, near
    arrest words or not, quoted as sources, now and then with invisible characters
    pasted in; the fuzzy and proximity rules' workload."""
    bench = bench_corpus(1, 1)
    listed = people()
    names = [name for name, _ in listed]
    aliases = [alias for _, alias in listed if alias]
    rng = random.Random(11)
    patterns = [
        "Police arrested {n} on Tuesday.",
        "{n} was detained in Phnom Penh. {p} was later charged.",
        "The court summoned {n}, said {m}.",
        "Rights groups said {n} remains in custody, according to {m}.",
        "{n}, a union leader, told reporters that police had arrested three workers.",
        "Deputy Governor {r} said the project would go ahead.",
        "In 2019, {n} was arrested and later released.",
        "Mr. {n} spoke at a rally. He was arrested the next day.",
        "Photo: {n} / Supplied",
        "{n} and {m} met officials to discuss the land dispute.",
    ]
    items = []
    for _ in range(count):
        chosen = []
        for _ in range(rng.randint(1, 4)):
            family, given = rng.choice(names).split(" ", 1)
            if rng.random() < 0.5:
                given = _misspell(rng, given)
            if rng.random() < 0.3:
                family = _misspell(rng, family)
            written = f"{family} {given}"
            if rng.random() < 0.2:
                written = f"{family} {rng.choice('ABCK')}. {given}"
            chosen.append((written, family, f"{given} {family}"))
        sentences = []
        for written, family, other in chosen:
            n2 = rng.choice(chosen)[0]
            sentence = rng.choice(patterns).format(n=written, p=family, m=n2, r=other)
            sentences.append(sentence[0].upper() + sentence[1:])
            sentences.append(rng.choice(ENGLISH_SENTENCES))
        if rng.random() < 0.3:
            alias = rng.choice(aliases)
            sentences.append(
                rng.choice(KHMER_PATTERNS).format(n=alias.replace(" ", rng.choice(" ​")))
            )
        rng.shuffle(sentences)
        text = "\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))
        if rng.random() < 0.25:
            at = [rng.randrange(len(text)) for _ in range(rng.randint(1, 6))]
            for i in sorted(at, reverse=True):
                text = text[:i] + rng.choice("\u200b\u00ad\ufeff\u200c") + text[i:]
        items.append((text, "x"))
    return Corpus("misspelt", bench.watchlists, tuple(items))


KHMER_PATTERNS = [
    "ប៉ូលិសបានចាប់ខ្លួនលោក {n} កាលពីថ្ងៃអង្គារ។",
    "លោក {n} បានថ្លែងថា ប៉ូលិសបានឃាត់ខ្លួនកម្មករបីនាក់។",
    "តុលាការបានចោទប្រកាន់ {n} ពីបទញុះញង់។",
]


def outcomes(corpus: Corpus) -> list[tuple[str, str, str]]:
    """Per item: every Match (repr), the whole `explain` output, and every hit that
    scanning finds (the hits themselves, not only those `explain` shows)."""
    from watcher.matching.scan import scan
    from watcher.matching.text import ItemText

    matcher = Matcher(corpus.watchlists)
    compiled = matcher._compiled
    out = []
    for text, source in corpus.items:
        matches = repr(matcher.match(text, source))
        explanation = matcher.explain(text, source)
        hits = scan(compiled, ItemText(text), None)
        out.append((matches, explanation.render() + "\n" + repr(explanation.matches), repr(hits)))
    return out


def differential_corpora(feeds: int, items: int) -> list[Corpus]:
    """Everything the differential check runs."""
    return [
        bench_corpus(feeds, items),
        demo_corpus(),
        synthetic_corpus(),
        misspelt_corpus(),
        *case_corpora(),
    ]


def dump(path: Path, feeds: int, items: int) -> None:
    """Save texts and outcomes: the reference a later `--check` compares with."""
    corpora = differential_corpora(feeds, items)
    with path.open("wb") as f:
        pickle.dump([(c, outcomes(c)) for c in corpora], f)
    print(f"dumped {sum(len(c.items) for c in corpora)} items of {len(corpora)} corpora to {path}")


def check(path: Path) -> int:
    """Re-run the dumped texts with the current code; print and count differences."""
    with path.open("rb") as f:
        saved: list[tuple[Corpus, list[tuple[str, str, str]]]] = pickle.load(f)
    differences = 0
    total = 0
    for corpus, expected in saved:
        for (text, source), want, got in zip(corpus.items, expected, outcomes(corpus), strict=True):
            total += 1
            for kind, w, g in zip(("match", "explain", "hits"), want, got, strict=True):
                if w != g:
                    differences += 1
                    if differences <= 10:
                        print(f"--- {corpus.name} [{source}] {kind} differs for {text[:80]!r}")
                        print(f"old: {w}\nnew: {g}")
    print(f"checked {total} items: {differences} difference(s)")
    return 1 if differences else 0


def time_runs(
    matcher: Matcher, items: Sequence[tuple[str, str]], runs: int
) -> tuple[list[float], list[float], int]:
    """Median over `runs` of each item's match time (seconds): (no match, match, hits)."""
    per_item: list[list[float]] = [[] for _ in items]
    matched = [False] * len(items)
    # CPU time of this process: on a shared machine, others' load does not count.
    clock = time.process_time
    for _ in range(runs):
        for k, (text, source) in enumerate(items):
            t0 = clock()
            result = matcher.match(text, source)
            per_item[k].append(clock() - t0)
            matched[k] = bool(result)
    medians = [statistics.median(ts) for ts in per_item]
    quiet = [m for m, hit in zip(medians, matched, strict=True) if not hit]
    loud = [m for m, hit in zip(medians, matched, strict=True) if hit]
    return quiet, loud, sum(matched)


def report(feeds: int, items: int, runs: int, profile: bool) -> None:
    """Time compile and match on the benchmark's items, and the matcher's memory."""
    corpus = bench_corpus(feeds, items)
    texts_kb = sum(len(t.encode()) for t, _ in corpus.items) / len(corpus.items) / 1024
    print(f"items: {len(corpus.items)} from {feeds} feeds, {texts_kb:.1f} kB of text on average")
    gc.collect()
    before = rss_kib()
    t0 = time.process_time()
    matcher = Matcher(corpus.watchlists)
    compile_s = time.process_time() - t0
    gc.collect()
    grown = rss_kib() - before
    print(f"compile: {compile_s * 1000:.0f} ms, RSS +{grown / 1024:.1f} MiB")
    quiet, loud, hits = time_runs(matcher, corpus.items, runs)
    n = len(corpus.items)
    total = sum(quiet) + sum(loud)
    print(f"match (median of {runs} runs per item): {total * 1000 / n:.3f} ms/item over {n}")
    if quiet:
        print(f"  no match: {sum(quiet) * 1000 / len(quiet):.3f} ms/item ({len(quiet)} items)")
    if loud:
        print(f"  match:    {sum(loud) * 1000 / len(loud):.3f} ms/item ({hits} items)")
    print(f"RSS after matching: +{(rss_kib() - before) / 1024:.1f} MiB since before compile")
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for text, source in corpus.items:
            matcher.match(text, source)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())


def main() -> int:
    """Parse arguments; report, dump or check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--dump", type=Path, help="save texts and outcomes to this file")
    parser.add_argument("--check", type=Path, help="compare with outcomes saved by --dump")
    args = parser.parse_args()
    if args.dump:
        dump(args.dump, args.feeds, args.items)
        return 0
    if args.check:
        return check(args.check)
    report(args.feeds, args.items, args.runs, args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
