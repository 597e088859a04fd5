"""Fulltext pages, PDFs in legacy Limon fonts, evidence files and their export (SPEC §5, §10)."""

from __future__ import annotations

import csv
import email.utils
import hashlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.cli import main
from watcher.fetch.fulltext import is_pdf, pdf_text, read_page
from watcher.text.khmer import normalise_khmer
from watcher.text.limon import limon_decode, limon_encode, limon_variants

from pdfgen import minimal_pdf
from standins import FeedServer

DATA = Path(__file__).parent / "data" / "sources"
SUB_DECREE = "អនុក្រឹត្យ"


# -- Limon --------------------------------------------------------------------------


def test_limon_encoding_matches_the_published_example() -> None:
    # The example of the `kfc` converter's documentation, typed in a Limon font.
    assert limon_encode("ថ្ងៃខែឆ្នាំកំណើត") == "éf¶ExqñaMkMeNIt"
    assert limon_decode("éf¶ExqñaMkMeNIt") == "ថ្ងៃខែឆ្នាំកំណើត"


@pytest.mark.parametrize(
    ("term", "limon"),
    [
        (SUB_DECREE, "GnuRkwtü"),  # pre-base ្រ before its consonant
        ("ប្រកាស", "Rbkas"),
        ("ចាប់ខ្លួន", "cab;xøYn"),
        ("ឃុំខ្លួន", "XuMxøYn"),
        ("ព្រះរាជក្រឹត្យ", "RBHraCRkwtü"),
        ("ក្រុមការងារ", "Rkumkargar"),
        ("ស្ត្រី", "RsþI"),  # two subscripts, ro drawn first
        ("កើត", "ekIt"),  # split vowel: left part before the consonant
        ("សង្គមស៊ីវិល", "sgÁmsuIvil"),  # ៊ over an upper vowel is drawn as ុ
    ],
)
def test_limon_round_trip(term: str, limon: str) -> None:
    assert limon_encode(term) == limon
    assert limon_decode(limon) == normalise_khmer(term)
    assert limon in limon_variants(term)


def test_limon_variants_of_latin_terms_are_empty() -> None:
    assert limon_variants("sub-decree") == []


def test_a_term_inside_unspaced_limon_text_is_decoded() -> None:
    # "Sub-decree no. 123 on the creation of a working group": no space after the term.
    text = limon_encode("អនុក្រឹត្យលេខ ១២៣ ស្តីពីការបង្កើតក្រុមការងារ")
    assert text.startswith("GnuRkwtüelx 123 ")
    assert SUB_DECREE in limon_decode(text)


# -- PDF and HTML ---------------------------------------------------------------------


def limon_pdf() -> bytes:
    """A sub-decree as a legacy PDF: Khmer typeset in the Limon S1 font."""
    lines = [" រាជរដ្ឋាភិបាលកម្ពុជា", "អនុក្រឹត្យលេខ ១២៣ ស្តីពីការបង្កើតក្រុមការងារ"]
    return minimal_pdf([limon_encode(line) for line in lines], font="LimonS1")


def test_limon_pdf_text_is_decoded() -> None:
    text, legacy = pdf_text(limon_pdf())
    assert legacy
    assert "GnuRkwtü" in text  # the gibberish is kept, as extracted
    assert SUB_DECREE in text  # and the decoded Khmer is added


def test_unicode_pdf_is_read_without_decoding() -> None:
    text, legacy = pdf_text(minimal_pdf(["Sub-decree No. 12 on associations"]))
    assert (text, legacy) == ("Sub-decree No. 12 on associations", False)


def test_pdf_is_recognised_by_signature_whatever_its_type() -> None:
    assert is_pdf("application/octet-stream", limon_pdf())
    assert is_pdf("application/pdf; charset=binary", b"")
    assert not is_pdf("text/html", b"<html>")


def test_html_main_text_drops_the_boilerplate() -> None:
    page = read_page(
        "https://civic.example/a",
        None,
        (DATA / "article.html").read_bytes(),
        "text/html; charset=utf-8",
        None,
    )
    assert page.kind == "html"
    assert "inter-ministerial working group" in page.text
    assert "Subscribe to our newsletter" not in page.text


def test_a_broken_pdf_gives_no_text_rather_than_an_error() -> None:
    assert pdf_text(b"%PDF-1.4\nnot really") == ("", False)


# -- pipeline, evidence, export -------------------------------------------------------


@pytest.fixture
def site() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.put("/feed.xml", _feed(server))
        server.put("/article.html", (DATA / "article.html").read_bytes())
        # Gazettes serve PDFs under extension-less names as octet-stream.
        server.put("/files/document-123", limon_pdf(), "application/octet-stream")
        server.put("/weather.html", "<html><body><p>Sunny all week.</p></body></html>")
        yield server


def _config(tmp_path: Path, site: FeedServer) -> Path:
    text = (DATA / "fulltext.toml").read_text("utf-8")
    path = tmp_path / "watcher.toml"
    path.write_text(text.replace("{{FEED}}", site.url_for("/feed.xml")), "utf-8")
    return path


def test_fulltext_pages_and_pdfs_alert_and_keep_evidence(
    tmp_path: Path, site: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, site)
    assert main(["-c", str(config), "once"]) == 0
    capsys.readouterr()
    assert main(["-c", str(config), "export", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_title = {r["title"]: r for r in rows}
    assert set(by_title) == {"Cabinet meeting ends", "New regulation published"}
    assert by_title["Cabinet meeting ends"]["watchlists"] == ["Working groups"]
    assert by_title["New regulation published"]["watchlists"] == ["Sub-decrees (Khmer)"]

    state = tmp_path / "state"
    html_row = by_title["Cabinet meeting ends"]
    page = state / html_row["evidence_path"]
    assert page.suffix == ".html"
    assert page.read_bytes() == (DATA / "article.html").read_bytes()
    assert hashlib.sha256(page.read_bytes()).hexdigest() == html_row["evidence_sha256"]
    text = (state / html_row["evidence_text_path"]).read_text("utf-8")
    assert "inter-ministerial working group" in text
    sidecar = json.loads(page.with_suffix(".json").read_text("utf-8"))
    fetch = sidecar["fetches"][0]
    assert fetch["url"] == site.url_for("/article.html")
    assert fetch["kind"] == "page"
    assert datetime.fromisoformat(fetch["fetched_at"]) > datetime.now(UTC) - timedelta(minutes=5)

    pdf_row = by_title["New regulation published"]
    pdf = state / pdf_row["evidence_path"]
    assert pdf.suffix == ".pdf" and pdf.read_bytes() == limon_pdf()
    assert SUB_DECREE in (state / pdf_row["evidence_text_path"]).read_text("utf-8")

    # The weather page was fetched (a new item) but did not alert: no evidence kept for it.
    assert "/weather.html" in [r.path for r in site.requests]
    assert len([p for p in state.rglob("*") if p.suffix in (".html", ".pdf")]) == 2


def _feed(site: FeedServer, *, keep: tuple[str, ...] = ("ft-1", "ft-2", "ft-3")) -> str:
    """The fulltext fixture feed for `site`, dated now, with only the items in `keep`."""
    now = datetime.now(UTC)
    text = (DATA / "fulltext.xml").read_text("utf-8").replace("{{HOST}}", site.url)
    for hours in (2, 3, 4):
        stamp = email.utils.format_datetime(now - timedelta(hours=hours), usegmt=True)
        text = text.replace(f"{{{{DATE-{hours}h}}}}", stamp)
    head, _, rest = text.partition("<item>")
    items = ["<item>" + part.split("</item>")[0] + "</item>\n" for part in rest.split("<item>")]
    kept = [i for i in items if any(f">{guid}<" in i for guid in keep)]
    return head + "".join(kept) + "</channel>\n</rss>\n"


def test_a_second_poll_fetches_no_page_again(tmp_path: Path, site: FeedServer) -> None:
    config = _config(tmp_path, site)
    assert main(["-c", str(config), "once"]) == 0
    site.put("/feed.xml", _feed(site).replace("Sunny.", "Sunny, then rain."))
    assert main(["-c", str(config), "once"]) == 0
    assert [r.path for r in site.requests].count("/feed.xml") == 2  # polled twice
    fetched = [r.path for r in site.requests if r.path == "/article.html"]
    assert fetched == ["/article.html"]  # but only new items have their page fetched


def test_export_csv_has_evidence_columns(
    tmp_path: Path, site: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, site)
    assert main(["-c", str(config), "once"]) == 0
    capsys.readouterr()
    assert main(["-c", str(config), "export"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 2
    for row in rows:
        assert row["evidence_path"].startswith("evidence/")
        assert len(row["evidence_sha256"]) == 64
        kept = tmp_path / "state" / row["evidence_path"]
        assert hashlib.sha256(kept.read_bytes()).hexdigest() == row["evidence_sha256"]


def test_feed_only_alerts_keep_the_feed_as_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FeedServer() as server:
        now = email.utils.format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
        feed = (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            "<item><title>Cabinet sets up a working group</title><guid>w-1</guid>"
            f"<link>https://news.example/wg</link><pubDate>{now}</pubDate></item>"
            "</channel></rss>"
        )
        server.put("/feed.xml", feed)
        text = (
            (DATA / "fulltext.toml")
            .read_text("utf-8")
            .replace("{{FEED}}", server.url_for("/feed.xml"))
        )
        config = tmp_path / "watcher.toml"
        config.write_text(text.replace("fulltext = true", "fulltext = false"), "utf-8")
        assert main(["-c", str(config), "once"]) == 0
    capsys.readouterr()
    assert main(["-c", str(config), "export", "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    kept = tmp_path / "state" / row["evidence_path"]
    assert kept.suffix == ".xml" and kept.read_text("utf-8") == feed
    entry = (tmp_path / "state" / row["evidence_text_path"]).read_text("utf-8")
    assert entry == "Cabinet sets up a working group"
    sidecar = json.loads(kept.with_suffix(".json").read_text("utf-8"))
    assert sidecar["fetches"][0]["kind"] == "feed-entry"


def test_a_dry_run_keeps_no_evidence(
    tmp_path: Path, site: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, site)
    site.put("/feed.xml", _feed(site, keep=("ft-3",)))
    assert main(["-c", str(config), "once"]) == 0  # a database, with no alert in it
    assert not (tmp_path / "state" / "evidence").exists()
    site.put("/feed.xml", _feed(site))
    capsys.readouterr()
    assert main(["-c", str(config), "once", "--dry-run"]) == 0
    assert "2 alert(s) would be sent" in capsys.readouterr().out
    assert not (tmp_path / "state" / "evidence").exists()
