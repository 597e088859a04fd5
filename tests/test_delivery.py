"""Delivery that never loses an alert (SPEC §7), against real loopback services.

Feeds come from a FeedServer; alerts go through Apprise's own plugins to the signal-cli
REST stand-in, the Telegram Bot API stand-in, an SMTP server and a JSON webhook. Time is
a fake clock injected into the Pipeline and the Deliverer, so retries, give-up and
digests are tested in milliseconds.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import signal as signals
import subprocess
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import apprise
import pytest
from apprise.plugins.signal_api import NotifySignalAPI
from apprise.plugins.telegram import NotifyTelegram

from watcher.cli import _protect_secrets, main
from watcher.config import load_config
from watcher.delivery.messages import SIGNAL_MAX_BYTES, TELEGRAM_MAX_CHARS, Rendered, channel_kind
from watcher.delivery.routing import due_time, retry_delay, route
from watcher.delivery.send import Deliverer, DeliveryReport
from watcher.delivery.transport import SendOutcome, apprise_send
from watcher.demo.sample import render_dates
from watcher.fetch.client import new_fetcher
from watcher.logs import secrets_of, setup_logging
from watcher.models import Alert, Channel, Config, Match, Severity
from watcher.pipeline.poll import Pipeline, PollReport
from watcher.runner.health import check_stale
from watcher.store.sqlite import DB_NAME, Store

from standins import FeedServer, JsonStandIn, SignalStandIn, SmtpStandIn, TelegramStandIn

DATA = Path(__file__).parent / "data" / "delivery"
TZ = ZoneInfo("Asia/Phnom_Penh")
SIGNAL_TO = "+10000000001"
TG_CHAT = "-1001234567890"
SMTP_PASS = "pa55-w0rd-!x"  # a test secret that must never be shown
COENG = "\u17d2"


def links_in(html: str) -> list[str]:
    """The href of every real <a> element (not of escaped markup shown as text)."""
    found: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.extend(v or "" for k, v in attrs if tag == "a" and k == "href")

    Links().feed(html)
    return found


class Clock:
    """A fake clock the Pipeline and Deliverer read; tests move it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Rig:
    """The loopback world, a loaded config, its store and a fake clock."""

    config_path: Path
    config: Config
    store: Store
    clock: Clock
    feeds: FeedServer
    signal: SignalStandIn
    telegram: TelegramStandIn
    smtp: SmtpStandIn
    hooks: JsonStandIn

    def serve(self, feed: str, *guids: str) -> None:
        """Serve `feed` from tests/data/delivery with only the items `guids`, dated
        relative to the fake clock."""
        text = (DATA / feed).read_text(encoding="utf-8")

        def keep(item: re.Match[str]) -> str:
            guid = re.search(r"<guid[^>]*>([^<]+)</guid>", item.group(0))
            return item.group(0) if guid and guid.group(1) in guids else ""

        text = re.sub(r"\s*<item>.*?</item>", keep, text, flags=re.DOTALL)
        body = render_dates(text, self.clock.now).encode("utf-8")
        self.feeds.put(f"/{feed}", body, content_type="application/rss+xml")

    def poll(self) -> list[PollReport]:
        async def go() -> list[PollReport]:
            fetcher = new_fetcher(self.config.settings)
            try:
                return await Pipeline(self.config, self.store, fetcher, clock=self.clock).poll_all()
            finally:
                await fetcher.aclose()

        return asyncio.run(go())

    def deliver(self) -> DeliveryReport:
        return asyncio.run(Deliverer(self.config, self.store, self.clock).deliver_due())

    def hook(self, path: str) -> list[dict[str, Any]]:
        return [m for m in self.hooks.messages if m["path"] == path]

    def staff_messages(self) -> int:
        return len(self.signal.messages) + len(self.telegram.messages) + len(self.smtp.mails)


def write_config(
    tmp_path: Path, template: str, feeds: FeedServer, signal: SignalStandIn, mail: str, hooks: str
) -> Path:
    text = (DATA / template).read_text(encoding="utf-8")
    text = (
        text.replace("{{HOST}}", feeds.netloc)
        .replace("{{SIGNAL}}", signal.netloc)
        .replace("{{MAIL}}", mail)
        .replace("{{JSON}}", hooks)
    )
    path = tmp_path / "watcher.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`main()` points the root logger at the stream of the moment (pytest's capture);
    put the handlers back so later tests do not log to a closed file."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def make_rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Rig]]:
    """Build a Rig; `mail` may replace the SMTP channel URL (a template with ${VAR})."""
    made: list[Rig] = []

    def build(mail: str | None = None) -> Rig:
        feeds, signal, telegram = FeedServer(), SignalStandIn(), TelegramStandIn()
        smtp, hooks = SmtpStandIn(), JsonStandIn()
        monkeypatch.setenv("SIGNAL_TO", SIGNAL_TO)
        monkeypatch.setenv("TG_TOKEN", TelegramStandIn.TOKEN)
        monkeypatch.setenv("TG_CHAT", TG_CHAT)
        monkeypatch.setenv("SMTP_PASS", SMTP_PASS)
        # Apprise's telegram plugin has no host in its URL: aim it at the stand-in.
        monkeypatch.setattr(NotifyTelegram, "notify_url", telegram.url.rstrip("/") + "/bot")
        mail_url = (mail or "{smtp}").replace("{smtp}", smtp.apprise_url())
        mail_url = mail_url.replace("{port}", str(smtp.port))
        path = write_config(tmp_path, "watcher.toml", feeds, signal, mail_url, hooks.netloc)
        config = load_config(path, os.environ)
        store = Store(Path(config.settings.state_dir) / DB_NAME)
        clock = Clock(datetime.now(UTC).replace(microsecond=0))
        rig = Rig(path, config, store, clock, feeds, signal, telegram, smtp, hooks)
        for feed in ("civic.xml", "khmer.xml", "mirror.xml"):
            rig.serve(feed)
        made.append(rig)
        return rig

    try:
        yield build
    finally:
        for rig in made:
            rig.store.close()
            for server in (rig.feeds, rig.signal, rig.telegram, rig.smtp, rig.hooks):
                server.close()


@pytest.fixture
def rig(make_rig: Callable[..., Rig]) -> Rig:
    return make_rig()


# --- outbox: outage, isolation, retries, give-up -------------------------------------


def test_outage_then_recovery_delivers_exactly_once(rig: Rig) -> None:
    rig.signal.set_down(True)
    rig.serve("civic.xml", "civic-1", "civic-3")
    rig.poll()
    report = rig.deliver()
    assert report.retrying == 2 and report.sent > 0  # the other channels did their part
    assert rig.signal.messages == []
    # Within the backoff nothing is tried again.
    tries = len(rig.signal.requests_for("/v2/send"))
    rig.clock.advance(seconds=20)
    rig.deliver()
    assert len(rig.signal.requests_for("/v2/send")) == tries
    rig.signal.set_down(False)
    rig.clock.advance(seconds=15)  # past the first retry (30 s)
    assert rig.deliver().sent == 2
    for _ in range(3):  # later rounds and polls send nothing again
        rig.clock.advance(minutes=5)
        rig.poll()
        rig.deliver()
    texts = [m["message"] for m in rig.signal.messages]
    assert len(texts) == 2
    assert sum("National Internet Gateway" in t for t in texts) == 1
    assert sum("media licences" in t for t in texts) == 1
    assert len(rig.smtp.mails) == 2  # sent once, in the first round, never again


def test_retry_delays_start_within_a_minute_double_and_cap_at_an_hour(rig: Rig) -> None:
    assert [retry_delay(n) for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]  # fmt: skip
    rig.signal.set_down(True)
    rig.serve("civic.xml", "civic-1")
    rig.poll()
    gaps = []
    for _ in range(9):
        rig.deliver()
        [(_, _, _, next_try, error)] = [
            row for row in rig.store.pending_by_channel() if row[0] == "staff-signal"
        ]
        assert next_try is not None and error
        gaps.append((next_try - rig.clock.now).total_seconds())
        rig.clock.now = next_try
    assert gaps == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert len(rig.signal.requests_for("/v2/send")) == 9


def test_one_failing_channel_never_delays_or_fails_another(rig: Rig) -> None:
    # Signal accepts but answers only after 2 s (a slow signal-cli); Telegram, email and
    # the webhook must not wait for it. Signal is the first channel in the config.
    rig.signal.delay = 2.0
    rig.serve("civic.xml", "civic-1")
    rig.poll()
    started = time.monotonic()
    rig.deliver()
    finished = time.monotonic()
    assert finished - started >= 2.0
    telegram_at = rig.telegram.requests_for(f"/bot{TelegramStandIn.TOKEN}/sendMessage")[0].at
    assert telegram_at - started < 1.5
    assert len(rig.smtp.mails) == 1 and len(rig.telegram.messages) == 1
    assert len(rig.signal.messages) == 1
    # A channel that is down fails alone: the others are sent and marked sent.
    rig.signal.delay = 0
    rig.signal.set_down(True)
    rig.serve("civic.xml", "civic-1", "civic-6", "civic-7")
    rig.poll()
    report = rig.deliver()
    assert len(rig.telegram.messages) == 3 and len(rig.smtp.mails) == 3
    assert report.retrying == 2  # the two new Signal alerts
    # …and a channel that is down costs one attempt per round, not one per message.
    assert len(rig.signal.requests_for("/v2/send")) == 2
    assert {(c, n) for c, n, *_ in rig.store.pending_by_channel()} >= {("staff-signal", 2)}


def test_give_up_marks_failed_shows_in_status_and_tells_admin_once(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.signal.set_down(True)
    rig.serve("civic.xml", "civic-1")
    rig.poll()
    start = rig.clock.now
    rig.deliver()
    rig.clock.now = start + timedelta(hours=23, minutes=59)
    rig.deliver()
    assert rig.hook("/ops") == []
    rig.clock.now = start + timedelta(hours=24, seconds=1)
    report = rig.deliver()
    assert report.failed == 1 and report.gave_up == {"staff-signal": 1}
    rig.clock.advance(seconds=1)
    rig.deliver()  # sends the admin notice
    for _ in range(3):
        rig.clock.advance(hours=2)
        rig.deliver()
    [notice] = rig.hook("/ops")
    assert "gave up on 1 message(s) to staff-signal" in notice["title"]
    assert "National Internet Gateway" in notice["message"]
    assert "https://civic.example/2026/11/nig-sub-decree" in notice["message"]
    assert rig.signal.messages == []
    capsys.readouterr()
    assert main(["-c", str(rig.config_path), "status"]) == 0
    out = capsys.readouterr().out
    assert "staff-signal: pending 0, failed 1" in out
    assert "failed to staff-signal:" in out
    assert SIGNAL_TO not in out


def test_a_failed_digest_is_not_given_up_before_it_was_due(rig: Rig) -> None:
    # Held 23 h for 08:00 then failing: give_up counts from the due time, not creation.
    rig.clock.now = datetime(2026, 11, 24, 9, 0, tzinfo=TZ).astimezone(UTC)
    rig.hooks.set_down(True)
    rig.serve("civic.xml", "civic-3")
    rig.poll()
    rig.clock.now = datetime(2026, 11, 25, 8, 0, tzinfo=TZ).astimezone(UTC)
    assert rig.deliver().gave_up == {}
    # The hourly digest was due at 10:00 yesterday: 24 h later it is given up…
    rig.clock.advance(hours=2)
    assert rig.deliver().gave_up == {"hourly": 1}
    # …and the morning one 24 h after its 08:00, not 24 h after the alert.
    rig.clock.advance(hours=21, minutes=59)
    assert rig.deliver().gave_up == {}
    gave_up = 0
    for _ in range(3):  # the first attempt after 24 h (the backoff is at most 1 h)
        rig.clock.advance(minutes=30)
        gave_up += rig.deliver().gave_up.get("morning", 0)
    assert gave_up == 1


# --- crash safety --------------------------------------------------------------------


@pytest.mark.parametrize("killed_after", [1, 2])
def test_sigkill_mid_delivery_then_rerun_delivers_every_alert(
    tmp_path: Path, killed_after: int
) -> None:
    with FeedServer() as feeds, SignalStandIn(delay=3.0) as signal, JsonStandIn() as hooks:
        now = datetime.now(UTC)
        text = render_dates((DATA / "civic.xml").read_text(encoding="utf-8"), now)
        feeds.put("/civic.xml", text.encode("utf-8"), content_type="application/rss+xml")
        path = write_config(tmp_path, "crash.toml", feeds, signal, "", hooks.netloc)
        env = {**os.environ, "SIGNAL_TO": SIGNAL_TO}
        proc = subprocess.Popen(
            [sys.executable, "-m", "watcher", "-c", str(path), "once"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # Signal has the message(s) but has not answered: the worst moment.
            signal.wait_for(killed_after, timeout=30)
            proc.send_signal(signals.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.returncode == -signals.SIGKILL
        store = Store(tmp_path / "state" / DB_NAME)
        try:
            assert store.outbox_counts().get("sending", 0) >= 1  # the kill landed mid-send
        finally:
            store.close()
        signal.delay = 0
        rerun = subprocess.run(
            [sys.executable, "-m", "watcher", "-c", str(path), "once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert rerun.returncode == 0, rerun.stderr
        titles = [m["message"].split("\n")[1] for m in signal.messages]
        expected = {
            "Government adopts sub-decree on National Internet Gateway",
            "Two union leaders arrested in Phnom Penh",
            "Ministry issues prakas on online media licences",
            "Second sub-decree of the week: telecoms licensing",
            "Third sub-decree: data retention rules for providers",
        }
        assert expected <= set(titles)  # every alert delivered
        assert len(titles) - len(set(titles)) <= 1  # at most one duplicate
        json_titles = [m["title"] for m in hooks.messages]
        assert len(set(json_titles)) == len(set(titles))  # the other channel too
        assert len(json_titles) - len(set(json_titles)) <= 1


# --- formats through the real services -----------------------------------------------


def test_signal_message_of_a_long_khmer_article_fits_2000_bytes(rig: Rig) -> None:
    rig.serve("khmer.xml", "km-long")
    rig.poll()
    rig.deliver()
    [message] = rig.signal.messages
    text = message["message"]
    assert len(text.encode("utf-8")) <= SIGNAL_MAX_BYTES
    assert "https://km.example/news/3001" in text.splitlines()
    title = text.splitlines()[1]
    assert title.endswith("…")
    kept = title.removesuffix("…")
    original = re.search(r"<title>([^<]{500,})</title>", (DATA / "khmer.xml").read_text())
    assert original and original.group(1).startswith(kept)
    after = original.group(1)[len(kept)]
    # Cut between clusters: the next character starts a cluster.
    assert not unicodedata.category(after).startswith("M") and kept[-1] != COENG
    # The Telegram channel (min high) got the same alert whole, in one message.
    [telegram] = rig.telegram.messages
    assert original.group(1) in telegram["text"]


def test_telegram_splits_a_long_alert_between_words_and_clusters(rig: Rig) -> None:
    rig.serve("khmer.xml", "km-huge")
    rig.poll()
    rig.deliver()
    parts = [m["text"] for m in rig.telegram.messages]
    assert len(parts) == 2
    assert parts[0].startswith("<i>(1/2)</i>") and parts[1].startswith("<i>(2/2)</i>")
    assert all(len(p) <= TELEGRAM_MAX_CHARS for p in parts)  # as sent, "\r\n" and all
    assert all(m["parse_mode"].upper() == "HTML" for m in rig.telegram.messages)
    original = re.search(r"<title>([^<]{4000,})</title>", (DATA / "khmer.xml").read_text())
    assert original
    first = unescape(re.sub(r"<[^>]+>", "", parts[0])).split("\r\n")
    second = unescape(re.sub(r"<[^>]+>", "", parts[1])).split("\r\n")
    # The first message is full (heading and the start of the title), and the title
    # continues in the second exactly where it stopped, at a space between words.
    assert first[2] == "HIGH · Sub-decrees" and len(parts[0]) > TELEGRAM_MAX_CHARS - 100
    assert f"{first[3]} {second[2]}" == original.group(1)
    assert "https://km.example/news/3002" in parts[1]


def test_feed_markup_is_escaped_for_every_channel(rig: Rig) -> None:
    rig.serve("civic.xml", "civic-5")
    rig.poll()
    rig.deliver()
    # What the feed parser leaves of the title: markup as text (its real tags, such as
    # <script>, are already dropped by feedparser's sanitiser).
    raw_title = 'Sub-decree </b><a href="https://evil.example/">click</a> bold R&D & 1 < 2'
    link = "https://civic.example/2026/11/markup-title"
    # Telegram: the stand-in refuses what Telegram refuses, so arrival proves the escaping.
    [telegram] = rig.telegram.messages
    text = telegram["text"]
    assert "&lt;/b&gt;&lt;a href=" in text and "R&amp;D &amp; 1 &lt; 2" in text
    assert links_in(text) == [link]
    [mail] = rig.smtp.mails
    html = mail.text("html")
    assert "&lt;/b&gt;&lt;a href=" in html and "R&amp;D &amp; 1 &lt; 2" in html
    assert links_in(html) == [link]
    assert raw_title in mail.text("plain")  # the plain part shows the title as text
    assert mail.subject == f"[HIGH] Sub-decrees: {raw_title}"
    [signal] = rig.signal.messages
    assert raw_title in signal["message"]  # plain text: shown as is, nothing to inject
    [hook] = rig.hook("/arrests") or [None]
    assert hook is None


def test_email_has_subject_html_and_a_plain_part_that_keeps_the_link(rig: Rig) -> None:
    rig.serve("civic.xml", "civic-1")
    rig.poll()
    rig.serve("mirror.xml", "mirror-1")  # the same story from a second source
    rig.poll()
    rig.deliver()
    [mail] = rig.smtp.mails
    assert mail.subject == (
        "[HIGH] Sub-decrees: Government adopts sub-decree on National Internet Gateway"
    )
    link = "https://civic.example/2026/11/nig-sub-decree"
    assert f'href="{link}"' in mail.text("html")
    plain = mail.text("plain")
    assert link in plain and "utm_source" not in plain
    assert "Also reported by: Mirror Site" in plain  # computed at send time
    assert "Terms: sub-decree" in plain and "Civic News" in plain
    [hook] = rig.hook("/hourly") or [None]  # digest: not yet
    assert hook is None
    published = rig.clock.now - timedelta(hours=2)
    assert f"{published.astimezone(TZ):%Y-%m-%d %H:%M} +07" in plain


def test_telegram_and_json_receive_every_field(rig: Rig) -> None:
    rig.serve("civic.xml", "civic-2")
    rig.poll()
    rig.deliver()
    [telegram] = rig.telegram.messages
    assert str(telegram["chat_id"]) == TG_CHAT
    text = telegram["text"]
    assert text.startswith("<b>URGENT</b> · <b>Arrests</b>\r\n<b>Two union leaders")
    assert (
        '<a href="https://civic.example/2026/11/union-leaders">'
        "https://civic.example/2026/11/union-leaders</a>"
    ) in text
    assert "<b>Terms: </b>arrested" in text
    [hook] = rig.hook("/arrests")
    assert hook["title"] == "[URGENT] Arrests: Two union leaders arrested in Phnom Penh"
    assert "https://civic.example/2026/11/union-leaders" in hook["message"]


# --- routing and digests -------------------------------------------------------------


def test_routing_by_watchlist_and_min_severity(rig: Rig) -> None:
    rig.serve("civic.xml", "civic-1", "civic-2", "civic-3", "civic-4")
    rig.poll()
    rig.deliver()

    def titles(messages: list[str]) -> set[str]:
        names = {
            "Gateway": "high",
            "union leaders": "urgent",
            "prakas": "normal",
            "consultation": "low",
        }
        return {sev for key, sev in names.items() for m in messages if key in m}

    assert titles([m["message"] for m in rig.signal.messages]) == {"high", "urgent", "normal"}
    assert titles([m["text"] for m in rig.telegram.messages]) == {"high", "urgent"}
    assert titles([m.subject for m in rig.smtp.mails]) == {"high", "urgent", "normal", "low"}
    assert titles([m["title"] for m in rig.hook("/arrests")]) == {"urgent"}
    assert len(rig.signal.messages) == 3 and len(rig.smtp.mails) == 4
    assert rig.hook("/ops") == []  # watchlists = []: no alerts


def test_route_is_a_pure_decision() -> None:
    match = Match("Prakas", Severity.NORMAL, ("prakas",))
    possible = Match("Arrests", Severity.URGENT, ("arrested",), possible=True)
    alert = Alert("t", "https://x.example/", "S", (match, possible))
    channels = (
        Channel("all", "json://a", watchlists=("*",)),
        Channel("high", "json://b", min_severity=Severity.HIGH),
        Channel("review", "json://c", possible=True),
        Channel("none", "json://d", watchlists=()),
    )
    assert [(c.name, names) for c, names in route(alert, channels)] == [
        ("all", ("Prakas",)),
        ("review", ("Prakas", "Arrests")),
    ]


def test_hourly_digest_gathers_for_an_hour_and_urgent_goes_at_once(rig: Rig) -> None:
    t0 = rig.clock.now
    rig.serve("civic.xml", "civic-1")
    rig.poll()
    rig.deliver()
    rig.clock.now = t0 + timedelta(minutes=20)
    rig.serve("civic.xml", "civic-1", "civic-3")
    rig.poll()
    rig.deliver()
    rig.clock.now = t0 + timedelta(minutes=40)
    rig.serve("civic.xml", "civic-1", "civic-3", "civic-4", "civic-2")
    rig.poll()
    rig.deliver()
    [urgent] = rig.hook("/hourly")  # the urgent alert is never held
    assert "union leaders" in urgent["title"] and "digest" not in urgent["title"]
    rig.clock.now = t0 + timedelta(minutes=59, seconds=59)
    rig.deliver()
    assert len(rig.hook("/hourly")) == 1
    rig.clock.now = t0 + timedelta(hours=1)
    rig.deliver()
    digest = rig.hook("/hourly")[1]
    assert "digest of 3 alerts" in digest["title"]
    lines = digest["message"].splitlines()
    for title in (
        "Government adopts sub-decree on National Internet Gateway",
        "Ministry issues prakas on online media licences",
        "Public consultation opens on draft cybercrime law",
    ):
        assert lines.count(title) == 1
    assert "union leaders" not in digest["message"]
    # One hour after the first alert the digest holds, not one hour after the last send.
    rig.clock.now = t0 + timedelta(minutes=70)
    rig.serve("civic.xml", "civic-1", "civic-3", "civic-4", "civic-2", "civic-6")
    rig.poll()
    rig.clock.now = t0 + timedelta(minutes=129)
    rig.deliver()
    assert len(rig.hook("/hourly")) == 2
    rig.clock.now = t0 + timedelta(minutes=130)
    rig.deliver()
    assert len(rig.hook("/hourly")) == 3
    assert "telecoms licensing" in rig.hook("/hourly")[2]["message"]
    # Immediate channels were not held by anyone's digest.
    assert len(rig.smtp.mails) == 5


def test_daily_digest_goes_at_0800_phnom_penh_time(rig: Rig) -> None:
    rig.clock.now = datetime(2026, 11, 25, 7, 30, tzinfo=TZ).astimezone(UTC)
    rig.serve("civic.xml", "civic-1")
    rig.poll()
    rig.clock.now = datetime(2026, 11, 25, 7, 45, tzinfo=TZ).astimezone(UTC)
    rig.serve("civic.xml", "civic-1", "civic-3")
    rig.poll()
    rig.clock.now = datetime(2026, 11, 25, 7, 59, 59, tzinfo=TZ).astimezone(UTC)
    rig.deliver()
    assert rig.hook("/morning") == []
    rig.clock.now = datetime(2026, 11, 25, 8, 0, tzinfo=TZ).astimezone(UTC)  # 01:00 UTC
    rig.deliver()
    [digest] = rig.hook("/morning")
    assert "digest of 2 alerts" in digest["title"]
    rig.clock.now = datetime(2026, 11, 25, 8, 30, tzinfo=TZ).astimezone(UTC)
    rig.serve("civic.xml", "civic-1", "civic-3", "civic-6")
    rig.poll()
    rig.clock.now = datetime(2026, 11, 26, 7, 59, tzinfo=TZ).astimezone(UTC)
    rig.deliver()
    assert len(rig.hook("/morning")) == 1
    rig.clock.now = datetime(2026, 11, 26, 8, 0, tzinfo=TZ).astimezone(UTC)
    rig.deliver()
    assert len(rig.hook("/morning")) == 2


def test_due_time_rules() -> None:
    hourly = Channel("h", "json://x", digest="1h")
    daily = Channel("d", "json://x", digest="08:00")
    now = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)  # 08:30 in Phnom Penh
    assert due_time(Channel("i", "json://x"), Severity.LOW, now, TZ) == now
    assert due_time(hourly, Severity.URGENT, now, TZ) == now
    assert due_time(daily, Severity.URGENT, now, TZ) == now
    assert due_time(hourly, Severity.HIGH, now, TZ) == now + timedelta(hours=1)
    held = now + timedelta(minutes=12)
    assert due_time(hourly, Severity.HIGH, now, TZ, held) == held
    assert due_time(daily, Severity.HIGH, now, TZ) == datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    early = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # 06:00 local
    assert due_time(daily, Severity.HIGH, early, TZ) == datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


def test_a_long_digest_on_signal_is_split_into_whole_alerts(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Apprise waits 5.5 s between two sends of one signal:// object (its default
    # request_rate_per_sec); a split digest is two sends, so lift the wait here.
    monkeypatch.setattr(NotifySignalAPI, "request_rate_per_sec", 0)
    staff = rig.config.channel("staff-signal")
    assert staff is not None
    channels = tuple(replace(staff, digest="1h") if c is staff else c for c in rig.config.channels)
    rig.config = replace(rig.config, channels=channels)
    rig.serve("khmer.xml", "km-long", "km-short")
    rig.serve("civic.xml", "civic-1", "civic-3", "civic-6", "civic-7")
    rig.poll()
    rig.clock.advance(hours=1)
    rig.deliver()
    texts = [m["message"] for m in rig.signal.messages]
    assert len(texts) >= 2
    assert all(len(t.encode("utf-8")) <= SIGNAL_MAX_BYTES for t in texts)
    assert all(t.startswith("watcher digest: 6 alerts (") for t in texts)
    joined = "\n".join(texts)
    for link in ("https://km.example/news/3001", "https://civic.example/2026/11/media-prakas"):
        assert joined.count(link) == 1


# --- stale sources -------------------------------------------------------------------


def test_stale_source_reported_once_and_recovery_once(rig: Rig) -> None:
    t0 = rig.clock.now
    rig.feeds.fail("/civic.xml", 500)
    for hours in (0, 3, 5.9):
        rig.clock.now = t0 + timedelta(hours=hours)
        rig.poll()
        assert check_stale(rig.config, rig.store, rig.clock.now) == []
    rig.clock.now = t0 + timedelta(hours=6)
    rig.poll()
    [notice] = check_stale(rig.config, rig.store, rig.clock.now)
    assert notice.kind == "stale" and notice.source == "Civic News"
    rig.deliver()
    for hours in (7, 12, 30):
        rig.clock.now = t0 + timedelta(hours=hours)
        rig.poll()
        assert check_stale(rig.config, rig.store, rig.clock.now) == []
        rig.deliver()
    [stale] = rig.hook("/ops")
    assert stale["title"] == "watcher: source failing: Civic News"
    assert "HTTP 500" in stale["message"]
    rig.feeds.recover("/civic.xml")
    rig.clock.advance(minutes=15)
    rig.poll()
    [back] = check_stale(rig.config, rig.store, rig.clock.now)
    assert back.kind == "recovered"
    for _ in range(3):
        rig.deliver()
        rig.clock.advance(minutes=15)
        rig.poll()
        assert check_stale(rig.config, rig.store, rig.clock.now) == []
    assert [m["title"] for m in rig.hook("/ops")] == [
        "watcher: source failing: Civic News",
        "watcher: source working again: Civic News",
    ]
    # Nothing about source failures reaches a staff channel.
    assert rig.staff_messages() == 0
    assert rig.hook("/hourly") == rig.hook("/morning") == rig.hook("/arrests") == []


# --- secrets -------------------------------------------------------------------------


def test_secrets_of_finds_every_environment_value() -> None:
    channel = Channel(
        "c",
        "mailtos://watcher:p%40ss-w0rd@smtp.example.org:587?to=a@example.org",
        url_template="mailtos://watcher:${SMTP_PASS}@smtp.example.org:587?to=a@example.org",
    )
    assert {"p%40ss-w0rd", "p@ss-w0rd"} <= secrets_of(channel)
    assert "smtp.example.org" not in secrets_of(channel)
    tgram = Channel("t", "tgram://123456789:AAH-x_y/-100123", url_template="tgram://${T}/${C}")
    assert {"123456789:AAH-x_y", "-100123"} <= secrets_of(tgram)


def test_no_secret_in_logs_status_errors_or_exports(
    make_rig: Callable[..., Rig], capfd: pytest.CaptureFixture[str]
) -> None:
    # A password in a mailto URL (the stand-in has no AUTH, so login fails and Apprise
    # logs errors) and a token in a tgram URL (Telegram down: more errors).
    rig = make_rig(mail="mailto://watcher:${SMTP_PASS}@127.0.0.1:{port}?from=w@x.org&to=s@x.org")
    log = io.StringIO()
    setup_logging(logging.DEBUG, log)
    logging.getLogger("apprise").setLevel(logging.DEBUG)  # setup_logging quiets it
    _protect_secrets(rig.config)
    rig.telegram.set_down(True, status=401)
    try:
        rig.serve("civic.xml", "civic-1", "civic-2")
        rig.poll()
        rig.deliver()
        rig.clock.advance(hours=25)
        rig.deliver()  # gives up: the admin notice carries the last error
        rig.clock.advance(seconds=1)
        rig.deliver()
        for command in (
            "status",
            "export",
            "test-notify staff-email",
            "test-notify staff-telegram",
        ):
            assert main(["-v", "-v", "-c", str(rig.config_path), *command.split()]) in (0, 1)
    finally:
        setup_logging(logging.WARNING)
    captured = capfd.readouterr()
    notices = "\n".join(m["message"] for m in rig.hook("/ops"))
    errors = "\n".join(e or "" for _, _, e in rig.store.failed_deliveries())
    everything = "\n".join([log.getvalue(), captured.out, captured.err, notices, errors])
    assert "gave up" in notices and errors  # the error paths did run
    assert "level=DEBUG logger=apprise" in log.getvalue()
    for secret in (SMTP_PASS, TelegramStandIn.TOKEN, TelegramStandIn.TOKEN.split(":")[1]):
        assert secret not in everything
    assert SIGNAL_TO not in everything and TG_CHAT not in everything


# --- test-notify ---------------------------------------------------------------------


def test_test_notify_reports_per_service_and_fails_when_not_delivered(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(rig.config_path)
    assert main(["-c", path, "test-notify", "staff-telegram"]) == 0
    out = capsys.readouterr().out
    assert "  Telegram " in out and ": delivered" in out
    assert out.rstrip().endswith("staff-telegram: delivered")
    assert "watcher test message" in rig.telegram.messages[0]["text"]
    rig.hooks.set_down(True)
    assert main(["-c", path, "test-notify", "ops"]) == 1
    out = capsys.readouterr().out
    assert "NOT delivered" in out and "ops: NOT delivered" in out
    assert main(["-c", path, "test-notify", "staff-email"]) == 0
    assert "test" in rig.smtp.mails[0].subject


def test_apprise_send_refuses_optional_success_and_never_raises() -> None:
    # `?optional=yes` makes Apprise call a failed service a success; the outbox must not.
    with JsonStandIn() as hooks:
        hooks.set_down(True)
        channel = Channel("c", f"json://{hooks.netloc}/x?optional=yes")
        outcome = apprise_send(channel, [Rendered("t", "b", "text")])
        assert not outcome.delivered and len(outcome.services) == 1
    broken = Channel("b", "notaservice://x")
    assert apprise_send(broken, [Rendered("t", "b", "text")]) == SendOutcome.failed(
        "Apprise does not accept this channel URL"
    )


# --- docs/channels.md ----------------------------------------------------------------


def test_channel_urls_in_the_docs_are_accepted_with_the_documented_env_file() -> None:
    docs = (Path(__file__).parent.parent / "docs" / "channels.md").read_text(encoding="utf-8")
    env_block = docs.split("# /etc/watcher/env", 1)[1].split("```", 1)[0]
    env = dict(re.findall(r"^([A-Z_0-9]+)=(\S+)$", env_block, re.MULTILINE))
    env |= {"TG_OPS_CHAT": "-1009876543210"}
    urls = re.findall(r'^\s*url = "([^"]+)"', docs, re.MULTILINE)
    assert len(urls) == 4
    kinds = []
    for template in urls:
        url = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], template)
        service = apprise.Apprise.instantiate(url)
        assert service is not None, template
        kinds.append(channel_kind(url))
        if kinds[-1] == "email":
            assert service.host == "smtp.example.org" and service.user == "watcher@example.org"
            assert service.secure_mode == "starttls"
    assert kinds == ["signal", "email", "telegram", "telegram"]


# --- what real services accept: strict SMTP, refused messages (SPEC §7) --------------

_KHMER_WORDS = ("ក្រសួងព័ត៌មាន", "ចាប់ខ្លួន", "អ្នកការពារសិទ្ធិមនុស្ស", "នៅរាជធានីភ្នំពេញ", "អនុក្រឹត្យ")
PROBE_LINK = "https://news.example.org/2026/11/a-story-with-a-long-path/?id=42&lang=km"


def _khmer(chars: int) -> str:
    """Khmer text of exactly `chars` characters made of whole words (ZWSP between)."""
    out = ""
    for n in range(chars):
        word = _KHMER_WORDS[n % len(_KHMER_WORDS)] + "\u200b"
        if len(out) + len(word) > chars:
            break
        out += word
    return out + "ក" * (chars - len(out))  # single-letter clusters fill to the length


def probe_alerts() -> dict[str, Alert]:
    """The issue's probes: long Khmer, long English, markup and a `javascript:` link,
    emoji with ZWJ sequences and an Arabic word."""

    def alert(title: str, snippet: str, link: str = PROBE_LINK) -> Alert:
        match = Match("Arrests of named defenders", Severity.URGENT, ("arrest*",), (), snippet)
        return Alert(
            title, link, "Probe Source", (match,), datetime(2026, 11, 25, 3, 5, tzinfo=UTC)
        )

    english = " ".join(f"word{n % 97} arrested" for n in range(3000))[:20_000]
    return {
        "khmer": alert(_khmer(150), _khmer(6000)),
        "english": alert("Activists arrested after a long day in court", english),
        "markup": alert(
            "<script>alert(1)</script> <b>bold</b> & friends arrested",
            "<img src=x onerror=alert(2)> text",
            "javascript:alert(3)",
        ),
        "emoji": alert(
            "Families 👨‍👩‍👧‍👦 and 🏳️‍🌈 marchers arrested — مرحبا",
            "Witnesses 👩🏽‍⚖️ said مرحبا to the arrested 🧑‍🤝‍🧑 crowd.",
        ),
    }


def _cluster_cut_ok(full: str, kept: str) -> bool:
    """`kept` is a start of `full` that does not end inside a Khmer cluster."""
    return (
        full.startswith(kept)
        and not kept.endswith(COENG)
        and (len(kept) == len(full) or not unicodedata.category(full[len(kept)]).startswith("M"))
    )


def test_strict_smtp_takes_every_probe_with_short_lines_and_a_folded_subject() -> None:
    from strict_smtp import StrictSmtp

    from watcher.delivery.messages import EMAIL, render_alert

    with StrictSmtp() as server:
        channel = Channel("mail", server.url())
        for name, alert in probe_alerts().items():
            rendered = render_alert(alert, EMAIL, TZ)
            outcome = apprise_send(channel, rendered)
            assert outcome.delivered, (name, outcome.reason)
            mail = server.mails[-1]
            for line in mail.raw.split(b"\r\n"):
                assert len(line) <= 998, (name, line[:80])
            subject = mail.subject
            assert subject == rendered[0].title and "\n" not in subject, name
            assert subject.startswith("[URGENT] Arrests of named defenders: ")
            assert len(subject) <= 150
            if name == "khmer":
                assert len(mail.raw_subject_lines()) > 1  # folded into encoded words
                kept = subject.split(": ", 1)[1].removesuffix("…")
                assert _cluster_cut_ok(alert.title, kept)
            html, plain = mail.part("html"), mail.part("plain")
            assert html and plain, name
            if alert.link.startswith("https"):
                assert alert.link in links_in(html) and alert.link in plain, name
        assert server.refused == []
        markup = server.mails[2]
        html, plain = markup.part("html"), markup.part("plain")
        assert "<script" not in html and "<b>bold" not in html and "<img" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt;" in html
        assert "<script>alert(1)</script> <b>bold</b> & friends" in plain
        assert links_in(html) == [] and "javascript:alert(3)" in html and "javascript:" in plain
        emoji = server.mails[3]
        assert "👨‍👩‍👧‍👦" in emoji.subject and "مرحبا" in emoji.subject
        assert "👩🏽‍⚖️" in emoji.part("plain") and "🧑‍🤝‍🧑" in emoji.part("html")


def test_without_folding_a_strict_server_refuses_and_its_reply_is_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The live defect, kept as a probe of the trap: Apprise's email plugin serialises
    # with folding off, so a Khmer subject is one line of > 998 octets.
    from email.header import Header

    from apprise.plugins.email import base
    from strict_smtp import StrictSmtp

    import watcher.delivery.transport
    from watcher.delivery.messages import EMAIL, render_alert

    monkeypatch.setattr(watcher.delivery.transport, "_fold_email_headers", lambda: None)
    monkeypatch.setattr(base, "Header", Header)
    with StrictSmtp() as server:
        outcome = apprise_send(
            Channel("mail", server.url()), render_alert(probe_alerts()["khmer"], EMAIL, TZ)
        )
        assert not outcome.delivered and outcome.refused
        assert "500 Line too long" in outcome.reason  # the server's own words (issue 20)
        assert server.mails == []


def _add_alert(store: Store, alert: Alert, channel: str, now: datetime) -> int:
    story = store.new_story(alert.link, alert.title, now)
    alert_id = store.add_alert(story_id=story, item_id=None, alert=alert, now=now)  # type: ignore[arg-type]
    store.enqueue(
        channel=channel,
        now=now,
        due=now,
        alert_id=alert_id,
        watchlists=[m.watchlist for m in alert.matches],
    )
    return alert_id


def _ten_alerts() -> list[Alert]:
    alerts = []
    for n in range(10):
        title = f"POISON defender {n} arrested" if n == 4 else f"Defender {n} arrested"
        match = Match("Arrests", Severity.URGENT, ("arrested",), (), f"Snippet {n} SNIPPET-MARK")
        alerts.append(Alert(title, f"https://news.example.org/{n}", "Civic News", (match,)))
    return alerts


def test_a_refused_email_never_holds_back_the_others_and_is_reported(
    make_rig: Callable[..., Rig], capsys: pytest.CaptureFixture[str]
) -> None:
    from strict_smtp import StrictSmtp

    with StrictSmtp() as server:
        rig = make_rig(mail=server.url())
        server.refuse(lambda m: "POISON" in str(m["Subject"]))
        for alert in _ten_alerts():
            _add_alert(rig.store, alert, "staff-email", rig.clock.now)
        report = rig.deliver()
        # The nine arrive in the same run; the poison one was tried twice, then failed.
        assert sorted(m.subject for m in server.mails) == sorted(
            f"[URGENT] Arrests: Defender {n} arrested" for n in range(10) if n != 4
        )
        assert report.sent == 9 and report.refused == 1 and report.retrying == 0
        full, minimal = server.refused
        assert b"SNIPPET-MARK" in full and b"SNIPPET-MARK" not in minimal
        assert b"news.example.org/4" in minimal
        [(_, channel, error)] = rig.store.failed_deliveries()
        assert channel == "staff-email" and "554 5.6.0" in (error or "")
        rig.deliver()  # the admin report goes out
        [notice] = rig.hook("/ops")
        assert notice["title"] == "watcher: a message to staff-email was refused"
        assert "554 5.6.0 Message content rejected" in notice["message"]
        assert "POISON defender 4 arrested" in notice["message"]
        assert "https://news.example.org/4" in notice["message"]
        assert len(server.refused) == 2  # never tried again
        assert main(["-c", str(rig.config_path), "status"]) == 0
        out = capsys.readouterr().out
        assert "failed to staff-email: refused: the mail server answered: 554 5.6.0" in out


def test_a_message_refused_in_full_goes_out_in_minimal_form(make_rig: Callable[..., Rig]) -> None:
    from strict_smtp import StrictSmtp

    with StrictSmtp() as server:
        rig = make_rig(mail=server.url())
        server.refuse(lambda m: "SNIPPET-MARK" in m.as_string())
        _add_alert(rig.store, _ten_alerts()[1], "staff-email", rig.clock.now)
        report = rig.deliver()
        assert report.sent == 1 and report.minimal == 1 and rig.store.failed_deliveries() == []
        [mail] = server.mails
        assert mail.subject == "[URGENT] Arrests: Defender 1 arrested"
        assert "https://news.example.org/1" in mail.part("plain")
        assert "URGENT" in mail.part("plain") and "Arrests" in mail.part("plain")


class RefusingTelegram(TelegramStandIn):
    """Telegram answering 400 to a message that holds "POISON", as it does to content it
    cannot take."""

    def _respond(self, request: Any) -> Any:
        from standins import Response

        if request.path.endswith("/sendMessage") and "POISON" in request.body.decode():
            return Response.json(
                400, {"ok": False, "error_code": 400, "description": "Bad Request: refused"}
            )
        return super()._respond(request)


class RefusingSignal(SignalStandIn):
    """signal-cli's REST API answering 400 to a message that holds "POISON"."""

    def _respond(self, request: Any) -> Any:
        from standins import Response

        if request.path == "/v2/send" and "POISON" in request.body.decode():
            return Response.json(400, {"error": "refused"})
        return super()._respond(request)


def test_probes_and_a_poison_message_through_signal_and_telegram(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watcher.delivery.messages import SIGNAL, TELEGRAM, render_alert
    from watcher.models import Settings

    with RefusingTelegram() as telegram, RefusingSignal() as signal, JsonStandIn() as hooks:
        monkeypatch.setattr(NotifyTelegram, "notify_url", telegram.url.rstrip("/") + "/bot")
        tg = Channel("tg", telegram.apprise_url())
        sg = Channel("sg", signal.apprise_url())
        # The probes: every message within the service's limit, text kept as text.
        for alert in probe_alerts().values():
            tg_out = render_alert(alert, TELEGRAM, TZ)
            assert apprise_send(tg, tg_out).delivered
            sg_out = render_alert(alert, SIGNAL, TZ)
            assert apprise_send(sg, sg_out).delivered
        assert all(len(m["text"]) <= TELEGRAM_MAX_CHARS for m in telegram.messages)
        assert all(len(m["message"].encode()) <= SIGNAL_MAX_BYTES for m in signal.messages)
        assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in m["text"] for m in telegram.messages)
        assert any("<script>alert(1)</script>" in m["message"] for m in signal.messages)
        assert sum(PROBE_LINK in m["message"] for m in signal.messages) == 3
        # Shortened or split only between Khmer clusters: no line starts with a mark or
        # ends with a coeng (whose subscript would be cut off).
        texts = [re.sub(r"<[^>]+>", "", m["text"]) for m in telegram.messages]
        texts += [m["message"] for m in signal.messages]
        for text in texts:
            for line in filter(None, (ln.strip().strip("“”…") for ln in text.splitlines())):
                assert not unicodedata.category(line[0]).startswith("M"), line[:10]
                assert not line.endswith(COENG), line[-10:]
        assert len(telegram.messages) > 4  # the long articles were split
        telegram.clear()
        signal.clear()
        # The poison message among ten, through both.
        config = Config(
            path=str(tmp_path / "watcher.toml"),
            settings=Settings(
                state_dir=str(tmp_path), timezone="Asia/Phnom_Penh", admin_channel="ops"
            ),
            channels=(tg, sg, Channel("ops", hooks.apprise_url("/ops"), watchlists=())),
        )
        store = Store(tmp_path / DB_NAME)
        try:
            clock = Clock(datetime.now(UTC))
            for alert in _ten_alerts():
                _add_alert(store, alert, "tg", clock.now)
                _add_alert(store, alert, "sg", clock.now)
            report = asyncio.run(Deliverer(config, store, clock).deliver_due())
            assert report.sent == 18 and report.refused == 2
            assert len(telegram.messages) == len(signal.messages) == 9
            assert {c for _, c, _ in store.failed_deliveries()} == {"tg", "sg"}
            asyncio.run(Deliverer(config, store, clock).deliver_due())
            titles = sorted(m["title"] for m in hooks.messages)
            assert titles == [
                "watcher: a message to sg was refused",
                "watcher: a message to tg was refused",
            ]
            assert all("POISON defender 4" in m["message"] for m in hooks.messages)
        finally:
            store.close()


def test_a_transient_failure_of_one_message_does_not_block_the_others_next_round(
    rig: Rig,
) -> None:
    # Telegram answers 502 to the first try; the rest of that round waits (a channel
    # that looks down costs one attempt a round), and the next round sends the untried
    # ones first, so the failed one cannot stand in front of them.
    rig.telegram.set_down(True, status=502)
    for alert in _ten_alerts()[:3]:
        _add_alert(rig.store, alert, "staff-telegram", rig.clock.now)
    report = rig.deliver()
    assert report.sent == 0 and report.retrying == 3 and len(rig.telegram.requests) == 1
    rig.telegram.set_down(False)
    rig.clock.advance(minutes=1)
    assert rig.deliver().sent == 3
    texts = [m["text"] for m in rig.telegram.messages]
    assert "POISON" not in texts[0] and "Defender 0 arrested" in texts[-1]


def test_redaction_hides_secrets_and_never_ordinary_words() -> None:
    # Issue 20: with EMAIL_FROM=watcher@example.org every "watcher" became ***, and the
    # SMTP host too, so an error said neither where nor why.
    from watcher.logs import redact

    channel = Channel(
        "mail",
        "mailtos://ops%40example.org:correct-horse@smtp.example.org:587"
        "?from=watcher@example.org&to=staff@example.org",
        url_template="mailtos://${SMTP_USER}:${SMTP_PASS}@${SMTP_HOST}:587"
        "?from=${EMAIL_FROM}&to=staff@example.org",
    )
    secrets = secrets_of(channel)
    assert {"correct-horse", "ops%40example.org", "ops@example.org"} <= secrets
    assert not secrets & {"watcher@example.org", "watcher", "smtp.example.org", "example.org"}
    line = 'config=/tmp/x/watcher.toml; Run watcher check; Connection error to "smtp.example.org"'
    assert redact(line, secrets) == line
    assert redact("login ops@example.org:correct-horse", secrets) == "login ***:***"
    # A secret that is a word is hidden only as a whole word, never inside another.
    assert redact("alerts, alertsystem, realerts", {"alerts"}) == "***, alertsystem, realerts"
    signal = Channel(
        "s", "signal://127.0.0.1:8080/+85512000000/+85598765432", url_template="signal://x"
    )
    assert {"+85512000000", "+85598765432"} <= secrets_of(signal)


@pytest.mark.parametrize("folding", [True, False], ids=["folded", "as-apprise-ships"])
def test_a_long_khmer_headline_never_holds_back_the_english_alerts_of_the_same_poll(
    make_rig: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch, folding: bool
) -> None:
    # The live defect, end to end: one poll finds a long Khmer headline and English
    # alerts; the email channel is a strict server. Folded, every alert arrives. Even
    # with Apprise's unfolded Subject (the server refuses it, in full and minimal form),
    # the English alerts arrive in the same run and the Khmer one is reported.
    from email.header import Header

    from apprise.plugins.email import base
    from strict_smtp import StrictSmtp

    import watcher.delivery.transport

    if not folding:
        monkeypatch.setattr(watcher.delivery.transport, "_fold_email_headers", lambda: None)
        monkeypatch.setattr(base, "Header", Header)
    with StrictSmtp() as server:
        rig = make_rig(mail=server.url())
        rig.serve("khmer.xml", "km-long")
        rig.serve("civic.xml", "civic-1", "civic-2", "civic-6")
        rig.poll()
        report = rig.deliver()
        english = {
            "[HIGH] Sub-decrees: Government adopts sub-decree on National Internet Gateway",
            "[URGENT] Arrests: Two union leaders arrested in Phnom Penh",
            "[HIGH] Sub-decrees: Second sub-decree of the week: telecoms licensing",
        }
        subjects = {m.subject for m in server.mails}
        assert english <= subjects
        khmer = [s for s in subjects if s.startswith("[HIGH] Sub-decrees: រាជរដ្ឋាភិបាល")]
        if folding:
            assert len(khmer) == 1 and report.refused == 0 and server.refused == []
            assert all(len(x) <= 998 for m in server.mails for x in m.raw.split(b"\r\n"))
        else:
            assert khmer == [] and report.refused == 1
            [(_, channel, error)] = rig.store.failed_deliveries()
            assert channel == "staff-email" and "500 Line too long" in (error or "")
            rig.deliver()
            [notice] = rig.hook("/ops")
            assert "500 Line too long" in notice["message"]
            assert "https://km.example/news/3001" in notice["message"]
