"""A state made by a real `watcher once` over loopback feeds (English, Khmer, hostile
titles), with one web login: what the web tests (test_web*.py) look at."""

from __future__ import annotations

import io
import os
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from watcher.cli import main
from watcher.config import load_config
from watcher.demo.sample import render_dates
from watcher.models import Config
from watcher.web.commands import user_add

from standins import FeedServer

DATA = Path(__file__).parent / "data"
USER = "alice"
PASSWORD = "correct horse battery"
# The channel URL's token (from the environment): no page, feed or download may show it.
TOKEN = "tok-7c1e9b0d5a3f"
FEEDS = {
    "english.xml": DATA / "feeds" / "english.xml",
    "khmer.xml": DATA / "feeds" / "khmer.xml",
    "hostile-titles.xml": DATA / "web" / "hostile-titles.xml",
}


@dataclass
class WebRig:
    folder: Path
    config_path: Path
    config: Config

    def run(self, *args: str) -> int:
        return main(["-c", str(self.config_path), *args])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_state(folder: Path, *, listen: str = "127.0.0.1:8080") -> WebRig:
    """Serve the feeds on loopback, run `watcher once` on them, add the login."""
    os.environ["WEB_TEST_TOKEN"] = TOKEN
    now = datetime.now(UTC)
    feeds = FeedServer()
    try:
        for name, path in FEEDS.items():
            body = render_dates(path.read_text(encoding="utf-8"), now)
            feeds.put(f"/{name}", body.encode("utf-8"), content_type="application/rss+xml")
        folder.mkdir(parents=True, exist_ok=True)
        template = (DATA / "web" / "watcher.toml").read_text(encoding="utf-8")
        config_path = folder / "watcher.toml"
        config_path.write_text(
            template.replace("{{HOST}}", feeds.netloc).replace("127.0.0.1:8080", listen),
            encoding="utf-8",
        )
        shutil.copy(DATA / "web" / "people.csv", folder / "people.csv")
        assert main(["-c", str(config_path), "once"]) == 0
    finally:
        feeds.close()
    config = load_config(config_path)
    out, err = io.StringIO(), io.StringIO()
    assert user_add(config, USER, io.StringIO(PASSWORD + "\n"), out, err) == 0, err.getvalue()
    return WebRig(folder, config_path, config)
