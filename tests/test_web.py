"""The staff pages and feeds (SPEC §12) through Starlette's test client, over a state
made by a real `watcher once` on loopback feeds (tests/webrig.py): logins, escaping of
hostile feed text, the CSP, filters, feeds and downloads, search, `[web]` config, and
`watcher run` serving the pages."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import pty
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import termios
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from watcher.cli import main
from watcher.matching import Matcher
from watcher.models import Person, Watchlist
from watcher.runner.export import EXPORT_FIELDS
from watcher.store.reads import StateReader
from watcher.store.sqlite import DB_NAME
from watcher.web.app import CSP, create_app
from watcher.web.auth import FAILURE_WINDOW, Throttle, check_password
from watcher.web.commands import user_add
from watcher.web.feeds import _cell
from watcher.web.filters import http_link
from watcher.web.search import QueryError, parse_query, search

from webrig import PASSWORD, TOKEN, USER, WebRig, free_port, make_state

ATOM = "{http://www.w3.org/2005/Atom}"
PAGES = ("/", "/sources", "/outbox", "/search?q=sub-decree", "/alerts/1")
FEEDS = ("/feed.atom", "/alerts.csv", "/alerts.json")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> WebRig:
    return make_state(tmp_path_factory.mktemp("web"))


def _client(rig: WebRig, *, login: bool = True) -> TestClient:
    app = create_app(lambda: rig.config, throttle=Throttle(base_delay=0.01, max_delay=0.05))
    client = TestClient(app)
    if login:
        r = client.post(
            "/login", data={"username": USER, "password": PASSWORD}, follow_redirects=False
        )
        assert r.status_code == 303
    return client


@pytest.fixture(scope="module")
def client(rig: WebRig) -> Iterator[TestClient]:
    with _client(rig) as c:
        yield c


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, [name for name, _ in attrs]))


def _tags(html: str) -> list[tuple[str, list[str]]]:
    """Every element of a page, as a browser's parser reads it, with its attribute names."""
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _alert_id(client: TestClient, title_part: str) -> int:
    rows = client.get("/alerts.json").json()
    return int(next(r["id"] for r in rows if title_part in r["title"]))


# -- logins -------------------------------------------------------------------------


def test_every_page_needs_a_login(rig: WebRig) -> None:
    anonymous = _client(rig, login=False)
    for path in PAGES:
        r = anonymous.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=")
    for path in FEEDS:
        r = anonymous.get(path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"].startswith("Basic ")
        assert "National Internet Gateway" not in r.text


def test_feeds_accept_http_basic_with_the_same_account(rig: WebRig) -> None:
    anonymous = _client(rig, login=False)
    r = anonymous.get("/feed.atom", headers=_basic(USER, PASSWORD))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/atom+xml")
    assert anonymous.get("/feed.atom", headers=_basic(USER, "wrong password")).status_code == 401
    assert anonymous.get("/feed.atom", headers=_basic("mallory", PASSWORD)).status_code == 401


def test_login_sets_a_strict_http_only_session_and_logout_ends_it(rig: WebRig) -> None:
    c = _client(rig, login=False)
    r = c.post(
        "/login",
        data={"username": USER, "password": PASSWORD, "next": "/sources"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/sources"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert c.get("/sources").status_code == 200
    c.post("/logout", follow_redirects=False)
    assert c.get("/sources", follow_redirects=False).status_code == 303


def test_scripts_may_log_in_with_name_or_user_fields(rig: WebRig) -> None:
    for field in ("name", "user"):
        c = _client(rig, login=False)
        r = c.post("/login", data={field: USER, "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303, field
        assert c.get("/").status_code == 200


def test_a_wrong_password_is_refused_and_no_open_redirect(rig: WebRig) -> None:
    c = _client(rig, login=False)
    r = c.post("/login", data={"username": USER, "password": "nope", "next": "/"})
    assert r.status_code == 401
    assert "Wrong name or password" in r.text
    r = c.post(
        "/login",
        data={"username": USER, "password": PASSWORD, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_failed_logins_wait_longer_each_time() -> None:
    throttle = Throttle()
    delays = [throttle.failed("10.0.0.1", 100.0 + i) for i in range(6)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert throttle.failed("10.0.0.2", 110.0) == 1.0  # per address
    assert throttle.failed("10.0.0.1", 106.0 + FAILURE_WINDOW) == 1.0  # the window passed
    throttle.succeeded("10.0.0.2")
    assert throttle.failed("10.0.0.2", 200.0) == 1.0


def test_a_failed_login_over_http_is_slowed_down(rig: WebRig) -> None:
    app = create_app(lambda: rig.config, throttle=Throttle(base_delay=0.4, max_delay=1.0))
    c = TestClient(app)
    started = time.monotonic()
    c.post("/login", data={"username": USER, "password": "guess"})
    assert time.monotonic() - started >= 0.4


def test_parallel_guesses_wait_in_turn_and_never_lock_staff_out(rig: WebRig) -> None:
    app = create_app(lambda: rig.config, throttle=Throttle(base_delay=0.3, max_delay=0.3))

    async def attempts() -> tuple[float, float, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://web") as c:
            started = time.monotonic()
            guesses = [c.get("/feed.atom", auth=(USER, f"guess {n}")) for n in range(4)]
            answers = await asyncio.gather(*guesses)
            guessed = time.monotonic() - started
            assert all(a.status_code == 401 for a in answers)
            started = time.monotonic()
            right = await c.get("/feed.atom", auth=(USER, PASSWORD))
            return guessed, time.monotonic() - started, right.status_code

    guessed, right_took, status = asyncio.run(attempts())
    assert guessed >= 4 * 0.3  # in turn, not all at once
    assert status == 200 and right_took < 0.3 + 1.0  # the hash, not the queue


def test_user_add_stores_only_a_slow_hash(rig: WebRig, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert (
        user_add(rig.config, "bob", io.StringIO("a long enough secret\nignored\n"), out, err) == 0
    )
    assert "created" in out.getvalue()
    db = sqlite3.connect(Path(rig.config.settings.state_dir) / DB_NAME)
    (stored,) = db.execute("SELECT hash FROM web_users WHERE name = 'bob'").fetchone()
    assert stored.startswith("$argon2id$")
    assert "a long enough secret" not in stored
    assert check_password(stored, "a long enough secret")
    assert not check_password(stored, "ignored")
    # Again: a reset, not a second row.
    assert user_add(rig.config, "bob", io.StringIO("another long secret\n"), out, err) == 0
    assert "reset" in out.getvalue()
    assert db.execute("SELECT COUNT(*) FROM web_users WHERE name = 'bob'").fetchone()[0] == 1
    assert user_add(rig.config, "carol", io.StringIO("short\n"), out, err) == 1
    assert user_add(rig.config, "a:b", io.StringIO("long enough pass\n"), out, err) == 2


def test_user_add_from_the_command_line_reads_stdin(rig: WebRig) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "watcher", "-c", str(rig.config_path), "user", "add", "dave"],
        input="dave's password\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WEB_TEST_TOKEN": TOKEN},
    )
    assert result.returncode == 0, result.stderr
    reader = StateReader(Path(rig.config.settings.state_dir) / DB_NAME)
    assert check_password(reader.user_hash("dave"), "dave's password")


def _user_add_on_a_terminal(rig: WebRig, name: str, first: str, second: str) -> tuple[int, str]:
    """`watcher user add NAME` with a pseudo-terminal as its controlling terminal, typing
    `first` and `second` at its two prompts; (exit status, what it wrote)."""
    master, slave = pty.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [sys.executable, "-m", "watcher", "-c", str(rig.config_path), "user", "add", name],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        preexec_fn=controlling_terminal,  # the child only calls os functions before exec
    )
    os.close(slave)
    seen = b""

    def until(token: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while token not in seen and time.monotonic() < deadline:
            try:
                seen += os.read(master, 1024)
            except OSError:
                break

    try:
        until(b"Password: ")
        os.write(master, first.encode() + b"\n")
        until(b"Again: ")
        os.write(master, second.encode() + b"\n")
        code = proc.wait(30)
        until(b"\n" + name.encode())  # whatever it printed last
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, seen.decode(errors="replace")


def test_user_add_on_a_terminal_asks_twice(rig: WebRig) -> None:
    code, shown = _user_add_on_a_terminal(rig, "erin", "erin's password", "erin's password")
    assert code == 0, shown
    assert "Password: " in shown and "Again: " in shown
    assert "erin's password" not in shown  # not echoed
    reader = StateReader(Path(rig.config.settings.state_dir) / DB_NAME)
    assert check_password(reader.user_hash("erin"), "erin's password")
    code, shown = _user_add_on_a_terminal(rig, "frank", "one password", "another password")
    assert code == 1 and "differ" in shown
    assert reader.user_hash("frank") is None


# -- hostile text -------------------------------------------------------------------


def test_every_answer_has_a_strict_csp_without_inline_script(client: TestClient) -> None:
    for path in (*PAGES, *FEEDS, "/login", "/static/style.css"):
        r = client.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert "script-src" not in csp  # none allowed: default-src 'none' covers it
        assert r.headers["x-content-type-options"] == "nosniff"
    assert CSP.count("'self'") >= 2


def test_hostile_titles_are_escaped_and_no_page_carries_script_or_inline_style(
    client: TestClient,
) -> None:
    hostile = _alert_id(client, "pwned")
    pages = [*PAGES, f"/alerts/{hostile}", "/search?q=assemblies", "/login"]
    for path in pages:
        tags = _tags(client.get(path).text)
        names = {name for name, _ in tags}
        assert not names & {"script", "style", "img", "svg", "iframe", "object"}, path
        for name, attrs in tags:
            assert not [a for a in attrs if a.startswith("on") or a == "style"], (path, name)
    page = client.get(f"/alerts/{hostile}").text
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in page


def test_javascript_links_are_never_links(client: TestClient) -> None:
    # Search shows each item's own link as the feed wrote it.
    html = client.get("/search?q=assemblies").text
    assert "javascript:alert(document.cookie)" in html  # shown, as text
    for href in re.findall(r'href="([^"]*)"', html):
        assert not href.lower().lstrip().startswith(("javascript:", "data:", "vbscript:"))
    for url in (
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,x",
        "java\nscript:x",
    ):
        assert http_link(url) is None
    assert http_link("https://example.org/a?b=1") == "https://example.org/a?b=1"


def test_no_secret_from_the_config_on_any_page_feed_or_download(client: TestClient) -> None:
    outbox = client.get("/outbox").text
    assert "staff-hook" in outbox and "pending" in outbox.lower()
    gateway = _alert_id(client, "National Internet Gateway")  # its evidence is that feed
    for path in (*PAGES, *FEEDS, "/search?q=person:%22Chhim%20Sithar%22", f"/alerts/{gateway}"):
        text = client.get(path).text
        assert TOKEN not in text, path
        assert "feedkey-5e2a91" not in text, path
    assert "/english.xml" in client.get(f"/alerts/{gateway}").text


# -- pages --------------------------------------------------------------------------


def test_alerts_newest_first_with_every_filter(client: TestClient) -> None:
    rows = client.get("/alerts.json").json()
    assert len(rows) == 5
    created = [r["created"] for r in rows]
    assert created == sorted(created, reverse=True)
    assert {r["source"] for r in rows} == {"Civic News", "Khmer News", "Hostile Wire"}

    def titles(query: str) -> set[str]:
        return {r["title"] for r in client.get(f"/alerts.json?{query}").json()}

    urgent = titles("severity=urgent")
    assert urgent and all("Sithar" in t or "ស៊ីថា" in t for t in urgent)
    assert titles("severity=high") == titles("watchlist=Sub-decrees")
    assert titles("source=Khmer%20News") == {next(iter(titles("source=Khmer%20News")))}
    assert len(titles("watchlist=Arrests%20of%20named%20defenders")) == 2
    assert titles("kind=possible") == set()
    assert len(titles("kind=certain")) == 5
    assert titles("since=2000-01-01&until=2000-01-02") == set()
    assert len(titles("since=2000-01-01")) == 5
    page = client.get("/?severity=urgent").text
    assert "Chhim Sithar" in page and "National Internet Gateway" not in page
    assert client.get("/alerts.json?since=yesterday").status_code == 400
    assert "not a date" in client.get("/?since=yesterday").text


def test_one_alert_shows_its_evidence_and_explain(rig: WebRig, client: TestClient) -> None:
    alert_id = _alert_id(client, "National Internet Gateway")
    html = client.get(f"/alerts/{alert_id}").text
    row = next(r for r in client.get("/alerts.json").json() if r["id"] == alert_id)
    state = Path(rig.config.settings.state_dir)
    document = (state / row["evidence_path"]).read_bytes()
    assert hashlib.sha256(document).hexdigest() == row["evidence_sha256"]
    assert row["evidence_sha256"] in html and row["evidence_text_sha256"] in html
    assert "Sub-decrees</strong>: match" in html  # the explain reasons
    assert "Fetched" in html
    r = client.get(f"/alerts/{alert_id}/document")
    assert r.content == document
    assert r.headers["content-disposition"].startswith("attachment")
    assert client.get("/alerts/9999").status_code == 404


def test_sources_page_is_the_status_table(client: TestClient) -> None:
    html = client.get("/sources").text
    for name in ("Civic News", "Khmer News", "Hostile Wire", "Broken"):
        assert name in html
    assert "HTTP 404" in html  # the broken source's last error


def test_outbox_page_shows_pending_and_why(client: TestClient) -> None:
    html = client.get("/outbox").text
    assert "Pending 5" in html
    assert "Connection error" in html or "connection" in html.lower()


# -- feeds and downloads ------------------------------------------------------------


def test_atom_feed_for_all_and_per_watchlist(client: TestClient) -> None:
    # Feed readers find every feed from the alerts page (RSS autodiscovery).
    alternates = re.findall(
        r'<link rel="alternate" type="application/atom\+xml"[^>]*>', client.get("/").text
    )
    assert any('href="/feed.atom?watchlist=Sub-decrees"' in a for a in alternates)
    assert any('href="/feed.atom"' in a for a in alternates)
    root = ET.fromstring(client.get("/feed.atom").content)
    assert root.tag == f"{ATOM}feed"
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 5
    titles = [e.findtext(f"{ATOM}title") or "" for e in entries]
    assert any("pwned" in t for t in titles)  # hostile text is escaped XML text
    one = ET.fromstring(client.get("/feed.atom?watchlist=Sub-decrees").content)
    assert all(
        c.get("term") == "Sub-decrees"
        for e in one.findall(f"{ATOM}entry")
        for c in e.findall(f"{ATOM}category")
    )
    assert len(one.findall(f"{ATOM}entry")) == 3
    for entry in entries:
        for link in entry.findall(f"{ATOM}link"):
            assert link.get("href", "").startswith(("http://", "https://"))


def test_csv_and_json_downloads_of_the_filtered_view(client: TestClient) -> None:
    r = client.get("/alerts.csv?watchlist=Sub-decrees")
    assert r.headers["content-disposition"] == 'attachment; filename="Sub-decrees.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert tuple(rows[0].keys()) == EXPORT_FIELDS
    assert len(rows) == 3 and all("Sub-decrees" in row["watchlists"] for row in rows)
    assert not any(v.startswith(("=", "+", "@")) for row in rows for v in row.values())
    assert _cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert _cell("-1") == "'-1" and _cell(3) == 3 and _cell("Sub-decree") == "Sub-decree"
    data = json.loads(client.get("/alerts.json?source=Khmer%20News").text)
    assert [d["source"] for d in data] == ["Khmer News"]


# -- search -------------------------------------------------------------------------


def test_parse_query_reads_the_watchlist_syntax(rig: WebRig) -> None:
    wl = parse_query('sub-decree "working group" @decree +ministr* -sport', rig.config)
    assert wl.any == ("sub-decree", "working group", "@decree")
    assert wl.all == (("ministr*",),) and wl.none == ("sport",)
    listed = parse_query("person:ឈឹម\\ ស៊ីថា near:@arrest within:10", rig.config)
    assert listed.people[0].name == "Chhim Sithar"  # a listed person brings the aliases
    assert listed.near == ("@arrest",) and listed.within == 10
    new = parse_query('person:"Sok Dara|សុខ ដារ៉ា"', rig.config)
    assert new.people[0].aliases == ("សុខ ដារ៉ា",)
    assert parse_query('watchlist:"Sub-decrees"', rig.config).name == "Sub-decrees"
    for bad in ('"open', "", "-only", "@nosuchset", "watchlist:Nope", "near:x term", "within:0 x"):
        with pytest.raises(QueryError):
            parse_query(bad, rig.config)


def test_search_finds_khmer_english_and_people_with_the_polls_matcher(
    rig: WebRig, client: TestClient
) -> None:
    html = client.get(
        "/search?q=%E1%9E%85%E1%9E%B6%E1%9E%94%E1%9F%8B%E1%9E%81%E1%9F%92%E1%9E%9B%E1%9E%BD%E1%9E%93"
    ).text
    assert "ប៉ូលិសចាប់ខ្លួន ឈឹម ស៊ីថា" in html  # ចាប់ខ្លួន, "arrest"
    html = client.get('/search?q=person:"Chhim Sithar" near:@arrest').text
    assert "Police arrest union leader Chhim Sithar" in html
    assert "ប៉ូលិសចាប់ខ្លួន" in html  # the Khmer alias, from the people list
    # Retro-match: a watchlist finds what it alerted on, and items that never alerted.
    html = client.get('/search?q=watchlist:"Sub-decrees"').text
    assert "National Internet Gateway" in html
    assert "unknown term set" in client.get("/search?q=@nosuch").text


def test_the_index_only_narrows_what_the_matcher_reads(rig: WebRig, tmp_path: Path) -> None:
    from watcher.store.search_index import SearchIndex

    reader = StateReader(Path(rig.config.settings.state_dir) / DB_NAME)
    index = SearchIndex(tmp_path / "index.sqlite3")
    for text in ("sub-decree", "ចាប់ខ្លួន", "@arrest", 'person:"Chhim Sithar"', "arrested"):
        query = parse_query(text, rig.config)
        scanned = search(reader, query)
        indexed = search(reader, query, index)
        assert [h.item.id for h in indexed.hits] == [h.item.id for h in scanned.hits], text
        assert indexed.total == scanned.total > 0, text
        assert indexed.indexed and indexed.read <= scanned.read
    # A watchlist of many people (more needles than phrase queries take) finds the same.
    many = Watchlist(
        name="many",
        people=(
            *(Person(f"Person{n} Family{n}") for n in range(60)),
            Person("Chhim Sithar", ("ឈឹម ស៊ីថា",)),
        ),
        near=("@arrest",),
    )
    needles = Matcher([many], searching=True).needles()
    assert needles is not None and len(needles) > 64
    assert "arrest" not in needles  # near terms alone never make a match
    scanned, indexed = search(reader, many), search(reader, many, index)
    assert [h.item.id for h in indexed.hits] == [h.item.id for h in scanned.hits]
    assert scanned.total == 2
    assert Matcher([replace(many, fuzzy=True)], searching=True).needles() is None  # fuzzy
    assert Matcher([many]).needles() is None  # the poll's matchers keep no strings
    first = search(reader, parse_query("sub-decree", rig.config), index, limit=1, count_all=False)
    assert len(first.hits) == 1 and not first.complete
    with pytest.raises(sqlite3.OperationalError):
        reader.db.execute("DELETE FROM items")  # the pages' connection cannot write


def test_the_index_follows_new_edited_and_pruned_items(
    rig: WebRig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import watcher.store.search_index as search_index

    state = tmp_path / DB_NAME
    shutil.copy(Path(rig.config.settings.state_dir) / DB_NAME, state)
    reader = StateReader(state)
    index = search_index.SearchIndex(tmp_path / "index.sqlite3")
    monkeypatch.setattr(search_index, "BATCH", 2)
    stop = threading.Event()
    stop.set()
    assert index.refresh(reader, full=True, stop=stop) == 0  # stopped before a batch
    assert index.refresh(reader, full=True) == 9  # in batches of 2
    assert index.size() == 9

    def found(text: str) -> list[int]:
        return [h.item.id for h in search(reader, parse_query(text, rig.config), index).hits]

    writer = sqlite3.connect(state)  # what the poll and prune would do to the state
    (gone_id,) = found("Gateway")
    writer.execute("UPDATE items SET text = NULL WHERE id = ?", (gone_id,))  # pruned
    (some_id,) = writer.execute(
        "SELECT id FROM items WHERE text IS NOT NULL AND id != ? LIMIT 1", (gone_id,)
    ).fetchone()
    writer.execute(
        "UPDATE items SET text = text || ' zanzibarquux', content_hash = 'x' WHERE id = ?",
        (some_id,),
    )
    writer.commit()
    assert found("zanzibarquux") == []  # not seen until the next full check
    index.refresh(reader, full=True)
    assert found("zanzibarquux") == [some_id]
    assert found("Gateway") == [] and index.size() == 8


def test_the_server_builds_the_index_when_it_starts(rig: WebRig, tmp_path: Path) -> None:
    from watcher.store.search_index import INDEX_NAME, SearchIndex

    shutil.copy(Path(rig.config.settings.state_dir) / DB_NAME, tmp_path / DB_NAME)
    config = replace(rig.config, settings=replace(rig.config.settings, state_dir=str(tmp_path)))
    with TestClient(create_app(lambda: config)) as c:  # runs the startup
        warmer = c.app.state.web.warmer  # type: ignore[attr-defined]
        warmer.thread.join(30)
        assert not warmer.thread.is_alive()
    index = SearchIndex(tmp_path / INDEX_NAME)
    assert index.size() == 9


def test_watcher_search_prints_the_same_from_the_shell(
    rig: WebRig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rig.run("search", "person:Chhim Sithar", "near:@arrest") == 0
    out = capsys.readouterr().out
    assert "Police arrest union leader Chhim Sithar" in out
    assert "items (last 90 days) match" in out
    assert rig.run("search", "@nosuch") == 2
    capsys.readouterr()
    empty = rig.config_path.parent / "empty.toml"
    empty.write_text(
        rig.config_path.read_text(encoding="utf-8").replace('"state"', '"no-state-here"'),
        encoding="utf-8",
    )
    assert main(["-c", str(empty), "search", "sub-decree"]) == 0
    assert "No state yet" in capsys.readouterr().out
    assert not (rig.config_path.parent / "no-state-here").exists()  # a search creates nothing


# -- config and serving -------------------------------------------------------------


def test_web_table_is_validated_like_the_others(tmp_path: Path, rig: WebRig) -> None:
    text = rig.config_path.read_text(encoding="utf-8")
    bad = tmp_path / "watcher.toml"
    (tmp_path / "people.csv").write_text("name\nX Y\n", encoding="utf-8")
    bad.write_text(text.replace('listen = "127.0.0.1:8080"', 'listen = "nowhere"\nport = 1'))
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["-c", str(bad), "check"]) == 2
    lines = err.getvalue().splitlines()
    n = text.splitlines().index('listen = "127.0.0.1:8080"') + 1
    assert any(line.startswith(f"{bad}:{n}: web.listen: must be") for line in lines), lines
    assert any(f"{bad}:{n + 1}: web.port: unknown key" in line for line in lines), lines
    assert rig.config.web is not None and rig.config.web.listen == "127.0.0.1:8080"


def test_watcher_web_serves_until_sigterm_and_exits_0(rig: WebRig) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "watcher", "-c", str(rig.config_path), "web", "--listen",
         f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        answer = _wait_for(f"http://127.0.0.1:{port}/login")
        assert answer.status_code == 200
        assert "default-src 'none'" in answer.headers["content-security-policy"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def _wait_for(url: str, **kwargs: object) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, timeout=5, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_watcher_run_serves_the_pages_and_still_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    rig = make_state(tmp_path, listen=f"127.0.0.1:{port}")
    log = (tmp_path / "run.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "watcher", "-c", str(rig.config_path), "run"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))},
    )
    try:
        answer = _wait_for(f"http://127.0.0.1:{port}/feed.atom", auth=(USER, PASSWORD))
        assert answer.status_code == 200
        assert b"National Internet Gateway" in answer.content
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
