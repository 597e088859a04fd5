"""`watcher demo` (the README's first command) prints exactly the expected alerts."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from watcher.demo.sample import EXPECTED_FILE

RULE = "─" * 72


def _messages(out: str) -> list[str]:
    first_poll = out.split("Second poll")[0]
    blocks = first_poll.split(RULE)[1:-1]
    return [b.strip() for b in blocks if b.strip()]


def test_demo_alerts_as_expected_and_second_poll_is_quiet() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "watcher", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},  # no config, no secrets, no proxy: loopback only
    )
    assert proc.returncode == 0, proc.stderr
    expected = tomllib.loads(EXPECTED_FILE.read_text(encoding="utf-8"))
    messages = _messages(proc.stdout)
    assert len(messages) == len(expected["alert"])
    for alert in expected["alert"]:
        matching = [m for m in messages if alert["title"] in m]
        assert len(matching) == 1, alert["title"]
        body = matching[0]
        for name in alert["watchlists"]:
            assert name in body
        # Sources are polled concurrently: whichever outlet's copy of a syndicated story is
        # recorded first is its source, and the others are "also reported by".
        carriers = [alert["source"], *alert.get("also", [])]
        source_line = body.splitlines()[2]
        first = next(c for c in carriers if source_line.startswith(c))
        for other in carriers:
            if other != first:
                assert f"Also reported by: {other}" in body
    syndicated = {a["title"] for a in expected["alert"] if a.get("also")}
    for quiet in expected["quiet"]:
        if quiet["title"] in syndicated:
            continue  # checked above: one message for the story, whichever outlet was first
        # A message names its title on line 2 and its source at the start of line 3.
        for message in messages:
            lines = message.splitlines()
            sent = quiet["title"] in lines[1] and lines[2].startswith(quiet["source"])
            assert not sent, quiet["why"]
    assert "0 new message(s) on the second poll" in proc.stdout
    assert "4 of 4 requests were conditional GETs" in proc.stdout
