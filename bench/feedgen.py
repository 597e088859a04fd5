"""Realistic synthetic feeds, people lists and configs for the scale benchmarks.

Everything here is deterministic from (feed index, item serial), so the feed
server (bench/feedserver.py), watcher and the peer all see the same bytes, and a
run can be repeated. A feed is a window of `items` consecutive item serials; each
"change" of a feed slides the window by `NEW_PER_CHANGE` serials, as a news site
publishes a few articles and drops the oldest from its feed.

Sizes follow real news feeds: 20–200 KiB per feed (WordPress feeds with full
`content:encoded` are at the top of that range, headline-only feeds at the
bottom), about a third in Khmer (UTF-8 Khmer is three bytes a character), a
mix of RSS 2.0 and Atom.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

NEW_PER_CHANGE = 5  # articles a changed feed gained since the last poll
ITEM_SPACING = timedelta(minutes=20)  # one article every 20 minutes per feed
FEEDS_PER_HOST = 4  # news sites publish several category feeds (per-host limit applies)

ENGLISH = [
    "Some 116 organisations urged officials to dismantle the new inter-ministry working "
    "group set up to monitor social networking sites.",
    "The statement said the order can be used to stifle all forms of public discussion.",
    "The ministries of interior, information and telecommunications jointly operate the "
    "new government group.",
    "Three UN special rapporteurs called on the authorities to halt the National Internet Gateway.",
    "A Ministry of Justice official dismissed claims by civil society organisations.",
    "Sixty-seven organisations renewed a call to stop attacks against political activists, "
    "journalists and dissenting voices.",
    "The garment workers' union said its members were followed by plainclothes police.",
    "Officials said the new rules on online media licensing will take effect next month.",
    "Rice exports rose by twelve percent in the first nine months of the year.",
    "The provincial governor inaugurated a new bridge across the Mekong on Monday.",
    "Flooding in the northwest displaced hundreds of families, the disaster committee said.",
    "The national football team drew one-all with its neighbour in a friendly match.",
    "Tourism arrivals at Angkor continued to recover, according to the ministry.",
    "The central bank kept its policy rate unchanged and forecast steady growth.",
    "A new garment factory opened in the special economic zone, employing 2,000 workers.",
    "Land disputes remain the most common complaint received by the rights group.",
]
KHMER = [
    "រាជរដ្ឋាភិបាលបានចេញសេចក្ដីជូនដំណឹងស្ដីពីការអភិវឌ្ឍហេដ្ឋារចនាសម្ព័ន្ធ។",
    "ក្រសួងមហាផ្ទៃ ក្រសួងព័ត៌មាន និងក្រសួងប្រៃសណីយ៍បានបើកកិច្ចប្រជុំថ្មី។",
    "អង្គការសង្គមស៊ីវិលចំនួន ១១៦ បានស្នើឱ្យមានការពិគ្រោះយោបល់ជាសាធារណៈ។",
    "ការនាំចេញអង្ករបានកើនឡើងដប់ពីរភាគរយក្នុងរយៈពេលប្រាំបួនខែដំបូង។",
    "អភិបាលខេត្តបានសម្ពោធស្ពានថ្មីឆ្លងកាត់ទន្លេមេគង្គកាលពីថ្ងៃច័ន្ទ។",
    "ទឹកជំនន់នៅភាគពាយព្យបានធ្វើឱ្យគ្រួសាររាប់រយត្រូវជម្លៀសចេញពីផ្ទះ។",
    "ក្រុមបាល់ទាត់ជាតិបានស្មើមួយទល់មួយក្នុងការប្រកួតមិត្តភាព។",
    "ចំនួនភ្ញៀវទេសចរមកកាន់អង្គរបានបន្តកើនឡើងវិញ។",
]
# Sentences that watchlists look for (SPEC §5): a few percent of items carry one.
ENGLISH_HITS = [
    "The government adopted a sub-decree establishing the National Internet Gateway.",
    "A new inter-ministry working group will monitor social media, the ministries said.",
    "The prakas on media licensing was signed by the minister last week.",
]
KHMER_HITS = [
    "រាជរដ្ឋាភិបាលបានចេញអនុក្រឹត្យស្ដីពីការបង្កើតច្រកចេញចូលអ៊ីនធឺណិតជាតិ។",
    "ក្រសួងទាំងបីបានបង្កើតក្រុមការងារថ្មីដើម្បីតាមដានបណ្ដាញសង្គម។",
]
FAMILY = [
    "Chhim", "Kem", "Sam", "Chak", "Am", "Seng", "Hun", "Sok", "Chan", "Meas", "Keo",
    "Ouk", "Long", "Touch", "Prak", "Nuon", "Mam", "Heng", "Vorn", "Yim", "Pen", "Ly",
]  # fmt: skip
SYLLABLES = [
    "so", "pha", "ra", "vy", "tha", "ny", "dara", "sith", "vann", "rith", "nak", "mony",
    "sam", "bo", "ly", "chea", "pov", "kim", "leak", "nita", "sok", "ath", "vuth", "thy",
]  # fmt: skip
KHMER_FAMILY = ["ឈឹម", "កឹម", "សម", "ចាក់", "អំ", "សេង", "សុខ", "ចាន់", "មាស", "កែវ"]
KHMER_GIVEN = ["ស៊ីថា", "សុខា", "រ៉ា", "វណ្ណា", "ដារ៉ា", "មុនី", "ចាន់ថា", "សុភា", "រិទ្ធ", "ពៅ"]


@dataclass(frozen=True)
class FeedSpec:
    """One synthetic feed: where it is served and what it looks like."""

    index: int
    host: str  # a loopback address: several feeds share one, as on real sites
    khmer: bool
    atom: bool
    gzip: bool  # served gzip-compressed when the client accepts it
    item_bytes: int  # approximate size of one item, so the feed lands in 20–200 KiB

    @property
    def path(self) -> str:
        return f"/feeds/{self.index}.xml"


def host_for(index: int) -> str:
    """Loopback address of feed `index`: 127.0.1.1, 127.0.1.2, … (all of 127/8 is loopback)."""
    n = index // FEEDS_PER_HOST + 1
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


def feed_specs(count: int, seed: int = 8) -> list[FeedSpec]:
    """`count` feeds: a third Khmer, 30% Atom, 40% gzip, sizes spread over 20–200 KiB."""
    rng = random.Random(seed)
    specs = []
    for i in range(count):
        khmer = rng.random() < 0.33
        target = rng.uniform(18 * 1024, 182 * 1024)  # lands in 20–200 KiB
        specs.append(
            FeedSpec(
                index=i,
                host=host_for(i),
                khmer=khmer,
                atom=rng.random() < 0.3,
                gzip=rng.random() < 0.4,
                item_bytes=int(target / 50),
            )
        )
    return specs


def people(count: int = 500, seed: int = 8) -> list[tuple[str, str]]:
    """(name, aliases) of `count` distinct people; every other one has a Khmer alias."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out = []
    while len(out) < count:
        given = "".join(rng.sample(SYLLABLES, 2)).capitalize()
        name = f"{rng.choice(FAMILY)} {given}"
        if name in seen:
            continue
        seen.add(name)
        alias = ""
        if len(out) % 2 == 0:
            alias = f"{rng.choice(KHMER_FAMILY)} {rng.choice(KHMER_GIVEN)}{len(out)}"
        out.append((name, alias))
    return out


def _vocabulary(seed: int, khmer: bool, size: int = 4000) -> list[str]:
    """Pseudo-words: real articles are distinct texts, and story detection (MinHash over
    shingles) must see unrelated articles as unrelated, as it would on real news."""
    rng = random.Random(f"vocabulary:{seed}:{khmer}")
    if khmer:
        consonants = [chr(c) for c in range(0x1780, 0x17A3)]
        vowels = ["ា", "ិ", "ី", "ុ", "ូ", "េ", "ែ", "ោ", "ៅ", "ំ", ""]
        return [
            "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4)))
            for _ in range(size)
        ]
    common = [
        "the",
        "of",
        "and",
        "to",
        "in",
        "a",
        "is",
        "that",
        "for",
        "on",
        "with",
        "as",
        "by",
        "at",
        "from",
        "said",
        "was",
        "were",
        "has",
    ]
    made = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(size)]
    return common * 40 + made


_WORDS = {False: _vocabulary(8, False), True: _vocabulary(8, True)}


def _sentence(rng: random.Random, khmer: bool) -> str:
    words = rng.choices(_WORDS[khmer], k=rng.randint(8, 22))
    if khmer:
        # Khmer runs words together and spaces between phrases; `។` ends a sentence.
        return " ".join("".join(words[i : i + 4]) for i in range(0, len(words), 4)) + "។"
    return " ".join(words).capitalize() + "."


def _paragraphs(rng: random.Random, spec: FeedSpec, person: str | None, hit: bool) -> list[str]:
    # Khmer characters are three bytes in UTF-8: sentences are counted in bytes. What
    # is left after the item's fixed markup (~650 bytes) is the article text.
    budget = spec.item_bytes - 650
    # Mostly fresh text, with a stock sentence now and then (boilerplate recurs in news).
    pool = KHMER if spec.khmer else ENGLISH
    sentences: list[str] = [_sentence(rng, spec.khmer)]
    size = 0
    while size < budget:
        sentence = rng.choice(pool) if rng.random() < 0.1 else _sentence(rng, spec.khmer)
        sentences.append(sentence)
        size += len(sentence.encode()) + 8
    if hit:
        hits = KHMER_HITS if spec.khmer else ENGLISH_HITS
        sentences.insert(rng.randrange(len(sentences)), rng.choice(hits))
    if person:
        sentences.insert(
            rng.randrange(len(sentences)), f"Police arrested {person} at his home on Tuesday."
        )
    return [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]


def item_xml(spec: FeedSpec, serial: int, epoch: datetime, names: list[str]) -> str:
    """One RSS <item> or Atom <entry>, deterministic from (feed, serial)."""
    rng = random.Random(f"{spec.index}:{serial}")
    person = rng.choice(names) if names and rng.random() < 0.02 else None
    hit = rng.random() < 0.04
    if rng.random() < 0.03:
        # A wire story (the national news agency's): every feed that carries serial
        # `serial` as a wire copy has the same text, so story grouping has real work.
        wire = random.Random(f"wire:{serial}:{spec.khmer}")
        paras = _paragraphs(wire, spec, person, hit)
    else:
        paras = _paragraphs(rng, spec, person, hit)
    title = (paras[0].split("។")[0] if spec.khmer else paras[0].split(". ")[0])[:90]
    link = f"https://news{spec.index}.example.org/{2026}/{serial}/story-{spec.index}-{serial}/"
    when = epoch + serial * ITEM_SPACING
    # Headline feeds (the small ones) carry a one-paragraph description and no
    # content:encoded; full-text feeds carry both, the description a teaser.
    full = spec.item_bytes >= 1000
    html = "".join(f"<p>{escape(p)}</p>" for p in paras) if full else ""
    summary = escape(paras[0][:200] if full else " ".join(paras))
    if spec.atom:
        content = f'<content type="html">{escape(html)}</content>' if html else ""
        return (
            f"<entry><title>{escape(title)}</title>"
            f'<link rel="alternate" href="{link}"/>'
            f"<id>tag:news{spec.index}.example.org,2026:{serial}</id>"
            f"<published>{when.isoformat()}</published><updated>{when.isoformat()}</updated>"
            f"<author><name>Staff</name></author>"
            f"<summary>{summary}</summary>{content}</entry>\n"
        )
    content = f"<content:encoded><![CDATA[{html}]]></content:encoded>" if html else ""
    return (
        f"<item><title>{escape(title)}</title><link>{link}</link>"
        f"<dc:creator><![CDATA[Staff]]></dc:creator>"
        f"<pubDate>{format_datetime(when)}</pubDate>"
        f"<category><![CDATA[National]]></category>"
        f'<guid isPermaLink="false">https://news{spec.index}.example.org/?p={serial}</guid>'
        f"<description>{summary}</description>{content}</item>\n"
    )


def feed_xml(spec: FeedSpec, version: int, items: int, epoch: datetime, names: list[str]) -> bytes:
    """The whole feed at `version`: items with serials newest first."""
    top = version * NEW_PER_CHANGE + items - 1
    serials = range(top, top - items, -1)
    body = "".join(item_xml(spec, s, epoch, names) for s in serials)
    updated = epoch + top * ITEM_SPACING
    lang = "km" if spec.khmer else "en"
    if spec.atom:
        head = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}">'
            f"<title>News site {spec.index}</title>"
            f'<link rel="alternate" href="https://news{spec.index}.example.org/"/>'
            f"<id>https://news{spec.index}.example.org/</id>"
            f"<updated>{updated.isoformat()}</updated>\n"
        )
        return (head + body + "</feed>\n").encode()
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>News site {spec.index}</title>"
        f"<link>https://news{spec.index}.example.org/</link>"
        f"<description>Daily news</description><language>{lang}</language>"
        f"<lastBuildDate>{format_datetime(updated)}</lastBuildDate>\n"
    )
    return (head + body + "</channel></rss>\n").encode()


def default_epoch(items: int, now: datetime | None = None) -> datetime:
    """An epoch that makes version 0's newest item an hour old: every item within max_age."""
    now = now or datetime.now(UTC)
    return (now - timedelta(hours=1) - (items - 1) * ITEM_SPACING).replace(microsecond=0)


def write_config(
    folder: Path,
    specs: list[FeedSpec],
    port: int,
    *,
    people_count: int = 500,
    interval: str = "15m",
    timeout: str = "30s",
) -> Path:
    """A realistic watcher config for these feeds: 3 watchlists, `people_count` people.

    The one staff channel gathers a daily digest, so alerts are recorded in the
    outbox (their cost is measured) but nothing is sent during a benchmark: sending
    depends on Signal or Telegram, not on watcher.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "people.csv").open("w", encoding="utf-8") as out:
        out.write("name,aliases,note\n")
        for name, alias in people(people_count):
            out.write(f"{name},{alias},synthetic\n")
    lines = [
        "[settings]",
        'state_dir = "state"',
        'timezone = "Asia/Phnom_Penh"',
        f'interval = "{interval}"',
        'max_age = "7d"',
        'user_agent = "watcher-bench"',
        f'timeout = "{timeout}"',
        "",
    ]
    for spec in specs:
        lines += [
            "[[sources]]",
            f'name = "feed {spec.index:04d}"',
            f'url = "http://{spec.host}:{port}{spec.path}"',
            "",
        ]
    lines += [
        "[[watchlists]]",
        'name = "Sub-decrees and prakas"',
        'severity = "high"',
        'any = ["sub-decree", "sub decree", "prakas", "អនុក្រឹត្យ", "ប្រកាស"]',
        'none = ["mine clearance"]',
        "",
        "[[watchlists]]",
        'name = "Monitoring bodies"',
        'severity = "normal"',
        'any = ["working group", "ក្រុមការងារ"]',
        'all = [["ministr*", "ក្រសួង"]]',
        "",
        "[[watchlists]]",
        'name = "Arrests of named defenders"',
        'severity = "high"',
        'people = "people.csv"',
        'near = ["@arrest", "summon*"]',
        "within = 30",
        "fuzzy = true",
        "",
        "[[channels]]",
        'name = "staff"',
        'url = "json://127.0.0.1:9/"',
        'digest = "08:00"',
        "",
    ]
    path = folder / "watcher.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
