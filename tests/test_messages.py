"""Tests for watcher.delivery.messages: what each channel finally receives (SPEC §7).

Limits are checked both on what `render_*` returns and, where Apprise rewrites the
text on its way out (Telegram's HTML reducer, Signal's status prefix, the email's
plain-text part), on what Apprise would put on the wire.
"""

from __future__ import annotations

import email
import itertools
import json
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import apprise
import pytest
from apprise.plugins.email.base import NotifyEmail
from apprise.plugins.telegram import TelegramHTMLReducer

from watcher.delivery.messages import (
    EMAIL,
    GENERIC,
    SIGNAL,
    SIGNAL_MAX_BYTES,
    TELEGRAM,
    TELEGRAM_MAX_CHARS,
    Rendered,
    channel_kind,
    email_subject,
    format_time,
    render_alert,
    render_digest,
    render_minimal,
    render_notice,
)
from watcher.models import Alert, Match, Severity

DATA = Path(__file__).parent / "data" / "messages"
TZ = ZoneInfo("Asia/Phnom_Penh")
KINDS = (SIGNAL, TELEGRAM, EMAIL, GENERIC)

# "The government issued a sub-decree on establishing the National Internet Gateway":
# many coeng+subscript clusters (ដ្ឋ, ក្រ, ត្យ, ស្ដ) and dependent vowels, no spaces.
KM = "រាជរដ្ឋាភិបាលបានចេញអនុក្រឹត្យស្ដីពីការបង្កើតច្រកចេញចូលអ៊ីនធឺណិតជាតិ"
COENG = "\u17d2"
JOINERS = "\u200c\u200d"
TELEGRAM_TAGS = {"b", "i", "a"}
EMAIL_TAGS = {"div", "b", "i", "a", "br", "hr"}


# --- helpers -----------------------------------------------------------------------


def load_alert(name: str = "alert.json") -> Alert:
    raw = json.loads((DATA / name).read_text(encoding="utf-8"))
    return Alert(
        title=raw["title"],
        link=raw["link"],
        source=raw["source"],
        published=datetime.fromisoformat(raw["published"]) if raw.get("published") else None,
        also_reported_by=tuple(raw.get("also_reported_by", ())),
        matches=tuple(
            Match(
                watchlist=m["watchlist"],
                severity=Severity.parse(m["severity"]),
                terms=tuple(m.get("terms", ())),
                people=tuple(m.get("people", ())),
                snippet=m.get("snippet", ""),
                possible=m.get("possible", False),
            )
            for m in raw["matches"]
        ),
    )


def make_alert(
    n: int = 0,
    *,
    title: str = "Ministry orders ISPs to block independent news sites",
    snippet: str = "The ministry said the order takes effect immediately.",
    link: str | None = None,
    watchlists: tuple[str, ...] = ("Internet gateway",),
    severity: Severity = Severity.NORMAL,
    possible: bool = False,
    published: datetime | None = datetime(2026, 11, 25, 7, 5, tzinfo=UTC),
) -> Alert:
    return Alert(
        title=title,
        link=link or f"https://news.example.org/story/{n}?utm_source=rss&id={n}",
        source="Phnom Penh Daily",
        matches=tuple(
            Match(w, severity, ("block", "ច្រកចេញចូល"), ("Hun Manet",), snippet, possible)
            for w in watchlists
        ),
        published=published,
        also_reported_by=("VOD Khmer",),
    )


class TagAudit(HTMLParser):
    """Records every tag and href and whether the markup is balanced."""

    VOID = frozenset({"br", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: set[str] = set()
        self.hrefs: list[str] = []
        self.balanced = True
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href") or "")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def audit(body: str) -> TagAudit:
    parser = TagAudit()
    parser.feed(body)
    parser.close()
    # A "<" or ">" left after removing whole tags would be a tag cut in half.
    assert "<" not in re.sub(r"<[^<>]*>", "", body)
    assert ">" not in re.sub(r"<[^<>]*>", "", body)
    assert parser.balanced and not parser.stack, body
    return parser


def visible(body: str) -> str:
    return unescape(re.sub(r"<[^<>]*>", "", body))


def ends_inside_cluster(text: str) -> bool:
    """A cut right after `text` would split a Khmer cluster (coeng awaits its consonant)."""
    return bool(text) and (text[-1] == COENG or text[-1] in JOINERS)


def starts_inside_cluster(text: str) -> bool:
    """`text` begins with a dependent vowel, sign or joiner that belongs to the cluster before."""
    return bool(text) and (unicodedata.category(text[0]).startswith("M") or text[0] in JOINERS)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


class FakeResponse:
    status_code = 200
    content = b'{"ok": true}'
    text = '{"ok": true}'


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """JSON payloads that Apprise's HTTP plugins would POST (Telegram, Signal)."""
    sent: list[dict[str, Any]] = []

    def fake_post(url: str, data: str | None = None, **_: Any) -> FakeResponse:
        sent.append(json.loads(data or "{}"))
        return FakeResponse()

    monkeypatch.setattr("requests.post", fake_post)
    yield sent


def send(url: str, messages: list[Rendered]) -> None:
    for message in messages:
        server = apprise.Apprise()
        assert server.add(url)
        assert server.notify(
            body=message.body, title=message.title, body_format=message.body_format
        )


# --- channel kinds -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("signal://localhost:8080/+85512345678/+85598765432", SIGNAL),
        ("signals://user:pw@signal.example.org/+85512345678", SIGNAL),
        ("tgram://123456:ABC-secret/-100123", TELEGRAM),
        ("TGRAM://123456:ABC-secret/-100123", TELEGRAM),
        ("mailto://user:pw@example.org?to=staff@example.org", EMAIL),
        ("mailtos://user:pw@example.org", EMAIL),
        ("ntfy://ntfy.sh/topic", GENERIC),
        ("not a url", GENERIC),
    ],
)
def test_channel_kind_from_scheme(url: str, kind: str) -> None:
    assert channel_kind(url) == kind


# --- golden examples ---------------------------------------------------------------

GOLDEN = {
    SIGNAL: "alert.signal.txt",
    TELEGRAM: "alert.telegram.html",
    EMAIL: "alert.email.html",
    GENERIC: "alert.generic.txt",
}


@pytest.mark.parametrize("kind", KINDS)
def test_alert_matches_golden_file(kind: str) -> None:
    """The fixture alert renders exactly as the reviewed example beside it.

    Regenerate after a deliberate change with WATCHER_UPDATE_GOLDEN=1.
    """
    [message] = render_alert(load_alert(), kind, TZ)
    got = f"title: {message.title}\nformat: {message.body_format}\n\n{message.body}\n"
    path = DATA / GOLDEN[kind]
    if os.environ.get("WATCHER_UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8")
    if kind == TELEGRAM:
        # Apprise's reducer leaves our Telegram HTML as it is, bar "\n" -> "\r\n":
        # what we measured is what is sent.
        assert TelegramHTMLReducer().reduce(message.body) == message.body.replace("\n", "\r\n")


# --- Signal ------------------------------------------------------------------------


def test_signal_long_khmer_article_fits_2000_bytes_and_keeps_link(
    wire: list[dict[str, Any]],
) -> None:
    link = "https://www.example-news.org/km/2026/11/25/" + "a" * 150 + "?id=12345&lang=km"
    alert = make_alert(title=KM * 8, snippet=KM * 40, link=link, severity=Severity.URGENT)
    [message] = render_alert(alert, SIGNAL, TZ)

    assert message.body_format == "text"
    assert message.title == ""  # Apprise would glue a title onto the body, unmeasured
    assert len(message.body.encode("utf-8")) <= SIGNAL_MAX_BYTES
    assert link in message.body.splitlines()
    assert "URGENT" in message.body
    assert "<" not in message.body  # no markup on Signal
    # The snippet went first (down to "…"), then the title was cut at a cluster.
    assert "“…”" in message.body
    title_line = message.body.splitlines()[1]
    assert title_line.endswith("…") and KM[:10] in title_line
    assert not ends_inside_cluster(title_line[:-1])
    assert not starts_inside_cluster((KM * 8)[len(title_line) - 1 :])

    # On the wire, even with Apprise's "[i] " status prefix, it still fits.
    send("signal://localhost:8080/+85512345678/+85598765432?status=yes", [message])
    [payload] = wire
    assert payload["message"].startswith("[i] ")
    assert len(payload["message"].encode("utf-8")) <= SIGNAL_MAX_BYTES
    assert link in payload["message"]


def test_signal_shortens_snippet_before_title_at_a_word() -> None:
    words = [f"word{n}" for n in range(600)]
    title = "Authorities detain three journalists in Siem Reap"
    [message] = render_alert(make_alert(title=title, snippet=" ".join(words)), SIGNAL, TZ)

    assert len(message.body.encode("utf-8")) <= SIGNAL_MAX_BYTES
    assert title in message.body.splitlines()
    snippet_line = next(line for line in message.body.splitlines() if line.startswith("“"))
    kept = snippet_line.removeprefix("“").removesuffix("…”").split(" ")
    assert 10 < len(kept) < len(words)
    assert kept == words[: len(kept)]  # cut between whole words only


def test_signal_digest_splits_into_messages_within_2000_bytes() -> None:
    alerts = [make_alert(n, snippet=KM * (n % 5)) for n in range(40)]
    messages = render_digest(alerts, SIGNAL, TZ)

    assert len(messages) > 1
    assert all(len(m.body.encode("utf-8")) <= SIGNAL_MAX_BYTES for m in messages)
    joined = "\n".join(m.body for m in messages)
    for alert in alerts:
        assert joined.count(alert.link + "\n") == 1
    assert messages[0].body.startswith(f"watcher digest: 40 alerts (1/{len(messages)})")


# --- Telegram ----------------------------------------------------------------------


def check_telegram_piece(body: str) -> TagAudit:
    parsed = audit(body)
    assert parsed.tags <= TELEGRAM_TAGS
    assert len(body) <= TELEGRAM_MAX_CHARS
    # What Apprise sends after its reducer ("\n" becomes "\r\n") must fit too.
    assert len(TelegramHTMLReducer().reduce(body)) <= TELEGRAM_MAX_CHARS
    return parsed


def test_telegram_digest_of_40_alerts_splits_cleanly(wire: list[dict[str, Any]]) -> None:
    alerts = [
        make_alert(n, title=f"Story {n}: " + KM, snippet=KM * (n % 7) * 3 or "short")
        for n in range(40)
    ]
    messages = render_digest(alerts, TELEGRAM, TZ)

    assert len(messages) > 1
    texts = []
    for k, message in enumerate(messages, start=1):
        assert message.title == "" and message.body_format == "html"
        check_telegram_piece(message.body)
        assert message.body.startswith(f"<b>watcher digest: 40 alerts ({k}/{len(messages)})</b>")
        texts.append(visible(message.body))
    for before, after in itertools.pairwise(texts):
        assert not ends_inside_cluster(before.rstrip())
        assert not starts_inside_cluster(after.split("\n\n", 1)[1])
    everything = squash("".join(texts))
    for alert in alerts:  # joining the pieces loses no alert
        assert everything.count(squash(alert.link)) == 1
        assert squash(alert.title) in everything
        assert squash(alert.matches[0].snippet) in everything

    send("tgram://123456789:abcdefg_hijklmnop/12345", messages)
    assert len(wire) == len(messages)
    assert all(len(p["text"]) <= TELEGRAM_MAX_CHARS for p in wire)


def test_telegram_long_khmer_alert_splits_between_clusters_only() -> None:
    snippet = KM * 150  # about 9,000 characters, no spaces: must split inside it
    alert = make_alert(title="Sub-decree text", snippet=snippet)
    messages = render_alert(alert, TELEGRAM, TZ)

    assert len(messages) >= 3
    pieces = []
    for k, message in enumerate(messages, start=1):
        check_telegram_piece(message.body)
        assert message.body.startswith(f"<i>({k}/{len(messages)})</i>\n\n")
        pieces.append(visible(message.body.split("\n\n", 1)[1]))
    assert sum(p.count(alert.link) for p in pieces) == 1
    # The snippet's parts, joined, give the snippet back: nothing lost or doubled.
    assert snippet in "".join(pieces).replace("\n", "")
    for before, after in itertools.pairwise(pieces):
        assert not ends_inside_cluster(before)
        assert not starts_inside_cluster(after)


def test_telegram_split_keeps_latin_words_whole() -> None:
    words = [f"word{n}" for n in range(1500)]
    messages = render_alert(make_alert(snippet=" ".join(words)), TELEGRAM, TZ)

    assert len(messages) >= 2
    got = []
    for message in messages:
        check_telegram_piece(message.body)
        got += re.findall(r"word\d+", visible(message.body))
    assert got == words


def test_telegram_word_longer_than_a_message_is_still_split() -> None:
    token = "x" * 9000  # e.g. a base64 blob in a feed: no word boundary at all
    messages = render_alert(make_alert(snippet=token), TELEGRAM, TZ)
    assert len(messages) >= 3
    for message in messages:
        check_telegram_piece(message.body)
    assert token in "".join(re.findall(r"x{100,}", visible("".join(m.body for m in messages))))


# --- escaping ----------------------------------------------------------------------

HOSTILE = make_alert(
    title="<script>alert(1)</script> & <b>bold</b>",
    snippet='<a href="javascript:x">click</a> <img src=x onerror=alert(2)>',
    link="javascript:alert(3)",
)


@pytest.mark.parametrize(("kind", "allowed"), [(TELEGRAM, TELEGRAM_TAGS), (EMAIL, EMAIL_TAGS)])
def test_feed_text_cannot_inject_markup(kind: str, allowed: set[str]) -> None:
    [message] = render_alert(HOSTILE, kind, TZ)
    parsed = audit(message.body)

    assert parsed.tags <= allowed
    assert parsed.hrefs == []  # javascript: is not http(s): shown, never linked
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in message.body
    assert '&lt;a href="javascript:x"&gt;click&lt;/a&gt;' in message.body
    assert "javascript:alert(3)" in visible(message.body)


def test_only_http_links_become_anchors() -> None:
    alert = make_alert(link='https://news.example.org/a?x=1&y="2"')
    [message] = render_alert(alert, TELEGRAM, TZ)
    parsed = audit(message.body)
    assert parsed.hrefs == ['https://news.example.org/a?x=1&y="2"']
    assert 'href="https://news.example.org/a?x=1&amp;y=&quot;2&quot;"' in message.body


def test_bidi_overrides_and_controls_are_dropped() -> None:
    alert = make_alert(title="Safe\u202etxt.exe\x07 title\r\nsecond line")
    for kind in KINDS:
        [message] = render_alert(alert, kind, TZ)
        assert "\u202e" not in message.body and "\x07" not in message.body
        assert "Safetxt.exe title second line" in visible(message.body)


# --- email -------------------------------------------------------------------------


def test_email_subject_format_and_limit() -> None:
    alert = make_alert(title=("Ministry\nissues new rules " + KM + " ") * 5)
    [message] = render_alert(alert, EMAIL, TZ)

    assert message.body_format == "html"
    assert "\n" not in message.title and "\r" not in message.title
    assert len(message.title) <= 150
    assert message.title.startswith("[NORMAL] Internet gateway: Ministry issues new rules ")
    assert message.title.endswith("…")
    assert not ends_inside_cluster(message.title[:-1])


def test_shortening_khmer_never_cuts_a_cluster_at_any_length() -> None:
    """Shift the room left for a Khmer title one character at a time, so every cut
    position inside the sentence is tried: none may split a cluster."""
    title = KM * 4
    cuts = set()
    for pad in range(1, 80):
        subject = email_subject("[high]", ["W" * pad], title)
        assert len(subject) == len(subject.strip()) <= 150
        kept = subject.split(": ", 1)[1]
        assert kept.endswith("…")
        kept = kept[:-1]
        assert title.startswith(kept)
        assert not ends_inside_cluster(kept), kept[-3:]
        assert not starts_inside_cluster(title[len(kept) :]), title[len(kept) : len(kept) + 3]
        cuts.add(len(kept))
    assert len(cuts) > 30  # many different cut points were exercised


def test_email_subject_short_title_unchanged() -> None:
    assert email_subject("[high]", ["NIG"], "Sub-decree signed") == "[high] NIG: Sub-decree signed"


def test_email_subject_with_many_watchlists_still_fits() -> None:
    subject = email_subject("[urgent]", [f"Watchlist number {n}" for n in range(20)], "T " * 80)
    assert len(subject) <= 150
    assert subject.startswith("[urgent] Watchlist number 0, ")
    assert ": T T" in subject


def test_email_plain_part_keeps_the_link() -> None:
    alert = load_alert()
    [message] = render_alert(alert, EMAIL, TZ)
    [prepared] = NotifyEmail.prepare_emails(
        subject=message.title,
        body=message.body,
        from_addr=("watcher", "watcher@example.org"),
        to=[("Staff", "staff@example.org")],
    )
    parsed = email.message_from_string(prepared.body)
    parts = {}
    for part in parsed.walk():
        payload = part.get_payload(decode=True)
        if part.get_content_maintype() == "text" and isinstance(payload, bytes):
            parts[part.get_content_type()] = payload.decode("utf-8")
    plain = parts["text/plain"]
    assert alert.link in plain.splitlines()
    assert "Government issues sub-decree on the National Internet Gateway" in plain
    assert "2026-11-25 14:05 +07" in plain
    assert "<" not in plain.replace("‘", "")  # no markup leaked into the plain part
    assert str(email.header.make_header(email.header.decode_header(parsed["Subject"]))) == (
        message.title
    )


def test_email_digest_is_one_message_with_every_alert() -> None:
    alerts = [make_alert(n, severity=Severity.HIGH if n == 7 else Severity.LOW) for n in range(40)]
    [message] = render_digest(alerts, EMAIL, TZ)
    assert message.title == "[HIGH] Internet gateway: digest of 40 alerts"
    hrefs = audit(message.body).hrefs
    assert sorted(hrefs) == sorted(a.link for a in alerts)
    assert hrefs[0] == alerts[7].link  # strongest first


# --- content -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_multi_watchlist_alert_names_them_all(kind: str) -> None:
    alert = make_alert(watchlists=("Internet gateway", "Press freedom", "Land rights"))
    [message] = render_alert(alert, kind, TZ)
    text = visible(message.body)
    assert "Internet gateway, Press freedom, Land rights" in text
    if kind in (EMAIL, GENERIC):
        assert message.title.startswith("[NORMAL] Internet gateway, Press freedom, Land rights: ")


@pytest.mark.parametrize("kind", KINDS)
def test_possible_match_is_marked(kind: str) -> None:
    [possible] = render_alert(make_alert(possible=True), kind, TZ)
    [firm] = render_alert(make_alert(possible=False), kind, TZ)
    assert "POSSIBLE MATCH — review" in visible(possible.body)
    assert "POSSIBLE" not in visible(firm.body)
    if kind == EMAIL:
        assert possible.title.startswith("[NORMAL, possible] ")
        assert firm.title.startswith("[NORMAL] ")


def test_partly_possible_alert_marks_only_that_watchlist() -> None:
    alert = load_alert()  # Internet gateway firm, Press freedom possible
    [message] = render_alert(alert, SIGNAL, TZ)
    assert "Internet gateway, Press freedom (possible)" in message.body
    assert "POSSIBLE MATCH" not in message.body


@pytest.mark.parametrize("kind", KINDS)
def test_published_time_in_phnom_penh(kind: str) -> None:
    [message] = render_alert(make_alert(), kind, TZ)  # published 07:05 UTC
    assert "2026-11-25 14:05 +07" in visible(message.body)
    [undated] = render_alert(make_alert(published=None), kind, TZ)
    assert "2026-11-25" not in visible(undated.body)


def test_format_time_offsets() -> None:
    when = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)
    assert format_time(when, TZ) == "2026-11-26 06:30 +07"
    assert format_time(when, ZoneInfo("Asia/Kolkata")) == "2026-11-26 05:00 +05:30"
    assert format_time(when, ZoneInfo("America/New_York")) == "2026-11-25 18:30 -05"


@pytest.mark.parametrize("kind", KINDS)
def test_alert_carries_every_field(kind: str) -> None:
    alert = load_alert()
    [message] = render_alert(alert, kind, TZ)
    text = visible(message.body)
    for expected in (
        "HIGH",
        "Internet gateway",
        alert.title,
        "Phnom Penh Daily",
        alert.link,
        "National Internet Gateway, ច្រកចេញចូលអ៊ីនធឺណិតជាតិ, sub-decree",
        "Hun Manet",
        "route traffic through the National Internet Gateway",
        "Also reported by: VOD Khmer, RFA Khmer",
    ):
        assert expected in text, expected


# --- notices -----------------------------------------------------------------------


def test_notice_per_channel() -> None:
    title = "Source failing: VOD <rss>"
    text = "HTTP 503 since 2026-11-25 10:00 +07\nLast success 6 hours ago"
    [signal] = render_notice(title, text, SIGNAL)
    assert signal.body == f"{title}\n{text}" and signal.title == ""
    [telegram] = render_notice(title, text, TELEGRAM)
    assert telegram.body.startswith("<b>Source failing: VOD &lt;rss&gt;</b>\n")
    check_telegram_piece(telegram.body)
    [mail] = render_notice(title, text, EMAIL)
    assert mail.title == title and "Last success 6 hours ago" in visible(mail.body)


def test_long_notice_fits_signal_and_splits_telegram() -> None:
    text = "\n".join(f"{KM} line {n}" for n in range(200))
    [signal] = render_notice("Delivery given up", text, SIGNAL)
    assert len(signal.body.encode("utf-8")) <= SIGNAL_MAX_BYTES
    assert signal.body.startswith("Delivery given up\n")
    telegram = render_notice("Delivery given up", text, TELEGRAM)
    assert len(telegram) > 1
    for piece in telegram:
        check_telegram_piece(piece.body)
    assert all(f"line {n}" in "".join(p.body for p in telegram) for n in range(200))


# --- issue 20: what a new user trips on in messages ------------------------------------


def test_the_snippet_does_not_repeat_the_title() -> None:
    title = "Ministry orders ISPs to block independent news sites"
    alert = make_alert(title=title, snippet=f"{title}. The ministry said the order is final.")
    for kind in (GENERIC, EMAIL, SIGNAL):
        [message] = render_alert(alert, kind, TZ)
        assert message.body.count("Ministry orders ISPs") == 1, kind
        assert "The ministry said the order is final." in message.body
    # A snippet that is only the title adds nothing: no snippet line at all.
    [bare] = render_alert(make_alert(title=title, snippet=title), GENERIC, TZ)
    assert bare.body.count("Ministry orders ISPs") == 1 and "“" not in bare.body


def test_a_date_without_a_time_is_shown_as_a_date() -> None:
    local_midnight = datetime(2026, 11, 25, tzinfo=TZ)  # "25 November" on a ministry page
    utc_midnight = datetime(2026, 11, 25, tzinfo=UTC)  # a feed date without a time
    for published in (local_midnight, utc_midnight):
        [message] = render_alert(make_alert(published=published), GENERIC, TZ)
        assert "· 2026-11-25\n" in message.body, message.body
        assert "00:00" not in message.body and "07:00" not in message.body
    [timed] = render_alert(
        make_alert(published=datetime(2026, 11, 25, 7, 5, tzinfo=UTC)), GENERIC, TZ
    )
    assert "2026-11-25 14:05 +07" in timed.body


def test_terms_line_shows_words_not_patterns() -> None:
    alert = make_alert(title="Ministry of Information issues a prakas")
    alert = replace(
        alert,
        matches=tuple(replace(m, terms=("ministr*", "prakas", "detain*")) for m in alert.matches),
    )
    [message] = render_alert(alert, GENERIC, TZ)
    terms = next(line for line in message.body.splitlines() if line.startswith("Terms: "))
    assert terms == "Terms: Ministry, prakas, detain…"
    assert "*" not in message.body


def test_apprise_notify_type_follows_severity() -> None:
    expected = {
        Severity.URGENT: "failure",
        Severity.HIGH: "warning",
        Severity.NORMAL: "info",
        Severity.LOW: "info",
    }
    for severity, kind_of in expected.items():
        for kind in (GENERIC, EMAIL, SIGNAL, TELEGRAM):
            [message, *_] = render_alert(make_alert(severity=severity), kind, TZ)
            assert message.notify_type == kind_of, (severity, kind)
    digest = render_digest(
        [make_alert(severity=Severity.LOW), make_alert(1, severity=Severity.URGENT)], GENERIC, TZ
    )
    assert digest[0].notify_type == "failure"


def test_the_json_payload_type_is_failure_for_an_urgent_alert() -> None:
    from watcher.delivery.transport import apprise_send
    from watcher.models import Channel

    from standins import JsonStandIn

    with JsonStandIn() as hooks:
        channel = Channel("j", hooks.apprise_url("/j"))
        assert apprise_send(
            channel, render_alert(make_alert(severity=Severity.URGENT), GENERIC, TZ)
        ).delivered
        assert apprise_send(
            channel, render_alert(make_alert(severity=Severity.NORMAL), GENERIC, TZ)
        ).delivered
        assert [m["type"] for m in hooks.messages] == ["failure", "info"]


def test_minimal_form_has_severity_watchlists_title_and_link_only() -> None:
    alert = make_alert(severity=Severity.URGENT, snippet="SNIPPET " * 50)
    for kind in (GENERIC, EMAIL, SIGNAL, TELEGRAM):
        [message] = render_minimal([alert], kind)
        assert "URGENT" in message.body and "Internet gateway" in message.body
        assert alert.title in message.body and "news.example.org/story/0" in message.body
        assert "SNIPPET" not in message.body and "Terms" not in message.body
