"""The loopback stand-ins behave like the services they replace, and the demo data is sound.

Apprise is driven through its real plugins and URLs, so these tests also pin down the URL
forms that reach each stand-in (signal://, mailto://, tgram:// under a patched base URL).
"""

from __future__ import annotations

import calendar
import csv
import http.client
import time
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import apprise
import feedparser
import httpx
import pytest
from apprise.plugins.telegram import NotifyTelegram

from watcher.demo.sample import (
    EXPECTED_FILE,
    render_dates,
    render_demo_config,
    render_demo_feeds,
    write_demo_config,
)

from standins import (
    FeedServer,
    SignalStandIn,
    SmtpStandIn,
    TelegramStandIn,
    demo_feed_server,
    point_apprise_telegram_at,
    telegram_html_error,
)

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>t</title><link>https://example.org/</link>
<item><title>One</title><link>https://example.org/1</link></item></channel></rss>"""

NOW = datetime(2025, 3, 12, 3, 0, tzinfo=UTC)  # 10:00 in Phnom Penh


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment would send loopback traffic elsewhere (requests, httpx)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def notify(url: str, body: str, title: str = "") -> bool:
    """Send one message through a fresh Apprise object (Apprise throttles per instance)."""
    sender = apprise.Apprise()
    assert sender.add(url), f"Apprise refused the URL {url}"
    return bool(sender.notify(body=body, title=title))


def published(entry: feedparser.FeedParserDict) -> datetime:
    """An entry's publication time; feedparser gives it as a UTC struct_time."""
    return datetime.fromtimestamp(calendar.timegm(entry.published_parsed), UTC)


# -- FeedServer ------------------------------------------------------------------------------


def test_feed_server_answers_a_conditional_get_with_304_and_records_it(
    feeds: FeedServer,
) -> None:
    feeds.put("/feed.xml", RSS)
    first = httpx.get(feeds.url_for("/feed.xml"))
    assert first.status_code == 200
    assert first.content == RSS
    assert first.headers["content-type"].startswith("application/xml")
    etag, modified = first.headers["etag"], first.headers["last-modified"]

    second = httpx.get(feeds.url_for("/feed.xml"), headers={"If-None-Match": etag})
    by_date = httpx.get(feeds.url_for("/feed.xml"), headers={"If-Modified-Since": modified})

    assert second.status_code == 304
    assert second.content == b""
    assert second.headers["etag"] == etag
    assert by_date.status_code == 304
    polls = feeds.requests_for("/feed.xml")
    assert [p.conditional for p in polls] == [False, True, True]
    assert polls[1].headers["if-none-match"] == etag


def test_feed_server_changed_body_beats_old_validators(feeds: FeedServer) -> None:
    feeds.put("/feed.xml", RSS)
    old = httpx.get(feeds.url_for("/feed.xml"))
    feeds.put("/feed.xml", RSS.replace(b"One", b"Two"))  # within the same second

    by_etag = httpx.get(feeds.url_for("/feed.xml"), headers={"If-None-Match": old.headers["etag"]})
    by_date = httpx.get(
        feeds.url_for("/feed.xml"), headers={"If-Modified-Since": old.headers["last-modified"]}
    )

    assert by_etag.status_code == 200
    assert b"Two" in by_etag.content
    assert by_etag.headers["etag"] != old.headers["etag"]
    # Last-Modified moved on by a whole second, so a date-only client sees the change too.
    assert by_date.status_code == 200


def test_feed_server_failure_override_returns_503_with_retry_after(feeds: FeedServer) -> None:
    feeds.put("/feed.xml", RSS)
    feeds.fail("/feed.xml", status=503, retry_after="120")

    refused = httpx.get(feeds.url_for("/feed.xml"))
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "120"

    feeds.recover("/feed.xml")
    assert httpx.get(feeds.url_for("/feed.xml")).status_code == 200


def test_feed_server_failure_for_a_number_of_requests(feeds: FeedServer) -> None:
    feeds.put("/feed.xml", RSS)
    feeds.fail("/feed.xml", status=429, retry_after=format_datetime(NOW, usegmt=True), times=2)

    statuses = [httpx.get(feeds.url_for("/feed.xml")).status_code for _ in range(3)]

    assert statuses == [429, 429, 200]


def test_feed_server_delay_trips_a_client_deadline_and_close_ends_it(feeds: FeedServer) -> None:
    feeds.put("/slow.xml", RSS)
    feeds.delay("/slow.xml", 30, phase="body")

    with pytest.raises(httpx.TimeoutException):
        httpx.get(feeds.url_for("/slow.xml"), timeout=0.3)
    started = time.monotonic()
    feeds.close()
    assert time.monotonic() - started < 2


def test_feed_server_redirect_and_404(feeds: FeedServer) -> None:
    feeds.put("/new.xml", RSS)
    feeds.redirect("/old.xml", "/new.xml", status=301)

    moved = httpx.get(feeds.url_for("/old.xml"), follow_redirects=True)

    assert moved.status_code == 200
    assert [r.status_code for r in moved.history] == [301]
    assert httpx.get(feeds.url_for("/missing.xml")).status_code == 404


def test_feed_server_serves_a_folder_but_not_outside_it(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "feeds").mkdir(parents=True)
    (site / "feeds" / "a.atom").write_bytes(b"<feed/>")
    (tmp_path / "secret.txt").write_text("no")

    with FeedServer(root=site) as server:
        served = httpx.get(server.url_for("/feeds/a.atom"))
        # A raw request, because httpx would resolve the `..` before sending it.
        connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
        connection.request("GET", "/../secret.txt")
        escape = connection.getresponse()
        connection.close()

    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/atom+xml")
    assert escape.status == 404


# -- Signal ----------------------------------------------------------------------------------


def test_apprise_signal_url_reaches_the_stand_in() -> None:
    with SignalStandIn() as signal:
        url = f"signal://127.0.0.1:{signal.port}/+10000000000/+10000000001"
        assert url == signal.apprise_url()

        assert notify(url, "ឈឹម ស៊ីថា arrested", title="[urgent] Arrests")

        (message,) = signal.wait_for(1)
    assert message["number"] == "+10000000000"
    assert message["recipients"] == ["+10000000001"]
    assert "ឈឹម ស៊ីថា arrested" in message["message"]


@pytest.mark.parametrize("status", [500, None], ids=["http-500", "dropped-connection"])
def test_signal_outage_makes_apprise_report_failure(status: int | None) -> None:
    with SignalStandIn() as signal:
        signal.set_down(True, status=status)
        assert not notify(signal.apprise_url(), "lost?")
        assert signal.messages == []
        assert len(signal.requests_for("/v2/send")) == 1  # the send was tried

        signal.set_down(False)
        assert notify(signal.apprise_url(), "retried")
        assert [m["message"] for m in signal.messages] == ["retried"]


# -- Email -----------------------------------------------------------------------------------


def test_apprise_mailto_reaches_the_smtp_stand_in() -> None:
    with SmtpStandIn() as smtp:
        url = f"mailto://127.0.0.1:{smtp.port}?from=watcher@example.org&to=staff@example.org"
        assert url == smtp.apprise_url()

        assert notify(url, "អនុក្រឹត្យ ថ្មី: new sub-decree", title="[high] Sub-decrees: NIG")

        (mail,) = smtp.wait_for(1)
    assert mail.rcpt_tos == ("staff@example.org",)
    assert mail.message["To"] == "staff@example.org"
    assert "watcher@example.org" in mail.message["From"]
    assert mail.subject == "[high] Sub-decrees: NIG"
    assert "អនុក្រឹត្យ ថ្មី" in mail.text("plain") + mail.text("html")
    assert smtp.messages == [mail.message]


def test_smtp_outage_makes_apprise_report_failure() -> None:
    with SmtpStandIn() as smtp:
        smtp.set_down(True)
        assert not notify(smtp.apprise_url(), "lost?")
        assert smtp.mails == []


# -- Telegram --------------------------------------------------------------------------------


def test_apprise_telegram_reaches_the_stand_in_through_the_helper() -> None:
    original = NotifyTelegram.notify_url
    with TelegramStandIn() as telegram:
        with point_apprise_telegram_at(telegram.url):
            assert notify(telegram.apprise_url(chat_id="-1001234567890"), "a &lt; b", "Alert")
            (message,) = telegram.wait_for(1)
        assert NotifyTelegram.notify_url == original

        assert message["chat_id"] in (-1001234567890, "-1001234567890")
        assert message["token"] == TelegramStandIn.TOKEN
        assert message["parse_mode"] == "HTML"
        assert "Alert" in message["text"]


def test_apprise_telegram_without_chat_id_finds_the_bot_owner() -> None:
    with TelegramStandIn(owner_id=4242) as telegram, point_apprise_telegram_at(telegram.url):
        assert notify(f"tgram://{TelegramStandIn.TOKEN}/", "hello")
        (message,) = telegram.wait_for(1)
    assert str(message["chat_id"]) == "4242"


def test_telegram_stand_in_refuses_html_that_telegram_would_refuse() -> None:
    with TelegramStandIn() as telegram, point_apprise_telegram_at(telegram.url):
        # A title straight from a feed, not escaped: the real API answers 400.
        assert not notify(telegram.apprise_url(), "body", title="Sub-decree <script> & more")
        assert telegram.messages == []


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ('<b>Arrest</b> &amp; <a href="https://x.example/">link</a>', True),
        ("&lt;script&gt; &#8211; &#x2011;", True),
        ("a < b", False),
        ("AT&T", False),
        ("<b><i>crossed</b></i>", False),
        ("<div>block</div>", False),
        ("<b>open", False),
    ],
)
def test_telegram_html_check(text: str, accepted: bool) -> None:
    assert (telegram_html_error(text) is None) is accepted


# -- Demo data -------------------------------------------------------------------------------


def test_render_demo_feeds_parse_with_dates_near_now() -> None:
    bodies = render_demo_feeds(NOW)

    feeds = {path: feedparser.parse(body) for path, body in bodies.items() if "/feeds/" in path}
    assert set(feeds) == {
        "/feeds/mekong-civic.xml",
        "/feeds/khmer-daily.xml",
        "/feeds/rights-digest.atom",
    }
    for path, parsed in feeds.items():
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert parsed.entries, path
        for entry in parsed.entries:
            when = published(entry)
            assert NOW - timedelta(days=13) <= when <= NOW, (path, entry.title, when)
    newest = max(published(e) for parsed in feeds.values() for e in parsed.entries)
    assert NOW - newest <= timedelta(hours=1)
    assert feeds["/feeds/mekong-civic.xml"].version == "rss20"
    assert feeds["/feeds/rights-digest.atom"].version == "atom10"
    assert any("អនុក្រឹត្យ" in e.title for e in feeds["/feeds/khmer-daily.xml"].entries)


def test_rss_dates_are_local_rfc822_and_ministry_dates_are_days() -> None:
    rendered = render_dates("{{DATE-2h}}|{{ISO-1d}}|{{DAY-1d}}|{{DATE}}", NOW)
    rss, iso, day, plain = rendered.split("|")

    assert parsedate_to_datetime(rss) == NOW - timedelta(hours=2)
    assert rss.endswith("+0700")
    assert datetime.fromisoformat(iso) == NOW - timedelta(days=1)
    assert day == "2025-03-11"
    assert parsedate_to_datetime(plain) == NOW


def test_render_dates_refuses_naive_now_and_unknown_placeholders() -> None:
    with pytest.raises(ValueError, match="aware"):
        render_dates("{{DATE}}", datetime(2025, 3, 12))
    with pytest.raises(ValueError, match="DATE-2w"):
        render_dates("{{DATE-2w}}", NOW)


def test_expected_demo_items_exist_in_the_rendered_site() -> None:
    """expected.toml (which the demo test trusts) names items that the site really holds."""
    config = tomllib.loads(render_demo_config("127.0.0.1:1", "127.0.0.1:2"))
    path_of = {s["name"]: "/" + s["url"].split("/", 3)[3] for s in config["sources"]}
    bodies = render_demo_feeds(NOW)
    expected = tomllib.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
    watchlists = {w["name"] for w in config["watchlists"]}

    assert len(expected["alert"]) == 8
    for entry in expected["alert"] + expected["quiet"]:
        body = bodies[path_of[entry["source"]]].decode("utf-8")
        assert entry["title"] in body, entry
        assert set(entry.get("watchlists", [])) <= watchlists
        assert set(entry.get("also", [])) <= set(path_of)


def test_write_demo_config_fills_addresses_and_copies_people(tmp_path: Path) -> None:
    config_path = write_demo_config(tmp_path, host="127.0.0.1:8001", signal="127.0.0.1:8002")

    config = tomllib.loads(config_path.read_text(encoding="utf-8"))
    assert {s["url"].split("/")[2] for s in config["sources"]} == {"127.0.0.1:8001"}
    assert config["channels"][0]["url"] == "signal://127.0.0.1:8002/+10000000000/+10000000001"
    assert config["settings"]["state_dir"] == "state"
    with (tmp_path / config["watchlists"][2]["people"]).open(encoding="utf-8") as people:
        rows = list(csv.DictReader(people))
    assert list(rows[0]) == ["name", "aliases", "note"]
    sithar = next(r for r in rows if r["name"] == "Chhim Sithar")
    assert sithar["aliases"].split("|") == ["ឈឹម ស៊ីថា", "ឈឹម ស៊ីថរ"]


def test_demo_feed_server_serves_the_site_conditionally() -> None:
    with demo_feed_server(NOW) as server:
        page = httpx.get(server.url_for("/ministry/announcements.html"))
        again = httpx.get(
            server.url_for("/ministry/announcements.html"),
            headers={"If-None-Match": page.headers["etag"]},
        )
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text.count('<span class="date">') == 5
    assert again.status_code == 304
