"""Matching throughput (SPEC §5: cost per item must not grow with the number of people).

Run: .venv/bin/python bench/matching.py [--items 20000] [--runs 3]

Generates news items in the style of the seed articles (English, and 40% Khmer) and
compiles three watchlists (terms, all/none, and a people list with `near = ["@arrest"]`
and `fuzzy`). Two workloads, each for 10, 1,000 and 10,000 people (median of runs):

- realistic: as on the real feeds, most items match nothing. Each item has a 4% chance
  of a sub-decree / working-group sentence and 5% name a listed person near an arrest
  word, so ~9% alert; arrest words without a listed person are common.
- worst case: every item carries the watched sentences and a listed person, so every
  item matches every watchlist (snippets, proximity and sentences on every item).

Prints items/s, MB/s, compile time and memory, and the 10- / 10,000-people ratio.
Not a test.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import time
import tracemalloc

from watcher.matching import Matcher
from watcher.models import Person, Severity, Watchlist

# Sentences that make a watchlist match (with a ministry, for the working-group one).
HOT = [
    "Some 116 organisations urged officials to dismantle the new inter-ministry working "
    "group set up to monitor social networking sites.",
    "Three UN special rapporteurs issued a joint statement calling on the authorities to "
    "halt the sub-decree that will establish the National Internet Gateway.",
    "Garment exports rose in the first quarter, the commerce ministry said on Monday.",
    "Floods in Battambang displaced hundreds of families, provincial officials said.",
    "រាជរដ្ឋាភិបាលបានចេញអនុក្រឹត្យស្ដីពីការបង្កើតច្រកចេញចូលអ៊ីនធឺណិតជាតិ។",
    "ក្រសួងមហាផ្ទៃ ក្រសួងព័ត៌មាន និងក្រសួងប្រៃសណីយ៍បានបង្កើតក្រុមការងារថ្មី។",
]
ENGLISH = [
    "The statement said the order can be used to stifle all forms of public discussion in "
    "Cambodia.",
    "The ministries of interior, information and telecommunications jointly operate the "
    "new government group.",
    "A ministry of Justice official dismissed claims by civil society organisations that "
    "the government had persecuted human rights defenders.",
    "Ministry spokesman Chin Malin said enforcement of the law does not amount to persecution.",
    "Sixty-seven civil society organisations renewed a call to stop attacks against "
    "political activists, journalists and dissenting voices.",
    "The garment workers' union said its members were followed by plainclothes police "
    "after the strike.",
    "Garment exports rose in the first quarter, the commerce ministry said on Monday.",
    "Floods in Battambang displaced hundreds of families, provincial officials said.",
    "Rights groups said the trial of the former ADHOC staff was unjust.",
    "Provincial police detained two land activists on Tuesday, a monitor said.",
    "The court charged the youth activist with incitement to commit a felony.",
]
KHMER = [
    "ទឹកជំនន់នៅខេត្តបាត់ដំបងបានធ្វើឱ្យគ្រួសាររាប់រយត្រូវជម្លៀសចេញពីផ្ទះ។",
    "អង្គការសង្គមស៊ីវិលចំនួន ១១៦ បានស្នើឱ្យរំលាយក្រុមនេះ។",
    "សមាជិកសហជីពពីរនាក់ត្រូវបានចាប់ខ្លួននៅខេត្តសៀមរាប។",
    "តុលាការបានចោទប្រកាន់សកម្មជនយុវជនម្នាក់ពីបទញុះញង់។",
    "មន្ត្រីក្រសួងយុត្តិធម៌បានច្រានចោលការចោទប្រកាន់របស់អង្គការសង្គមស៊ីវិល។",
    "ប៉ូលិសបានឃាត់ខ្លួនសកម្មជនដីធ្លីពីរនាក់កាលពីថ្ងៃអង្គារ។",
]
FAMILY = [
    "Chhim",
    "Kem",
    "Sam",
    "Chak",
    "Am",
    "Seng",
    "Hun",
    "Sok",
    "Chan",
    "Meas",
    "Keo",
    "Ouk",
    "Long",
    "Touch",
    "Prak",
    "Nuon",
    "Mam",
    "Heng",
    "Vorn",
    "Yim",
    "Pen",
    "Ly",
]
SYLLABLES = [
    "so",
    "kha",
    "thar",
    "phea",
    "rith",
    "vanna",
    "dara",
    "sitha",
    "mony",
    "vuth",
    "nary",
    "chea",
    "pov",
    "ratha",
    "sopheap",
    "kun",
    "theary",
    "leak",
    "bopha",
    "ny",
]
KH_FAMILY = ["ឈឹម", "កឹម", "សម", "ចក់", "អំ", "សេង", "ហ៊ុន", "សុខ", "ចាន់", "មាស"]
KH_GIVEN = ["ស៊ីថា", "សុខា", "រង្ស៊ី", "សុភាព", "វណ្ណា", "ដារា", "មុនី", "វុធ", "នារី", "បុប្ផា"]


def make_people(n: int, rng: random.Random) -> tuple[Person, ...]:
    """`n` distinct Cambodian-style names, each with a Khmer alias."""
    people: dict[str, Person] = {}
    while len(people) < n:
        given = "".join(rng.sample(SYLLABLES, rng.choice((1, 2)))).capitalize()
        name = f"{rng.choice(FAMILY)} {given}{len(people) if len(people) > 400 else ''}"
        alias = f"{rng.choice(KH_FAMILY)} {rng.choice(KH_GIVEN)}{'ក' * (len(people) % 7)}"
        people.setdefault(name, Person(name, (alias,)))
    return tuple(people.values())


def make_items(count: int, rng: random.Random, hot: float) -> list[str]:
    """Title, summary and content joined by blank lines, like `Item.text`; a share
    `hot` of items carries a sentence that makes a term watchlist match."""
    items = []
    for _ in range(count):
        pool = KHMER if rng.random() < 0.4 else ENGLISH
        title = rng.choice(pool)
        summary = " ".join(rng.sample(pool, 2))
        body = " ".join(rng.choice(pool) for _ in range(rng.randint(4, 14)))
        if rng.random() < hot:
            body += " " + (" ".join(HOT) if hot >= 1 else rng.choice(HOT))
        items.append("\n\n".join((title, summary, body)))
    return items


def watchlists(people: tuple[Person, ...]) -> list[Watchlist]:
    """The example config's watchlists (SPEC §4), with `people` as the people list."""
    return [
        Watchlist(
            "Sub-decrees",
            Severity.HIGH,
            any=("sub-decree", "prakas", "អនុក្រឹត្យ"),
            none=("mine clearance",),
        ),
        Watchlist(
            "Working groups",
            Severity.HIGH,
            any=("working group", "ក្រុមការងារ"),
            all=(("ministr*", "ក្រសួង"),),
        ),
        Watchlist(
            "Arrests of named defenders",
            Severity.URGENT,
            people=people,
            near=("@arrest",),
            within=30,
            fuzzy=True,
        ),
    ]


def run(
    n_people: int, items: list[str], named: float, runs: int, rng: random.Random
) -> dict[str, float]:
    """Compile for `n_people`, then time matching all items `runs` times; a share
    `named` of items names a listed person beside an arrest word."""
    people = make_people(n_people, rng)
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    matcher = Matcher(watchlists(people))
    compile_s = time.perf_counter() - t0
    _, compile_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    local = random.Random(1)
    every = round(1 / named) if named < 1 else 1
    texts = [
        t + (f" Police arrested {local.choice(people).name}." if i % every == 0 else "")
        for i, t in enumerate(items)
    ]
    size_mb = sum(len(t.encode()) for t in texts) / 1e6
    rates = []
    alerting = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        alerting = 0
        for text in texts:
            alerting += bool(matcher.match(text, "bench"))
        rates.append(len(texts) / (time.perf_counter() - t0))
    rate = statistics.median(rates)
    return {
        "people": n_people,
        "items_s": rate,
        "mb_s": rate * size_mb / len(texts),
        "compile_s": compile_s,
        "compile_mb": compile_peak / 1e6,
        "alerting": alerting / len(texts),
    }


def table(title: str, items: list[str], named: float, runs: int) -> list[dict[str, float]]:
    """Run one workload for 10, 1,000 and 10,000 people and print its table."""
    rng = random.Random(42)
    avg_kb = sum(len(t.encode()) for t in items) / len(items) / 1e3
    print(f"\n{title}: {len(items)} items, {avg_kb:.1f} kB each, median of {runs} runs")
    header = ("people", "items/s", "MB/s", "compile s", "compile MB", "alerting")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (7, 9, 6, 9, 10, 8), strict=True)))
    results = []
    for n in (10, 1_000, 10_000):
        r = run(n, items, named, runs, rng)
        results.append(r)
        print(
            f"{n:>7} {r['items_s']:>9.0f} {r['mb_s']:>6.1f} {r['compile_s']:>9.2f}"
            f" {r['compile_mb']:>10.1f} {r['alerting']:>7.0%}"
        )
    ratio = results[0]["items_s"] / results[-1]["items_s"]
    print(f"10-people rate / 10,000-people rate: {ratio:.2f}x")
    return results


def main() -> None:
    """Print the throughput tables: realistic, then the all-match worst case."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = random.Random(7)
    table("realistic", make_items(args.items, rng, hot=0.04), 0.05, args.runs)
    table("worst case (every item matches)", make_items(args.items, rng, hot=1.0), 1.0, args.runs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"\npeak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
