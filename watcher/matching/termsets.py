"""The product's curated term sets (SPEC §5): a watchlist term `@name` stands for a list.

Staff write `near = ["@arrest"]` instead of keeping their own list of the ways English
and Khmer news report an arrest. docs/matching.md lists every set; `watcher check` rejects an
unknown one (`is_termset`, `expand_terms`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

TERMSETS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # Arrest, detention, custody, charges, conviction and sentencing.
        "arrest": (
            # English: every word also matches its inflections (Snowball stem), so
            # "charged" reaches "charges", "convicted" "conviction", "imprisoned"
            # "imprisonment". "detention" is listed: no stemmer joins it to "detain".
            "arrest*",
            "detain*",
            "detention",
            "detainee*",
            "custody",
            "charged",
            "indicted",
            "convicted",
            "sentenced",
            "jailed",
            "imprisoned",
            "summoned",
            "remanded",
            "apprehended",
            "incarcerated",
            "behind bars",
            "pretrial detention",
            "provisional detention",
            # Bail refused, detention extended: a court keeps the person in custody.
            "bail",
            "found guilty",
            # Khmer: arrest, detain (also ចាប់ឃាត់ខ្លួន), hold in custody, charge,
            # convict, sentence, be jailed / put in prison, summon.
            "ចាប់ខ្លួន",
            "ឃាត់ខ្លួន",
            "ចាប់ឃាត់",
            "ឃុំខ្លួន",
            "ឃុំឃាំង",
            "ដាក់ឃុំ",
            # bail: "remain outside custody", asked for and refused
            "នៅក្រៅឃុំ",
            "ចោទប្រកាន់",
            "ផ្ដន្ទាទោស",
            "កាត់ទោស",
            "ជាប់ពន្ធនាគារ",
            "ដាក់ពន្ធនាគារ",
            "បញ្ជូនទៅពន្ធនាគារ",
            "ជាប់គុក",
            "ដាក់គុក",
            "កោះហៅ",
        ),
        # New legal instruments that restrict rights.
        "decree": (
            "sub-decree",
            "sub decree",
            "prakas",
            "royal decree",
            "directive",
            "អនុក្រឹត្យ",
            "ប្រកាស",
            "ព្រះរាជក្រឹត្យ",
            "សេចក្តីណែនាំ",
        ),
        # Bodies that monitor or regulate (SPEC §5): a working group and what does its
        # job under another name. A watchlist with `any = ["@working-group"]` gets the
        # event rule of docs/matching.md: certain when the item reports one set up.
        "working-group": (
            "working group",
            "taskforce",
            "task force",
            "committee",
            "commission",
            "ក្រុមការងារ",
            "គណៈកម្មការ",
            "គណៈកម្មាធិការ",
        ),
        # Bodies set up to monitor speech and the internet.
        "monitoring": (
            "working group",
            "committee",
            "task force",
            "national internet gateway",
            "ក្រុមការងារ",
            "គណៈកម្មការ",
            "ច្រកចេញចូលអ៊ីនធឺណិតជាតិ",
        ),
    }
)


def is_termset(term: str) -> bool:
    """True when a configured term names a term set (`@arrest`)."""
    return term.startswith("@")


def expand_terms(terms: Iterable[str]) -> tuple[str, ...]:
    """Replace every `@set` term by its words; raise KeyError naming an unknown set."""
    out: list[str] = []
    for term in terms:
        if is_termset(term):
            name = term[1:].strip().lower()
            if name not in TERMSETS:
                raise KeyError(f"unknown term set {term!r}; known: {', '.join(sorted(TERMSETS))}")
            out.extend(TERMSETS[name])
        else:
            out.append(term)
    return tuple(out)
