"""Hostile sources, end to end (SPEC §8): `watcher once` as a real process per case.

Each case polls one misbehaving source beside a well-behaved one, in the same
run, and checks: the hostile source's error reads as a person would write it,
the good source still alerts, the process stays under 200 MB peak RSS (measured
with os.wait4, per child), and nothing is written outside the state directory.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hostile import DATA, HostileServer

RSS_LIMIT_KB = 200 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    error: str | None  # the exact reason recorded on the source; None: the poll succeeds
    extra: str = ""  # more keys for the hostile [[sources]] table
    alerts: int = 0  # alerts the hostile source itself must raise


CASES = [
    Case("gzip bomb", "/gzip-bomb", "response larger than 1 MB"),
    Case("brotli bomb", "/brotli-bomb", "response larger than 1 MB"),
    Case("1 GB declared", "/huge", "response larger than 1 MB"),
    Case("1 GB without length", "/endless", "response larger than 1 MB"),
    Case(
        "Content-Length longer than body",
        "/long-length",
        "the server broke the connection: peer closed connection without sending "
        "complete message body (received 10 bytes, expected 1000000)",
    ),
    Case(
        "Content-Length shorter than body",
        "/short-length",
        "not a feed: the response is not XML",
    ),
    Case("slow drip", "/drip", "timed out after 2 s"),
    Case("redirect loop", "/redirect-loop", "more than 5 redirects"),
    Case(
        "billion laughs",
        "/laughs.xml",
        "not a feed: it nests XML entities (refused: entity expansion)",
    ),
    Case("XXE", "/xxe.xml", "not a feed: it declares an external entity (refused: XXE)"),
    Case("wrong charset", "/wrong-charset.xml", None, alerts=1),
    Case("HTML served as a feed", "/html-page", "not a feed: got an HTML page"),
    Case("empty body", "/empty", "empty response"),
    Case("404", "/not-found", "HTTP 404"),
    Case("500", "/server-error", "HTTP 500"),
    Case("429 with Retry-After", "/too-many", "HTTP 429, retrying after 120 s"),
    Case("503 with Retry-After", "/retry-later", "HTTP 503, retrying after 600 s"),
    Case(
        "sitemap with entities",
        "/laughs-sitemap.xml",
        "not a sitemap: it declares a DTD (refused: entity expansion)",
        extra='kind = "sitemap"',
    ),
    Case("fulltext link to loopback", "/ssrf.xml", None, extra="fulltext = true", alerts=1),
]


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileServer]:
    server = HostileServer()
    yield server
    server.close()


# Runs `watcher once` and reports the process's own peak RSS (VmHWM) on exit.
# Not ru_maxrss from getrusage(RUSAGE_CHILDREN) or wait4: Linux carries the
# parent's resident size at fork into the child's ru_maxrss across exec, so a
# child of a 250 MB pytest worker would read 250 MB however little it used.
_MEASURED = (
    "import sys\n"
    "from watcher.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "with open('/proc/self/status') as status:\n"
    "    peak = next(l for l in status if l.startswith('VmHWM:')).split()[1]\n"
    "sys.stdout.write(f'\\nPEAK-RSS-KB {peak}\\n')\n"
    "sys.exit(code)\n"
)


def run_once(config: Path, cwd: Path, home: Path) -> tuple[int, str, int]:
    """Run `watcher once`; returns exit code, output, and the child's peak RSS in KB."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "TMPDIR": str(home / "tmp"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    log = home / "output.txt"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", _MEASURED, "-c", str(config), "once"],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        code = proc.wait(timeout=60)
    output = log.read_text("utf-8", "replace")
    log.unlink()
    peak = re.search(r"PEAK-RSS-KB (\d+)", output)
    return code, output, int(peak.group(1)) if peak else -1


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_hostile_source_fails_alone_and_clearly(
    case: Case, hostile: HostileServer, tmp_path: Path
) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    template = (DATA / "watcher.toml").read_text("utf-8")
    config = template.replace("{{GOOD}}", hostile.url("/good.xml")) + (
        f'\n[[sources]]\nname = "Hostile"\nurl = "{hostile.url(case.path)}"\n{case.extra}\n'
    )
    (conf / "watcher.toml").write_text(config, "utf-8")
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()

    code, output, rss_kb = run_once(conf / "watcher.toml", work, home)

    RSS_FIGURES[case.name] = rss_kb
    assert code == 0, output
    assert 0 < rss_kb < RSS_LIMIT_KB, f"peak RSS {rss_kb / 1024:.0f} MB"
    print(f"peak RSS {case.name}: {rss_kb / 1024:.1f} MB")
    db = sqlite3.connect(conf / "state" / "watcher.sqlite3")
    db.row_factory = sqlite3.Row
    sources = {r["name"]: r for r in db.execute("SELECT * FROM sources")}
    assert sources["Hostile"]["last_error"] == case.error, output
    assert sources["Good"]["last_error"] is None
    rows = db.execute("SELECT source, COUNT(*) FROM alerts GROUP BY source")
    alerts = {r[0]: r[1] for r in rows}
    assert alerts.get("Good") == 1, output  # the other source in the same run still alerts
    assert alerts.get("Hostile", 0) == case.alerts
    texts = " ".join(r[0] or "" for r in db.execute("SELECT text FROM items"))
    assert "root:" not in texts  # no /etc/passwd line ever reaches an item (XXE)
    db.close()
    # Nothing outside the state directory: the config is the only other file.
    assert {f for f in _files(tmp_path) if not f.startswith("conf/state/")} == {"conf/watcher.toml"}
    evidence = [f for f in _files(conf / "state") if f.startswith("evidence/")]
    assert evidence, "each alert keeps its evidence"


RSS_FIGURES: dict[str, int] = {}


def test_fulltext_never_reaches_the_loopback_link(hostile: HostileServer, tmp_path: Path) -> None:
    """The forged link of ssrf.xml was refused before any connection was made."""
    conf = tmp_path / "conf"
    conf.mkdir()
    template = (DATA / "watcher.toml").read_text("utf-8")
    config = template.replace("{{GOOD}}", hostile.url("/good.xml")) + (
        f'\n[[sources]]\nname = "Forged"\nurl = "{hostile.url("/ssrf.xml")}"\nfulltext = true\n'
    )
    (conf / "watcher.toml").write_text(config, "utf-8")
    before = hostile.seen.count("/secret")
    code, output, _ = run_once(conf / "watcher.toml", tmp_path, tmp_path / "home")
    assert code == 0, output
    assert hostile.seen.count("/secret") == before
    db = sqlite3.connect(conf / "state" / "watcher.sqlite3")
    warning = db.execute("SELECT last_warning FROM sources WHERE name = 'Forged'").fetchone()[0]
    db.close()
    assert warning == (
        f"fulltext {hostile.url('/secret')}: refused: 127.0.0.1 is a loopback address"
    )
