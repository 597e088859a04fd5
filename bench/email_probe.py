"""Email through a strict SMTP server: line lengths and a poison message (issue 14).

Run: .venv/bin/python bench/email_probe.py [--runs 5]

Sends the issue's probes (a 150-character Khmer title over a 6,000-character Khmer
article, a 20,000-character English article, a markup title with a `javascript:`
link, emoji ZWJ sequences with an Arabic word) through Apprise's real `mailto://`
plugin to tests/strict_smtp.py (aiosmtpd, AUTH required, default line limit), with
and without watcher's header folding, and prints per probe the longest line in
octets, the number of Subject lines and what the server said. Then delivers ten
alerts of which the server refuses one (554) and prints, over `--runs` runs, the
median wall time of that round and what it did. Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.header import Header
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from strict_smtp import StrictSmtp  # noqa: E402
from test_delivery import _add_alert, _ten_alerts, probe_alerts  # noqa: E402

import watcher.delivery.transport  # noqa: E402
from watcher.delivery.messages import EMAIL, render_alert  # noqa: E402
from watcher.delivery.send import Deliverer  # noqa: E402
from watcher.delivery.transport import apprise_send  # noqa: E402
from watcher.models import Channel, Config, Settings  # noqa: E402
from watcher.store.sqlite import DB_NAME, Store  # noqa: E402

TZ = ZoneInfo("Asia/Phnom_Penh")


def probes(fold: bool) -> None:
    from apprise.plugins.email import base

    saved = watcher.delivery.transport._fold_email_headers, base.Header
    if not fold:
        watcher.delivery.transport._fold_email_headers = lambda: None  # type: ignore[assignment]
        base.Header = Header
    try:
        with StrictSmtp() as server:
            for name, alert in probe_alerts().items():
                outcome = apprise_send(
                    Channel("mail", server.url()), render_alert(alert, EMAIL, TZ)
                )
                # A line over the limit is refused in the protocol, before the handler
                # sees the mail: then nothing is kept to measure.
                data = server.mails[-1].raw if outcome.delivered else b""
                lines = [len(x) for x in data.split(b"\r\n")] if data else []
                longest = str(max(lines)) if lines else "n/a"
                subject = len(server.mails[-1].raw_subject_lines()) if outcome.delivered else "-"
                said = "250 accepted" if outcome.delivered else outcome.reason
                print(
                    f"  {name:8} longest line {longest:5} octets, subject lines {subject}: {said}"
                )
    finally:
        watcher.delivery.transport._fold_email_headers, base.Header = saved


def unfolded_subject_octets() -> int:
    """The Subject line Apprise as shipped writes for the Khmer probe (never sent)."""
    from apprise import NotifyFormat
    from apprise.plugins.email import base

    saved = base.Header
    base.Header = Header
    try:
        [rendered] = render_alert(probe_alerts()["khmer"], EMAIL, TZ)
        [mail] = base.NotifyEmail.prepare_emails(
            subject=rendered.title,
            body=rendered.body,
            notify_format=NotifyFormat.HTML,
            from_addr=["", "alerts@example.org"],
            to=[(False, "staff@example.org")],
            smtp_host="example.org",
        )
    finally:
        base.Header = saved
    return max(len(x.encode()) for x in mail.body.splitlines() if x.startswith("Subject:"))


def poison_round() -> tuple[float, int, int, int]:
    with StrictSmtp() as server, tempfile.TemporaryDirectory() as tmp:
        server.refuse(lambda m: "POISON" in str(m["Subject"]))
        config = Config(
            path=f"{tmp}/watcher.toml",
            settings=Settings(state_dir=tmp, timezone="Asia/Phnom_Penh"),
            channels=(Channel("mail", server.url()),),
        )
        store = Store(Path(tmp) / DB_NAME)
        now = datetime.now(UTC)
        for alert in _ten_alerts():
            _add_alert(store, alert, "mail", now)
        started = time.perf_counter()
        report = asyncio.run(Deliverer(config, store, lambda: now).deliver_due())
        took = time.perf_counter() - started
        store.close()
        return took, len(server.mails), len(server.refused), report.refused


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(
        "without header folding (Apprise as shipped): the Khmer probe's Subject line is "
        f"{unfolded_subject_octets()} octets"
    )
    probes(fold=False)
    print("with watcher's header folding:")
    probes(fold=True)
    results = [poison_round() for _ in range(args.runs)]
    times = [r[0] for r in results]
    _, arrived, refused, failed = results[-1]
    print(
        f"poison among ten, {args.runs} runs: median {statistics.median(times) * 1000:.0f} ms "
        f"a round; {arrived} arrived, {refused} refusals (full + minimal), {failed} marked failed"
    )


if __name__ == "__main__":
    main()
