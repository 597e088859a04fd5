"""Source parsers on fixture files: html list pages, sitemaps, lenient dates (SPEC §4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from watcher.models import FetchResult, Source
from watcher.sources import KINDS, SourceError, parse_document, parse_items
from watcher.sources.base import parse_date

DATA = Path(__file__).parent / "data" / "sources"
PP = timezone(timedelta(hours=7))  # Asia/Phnom_Penh, no daylight saving


def _result(name: str, url: str, content_type: str = "text/html") -> FetchResult:
    return FetchResult(url, 200, body=(DATA / name).read_bytes(), content_type=content_type)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ថ្ងៃទី២៥ ខែវិច្ឆិកា ឆ្នាំ២០២៦", datetime(2026, 11, 25, tzinfo=PP)),
        ("២៥ មករា ២០២៦", datetime(2026, 1, 25, tzinfo=PP)),
        ("០៣ កុម្ភៈ ២០២៦ ម៉ោង ៣:០៥ រសៀល", datetime(2026, 2, 3, 15, 5, tzinfo=PP)),
        ("១ មីនា ២០២៦", datetime(2026, 3, 1, tzinfo=PP)),
        ("២ មេសា ២០២៦", datetime(2026, 4, 2, tzinfo=PP)),
        ("៣ ឧសភា ២០២៦", datetime(2026, 5, 3, tzinfo=PP)),
        ("៤ មិថុនា ២០២៦", datetime(2026, 6, 4, tzinfo=PP)),
        ("៥ កក្កដា ២០២៦", datetime(2026, 7, 5, tzinfo=PP)),
        ("៦ សីហា ២០២៦", datetime(2026, 8, 6, tzinfo=PP)),
        ("៧ កញ្ញា ២០២៦", datetime(2026, 9, 7, tzinfo=PP)),
        ("៨ តុលា ២០២៦", datetime(2026, 10, 8, tzinfo=PP)),
        ("៣១ ធ្នូ ២០២៦", datetime(2026, 12, 31, tzinfo=PP)),
        ("25 November 2026", datetime(2026, 11, 25, tzinfo=PP)),
        ("November 25, 2026, 3:05 pm", datetime(2026, 11, 25, 15, 5, tzinfo=PP)),
        ("Nov. 3, 2026", datetime(2026, 11, 3, tzinfo=PP)),
        ("25/11/2026", datetime(2026, 11, 25, tzinfo=PP)),
        ("2026-11-25", datetime(2026, 11, 25, tzinfo=PP)),
        ("2026-11-25T10:00:00Z", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("Wed, 25 Nov 2026 10:00:00 GMT", datetime(2026, 11, 25, 10, tzinfo=UTC)),
        ("Tuesday, 25 Nov 2026 10:30 ICT", datetime(2026, 11, 25, 10, 30, tzinfo=PP)),
    ],
)
def test_dates_are_read_leniently_in_the_configured_timezone(text: str, expected: datetime) -> None:
    assert parse_date(text, "Asia/Phnom_Penh") == expected


def test_a_bare_date_is_local_midnight_not_utc() -> None:
    # 25 November in Phnom Penh began at 17:00 UTC on the 24th.
    when = parse_date("25 November 2026", "Asia/Phnom_Penh")
    assert when is not None and when.astimezone(UTC) == datetime(2026, 11, 24, 17, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "garbage", "12 ago", "ខែវិច្ឆិកា", "31 February 2026"])
def test_unreadable_dates_are_none(text: str) -> None:
    assert parse_date(text, "Asia/Phnom_Penh") is None


def test_html_list_page_with_khmer_dates() -> None:
    source = Source(
        name="Ministry",
        url="https://ministry.example/km/announcements",
        kind="html",
        item="ul.news li",
        title="a",
        link="a",
        date="span.date",
        summary="p.summary",
    )
    items = parse_items(source, _result("ministry.html", source.url), "Asia/Phnom_Penh")
    assert [i.link for i in items] == [
        "https://ministry.example/km/announcement/1201",
        "https://ministry.example/km/announcement/1200",
        "https://ministry.example/en/announcement/1199",
        "https://ministry.example/en/announcement/1198",
    ]
    # The page declares windows-1252 but is UTF-8: Khmer must survive.
    assert items[0].title == "អនុក្រឹត្យស្តីពីការគ្រប់គ្រងប្រព័ន្ធផ្សព្វផ្សាយតាមអនឡាញ"
    assert items[0].summary == "ការបង្កើតក្រុមការងារអន្តរក្រសួង"
    # The lunar date comes first; the solar date after ត្រូវនឹង is the one read.
    assert items[0].published == datetime(2026, 11, 25, tzinfo=PP)
    assert items[1].published == datetime(2026, 2, 3, 15, 5, tzinfo=PP)
    assert items[2].published == datetime(2026, 11, 20, 9, 30, tzinfo=PP)  # <time datetime>
    assert items[3].published == datetime(2026, 11, 3, tzinfo=PP)


def test_html_selector_that_matches_nothing_is_a_readable_error() -> None:
    source = Source(name="M", url="https://m.example/", kind="html", item="div.nothing")
    with pytest.raises(SourceError, match=r"^no entries match the selector 'div.nothing'$"):
        parse_items(source, _result("ministry.html", source.url))


def test_sitemap_is_a_registered_kind() -> None:
    assert set(KINDS) == {"feed", "html", "sitemap"}
    assert KINDS["sitemap"].expands and not KINDS["feed"].expands


def test_docs_list_every_kind_and_its_keys() -> None:
    # docs/sources.md is where staff look for what a kind takes: the registry and it agree.
    docs = (Path(__file__).parent.parent / "docs" / "sources.md").read_text(encoding="utf-8")
    for kind in KINDS.values():
        assert f'`kind = "{kind.name}"`' in docs
        for key in kind.keys:
            assert f"| `{key.name}` | {kind.name} |" in docs


def test_news_sitemap() -> None:
    source = Source(name="News", url="https://news.example/news-sitemap.xml", kind="sitemap")
    items = parse_items(
        source, _result("news_sitemap.xml", source.url, "application/xml"), "Asia/Phnom_Penh"
    )
    assert [(i.title, i.link, i.published) for i in items] == [
        (
            "Government issues sub-decree on online media",
            "https://news.example/2026/11/25/sub-decree-online-media/",
            datetime(2026, 11, 25, 8, 15, tzinfo=PP),
        ),
        (
            "រាជរដ្ឋាភិបាលចេញអនុក្រឹត្យថ្មី",
            "https://news.example/km/2026/11/25/anukret/",
            datetime(2026, 11, 25, tzinfo=PP),  # a bare date: local midnight
        ),
    ]


def test_plain_sitemap_titles_come_from_the_link() -> None:
    source = Source(name="News", url="https://news.example/sitemap.xml", kind="sitemap")
    items = parse_items(
        source, _result("plain_sitemap.xml", source.url, "application/xml"), "Asia/Phnom_Penh"
    )
    assert [i.title for i in items] == ["ministry bans gatherings of unions", "អនុក្រឹត្យ ថ្មី", ""]
    assert items[0].updated == datetime(2026, 11, 24, 10, tzinfo=PP)
    assert items[1].updated == datetime(2026, 11, 23, tzinfo=PP)
    assert items[2].updated is None


def test_sitemap_index_lists_the_newest_children_first() -> None:
    source = Source(name="News", url="https://news.example/sitemap_index.xml", kind="sitemap")
    parsed = parse_document(source, _result("sitemap_index.xml", source.url, "application/xml"))
    assert parsed.children == (
        "https://news.example/post-sitemap3.xml",
        "https://news.example/post-sitemap2.xml",
    )
    assert parsed.items == []
    # Read as a plain list of items, an index is an error that says what it is.
    with pytest.raises(SourceError, match="an index of 2 documents"):
        parse_items(source, _result("sitemap_index.xml", source.url, "application/xml"))


def test_a_gzipped_sitemap_file_is_read() -> None:
    import gzip

    body = gzip.compress((DATA / "news_sitemap.xml").read_bytes())
    source = Source(name="News", url="https://news.example/sitemap.xml.gz", kind="sitemap")
    items = parse_items(source, FetchResult(source.url, 200, body=body))
    assert len(items) == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty response"),
        (b"<html><body>hello</body></html>", "not a sitemap: got an HTML page"),
        (b"<rss version='2.0'></rss>", "not a sitemap: the document is <rss>"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<urlset><url><loc>&e;</loc></url></urlset>",
            "not a sitemap: it declares a DTD (refused: entity expansion)",
        ),
    ],
)
def test_bad_sitemaps_are_readable_errors(body: bytes, reason: str) -> None:
    source = Source(name="S", url="https://s.example/sitemap.xml", kind="sitemap")
    with pytest.raises(SourceError) as caught:
        parse_items(source, FetchResult(source.url, 200, body=body))
    assert str(caught.value) == reason


def test_a_sitemap_index_is_followed_to_its_newest_children_in_a_real_poll(
    tmp_path: Path,
) -> None:
    """The index names child sitemaps; the poll reads the newest two, not the old one."""
    from datetime import UTC, datetime, timedelta

    from watcher.cli import main

    from standins import FeedServer

    today = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    old = (datetime.now(UTC) - timedelta(days=400)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    mid = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S+00:00")

    def urlset(slug: str, title: str) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
            f"<url><loc>https://news.example/{slug}</loc><news:news>"
            f"<news:publication_date>{today}</news:publication_date>"
            f"<news:title>{title}</news:title></news:news></url></urlset>"
        )

    with FeedServer() as site:
        site.put(
            "/sitemap_index.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<sitemap><loc>{site.url_for('/old.xml')}</loc><lastmod>{old}</lastmod></sitemap>"
            f"<sitemap><loc>{site.url_for('/new.xml')}</loc><lastmod>{today}</lastmod></sitemap>"
            f"<sitemap><loc>{site.url_for('/mid.xml')}</loc><lastmod>{mid}</lastmod></sitemap>"
            "</sitemapindex>",
            content_type="application/xml",
        )
        site.put("/new.xml", urlset("a", "Government issues sub-decree on NGOs"), "application/xml")
        site.put("/old.xml", urlset("b", "Old sub-decree on fisheries"), "application/xml")
        site.put("/mid.xml", urlset("c", "A report on rice exports"), "application/xml")
        config = tmp_path / "watcher.toml"
        config.write_text(
            f"""
[settings]
state_dir = "state"
[[sources]]
name = "Sitemap"
url = "{site.url_for("/sitemap_index.xml")}"
kind = "sitemap"
allow_private = true
[[watchlists]]
name = "Sub-decrees"
any = ["sub-decree"]
""",
            encoding="utf-8",
        )
        assert main(["-c", str(config), "once"]) == 0
        fetched = {r.path for r in site.requests}
    assert {"/new.xml", "/mid.xml"} <= fetched
    assert "/old.xml" not in fetched  # only the two newest children are read
    from watcher.store.sqlite import Store

    store = Store(tmp_path / "state" / "watcher.sqlite3")
    try:
        titles = [s.alert.title for s in store.alerts_since(None)]
    finally:
        store.close()
    assert "Government issues sub-decree on NGOs" in titles


def test_a_malformed_link_loses_one_entry_its_link_not_the_whole_source() -> None:
    # Review: one href or <loc> that urljoin cannot read (ValueError: Invalid IPv6 URL)
    # failed the whole source as "could not parse: ValueError", missing every entry on it.
    page = Source("Ministry", "https://ministry.example/news", kind="html", item="ul.news li",
                  title="a", link="a")  # fmt: skip
    items = parse_items(page, _result("broken_href.html", page.url))
    assert [(i.title, i.link) for i in items] == [
        ("Prakas No. 7 on associations", None),
        ("Sub-decree No. 41 on NGOs", "https://ministry.example/announcements/sub-decree-41"),
    ]
    sitemap = Source("News", "https://news.example/sitemap.xml", kind="sitemap")
    items = parse_items(sitemap, _result("broken_loc_sitemap.xml", sitemap.url, "text/xml"))
    assert [i.link for i in items] == ["https://news.example/2026/11/ministry-bans-gatherings/"]
