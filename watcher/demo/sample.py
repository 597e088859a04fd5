"""The bundled sample for `watcher demo` (SPEC §3): feeds, a ministry page, config, people.

`site/` is the web root a loopback `FeedServer` serves. Its files are templates whose dates are
written relative to the moment the demo starts, so that the items are always recent enough to
alert (`max_age`) however old the installed package is:

- `{{DATE}}`, `{{DATE-2h}}` -> RFC 822 date (RSS `pubDate`), in Asia/Phnom_Penh time
- `{{ISO-40m}}`             -> RFC 3339 date-time (Atom `published` / `updated`)
- `{{DAY-1d}}`              -> local calendar date `YYYY-MM-DD` (the ministry page)

The offset is minutes (m), hours (h) or days (d) before `now`. `demo.toml` has two more
placeholders, `{{HOST}}` (the FeedServer) and `{{SIGNAL}}` (the Signal stand-in), filled by
`render_demo_config`. `expected.toml` lists what the demo must alert and what it must not.
"""

from __future__ import annotations

import email.utils
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = [
    "CONFIG_FILE",
    "DEMO_DIR",
    "EXPECTED_FILE",
    "PEOPLE_FILE",
    "SITE_DIR",
    "render_dates",
    "render_demo_config",
    "render_demo_feeds",
    "write_demo_config",
]

DEMO_DIR = Path(__file__).resolve().parent / "data"
SITE_DIR = DEMO_DIR / "site"
CONFIG_FILE = DEMO_DIR / "demo.toml"
PEOPLE_FILE = DEMO_DIR / "people.csv"
EXPECTED_FILE = DEMO_DIR / "expected.toml"

# The sample publishers are Cambodian: their feeds give local times (+07:00), as real ones do.
_LOCAL = ZoneInfo("Asia/Phnom_Penh")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
_DATE_PLACEHOLDER = re.compile(r"\{\{(?P<kind>DATE|ISO|DAY)(?:-(?P<n>\d+)(?P<unit>[mhd]))?\}\}")
_ANY_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")


def render_dates(template: str, now: datetime) -> str:
    """Replace every date placeholder in `template` with a date that many units before `now`.

    `now` must be timezone-aware. A `{{…}}` that is not a date placeholder is a typo in the
    sample and raises ValueError rather than reaching a feed parser as literal text.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("render_dates needs an aware datetime (e.g. datetime.now(UTC))")

    def substitute(placeholder: re.Match[str]) -> str:
        back = timedelta()
        if placeholder["n"] is not None:
            back = timedelta(**{_UNITS[placeholder["unit"]]: int(placeholder["n"])})
        moment = (now - back).astimezone(_LOCAL).replace(microsecond=0)
        if placeholder["kind"] == "DATE":
            return email.utils.format_datetime(moment)
        if placeholder["kind"] == "ISO":
            return moment.isoformat(timespec="seconds")
        return moment.date().isoformat()

    rendered = _DATE_PLACEHOLDER.sub(substitute, template)
    leftover = _ANY_PLACEHOLDER.search(rendered)
    if leftover is not None:
        raise ValueError(f"unknown placeholder {leftover.group()} in demo template")
    return rendered


def render_demo_feeds(now: datetime) -> dict[str, bytes]:
    """Every file under `site/`, dates rendered for `now`, keyed by URL path (`/feeds/…`).

    Bodies are UTF-8 bytes, ready for `FeedServer.put_many`.
    """
    bodies: dict[str, bytes] = {}
    for path in sorted(SITE_DIR.rglob("*")):
        if path.is_file():
            url_path = "/" + path.relative_to(SITE_DIR).as_posix()
            text = render_dates(path.read_text(encoding="utf-8"), now)
            bodies[url_path] = text.encode("utf-8")
    return bodies


def render_demo_config(host: str, signal: str) -> str:
    """`demo.toml` with `{{HOST}}` and `{{SIGNAL}}` replaced by `host:port` addresses."""
    text = CONFIG_FILE.read_text(encoding="utf-8")
    text = text.replace("{{HOST}}", host).replace("{{SIGNAL}}", signal)
    leftover = _ANY_PLACEHOLDER.search(text)
    if leftover is not None:
        raise ValueError(f"unknown placeholder {leftover.group()} in {CONFIG_FILE.name}")
    return text


def write_demo_config(dest: Path, host: str, signal: str) -> Path:
    """Write the rendered `demo.toml` and `people.csv` into folder `dest`; return the config.

    The config's relative paths (`state_dir = "state"`, `people = "people.csv"`) then resolve
    inside `dest`, so a temporary folder keeps the demo's state away from the package.
    """
    dest.mkdir(parents=True, exist_ok=True)
    config = dest / "demo.toml"
    config.write_text(render_demo_config(host, signal), encoding="utf-8")
    (dest / PEOPLE_FILE.name).write_bytes(PEOPLE_FILE.read_bytes())
    return config
