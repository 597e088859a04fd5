"""The command line contract: exit codes and error lines (SPEC §3)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
LINE = re.compile(r"^(?P<file>[^:]+\.(?:toml|csv)):(?P<line>\d+): (?P<field>[^:]+): .+$")


def _watcher(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watcher", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_check_reports_ten_mistakes_as_ten_lines_and_exits_2() -> None:
    proc = _watcher("-c", str(DATA / "config" / "ten_mistakes.toml"), "check")
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 10, proc.stderr
    for line in lines:
        assert LINE.match(line), line
    assert len({LINE.match(x)["line"] for x in lines}) >= 9  # type: ignore[index]


def test_check_accepts_the_example_config_with_its_secrets_in_the_environment() -> None:
    config = Path(__file__).parent.parent / "config" / "watcher.toml"
    names = set(re.findall(r"\$\{(\w+)\}", config.read_text(encoding="utf-8")))
    # Placeholder values of the right shape for each kind of service; none is real.
    env = {name: "placeholder" for name in names}
    for name in names:
        if name.endswith("_HOST"):
            env[name] = "127.0.0.1:8080"
        elif name.startswith("SIGNAL_"):
            env[name] = "+10000000001"
        elif name.startswith("EMAIL_"):
            env[name] = "staff@example.org"
        elif name.endswith("_TOKEN"):
            env[name] = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # Telegram's doc example
        elif name.endswith("CHAT_ID"):
            env[name] = "-1001234567890"
    proc = _watcher("-c", str(config), "check", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout


def test_a_missing_variable_is_named_and_exits_2() -> None:
    config = Path(__file__).parent.parent / "config" / "watcher.toml"
    proc = _watcher("-c", str(config), "check")
    assert proc.returncode == 2
    assert "SIGNAL_HOST" in proc.stderr


def test_config_comes_from_the_environment_variable() -> None:
    proc = _watcher("check", env={"WATCHER_CONFIG": str(DATA / "config" / "ten_mistakes.toml")})
    assert proc.returncode == 2
    assert "ten_mistakes.toml" in proc.stderr


def test_usage_errors_exit_2() -> None:
    assert _watcher("no-such-command").returncode == 2
    assert _watcher("once", "--bogus").returncode == 2
