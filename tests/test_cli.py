"""The command line contract: exit codes and error lines (SPEC §3)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def _watcher_in(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "watcher", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


# --- the people list (issue 20, point 1) ------------------------------------------------

PEOPLE = DATA / "config" / "people"


def test_check_refuses_a_stray_quote_instead_of_reading_one_garbage_person() -> None:
    proc = _watcher("-c", str(PEOPLE / "stray_quote.toml"), "check")
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert LINE.match(line), line
    assert line.startswith(f"{PEOPLE / 'stray_quote.csv'}:3: name: ")
    assert "OK" not in proc.stdout


def test_check_says_how_many_people_each_list_holds() -> None:
    proc = _watcher("-c", str(PEOPLE / "one_person.toml"), "check")
    assert proc.returncode == 0, proc.stderr
    assert f"{PEOPLE / 'one_person.csv'}: 1 person" in proc.stdout.splitlines()
    assert "1 watchlist," in proc.stdout and "0 sources" in proc.stdout
    proc = _watcher("-c", str(PEOPLE / "fewer_fields.toml"), "check")
    assert f"{PEOPLE / 'fewer_fields.csv'}: 3 people" in proc.stdout.splitlines()


def test_check_warns_about_a_row_with_fewer_fields_and_still_passes() -> None:
    proc = _watcher("-c", str(PEOPLE / "fewer_fields.toml"), "check")
    assert proc.returncode == 0, proc.stderr
    warnings = proc.stderr.splitlines()
    assert len(warnings) == 2
    for line in warnings:
        assert LINE.match(line), line
        assert ": row: warning: " in line
    assert warnings[0].startswith(f"{PEOPLE / 'fewer_fields.csv'}:2: ")


# --- the state folder (issue 20, point 3) -----------------------------------------------

STATE = DATA / "config" / "state_dir"


def test_check_refuses_a_state_folder_that_cannot_be_created() -> None:
    proc = _watcher("-c", str(STATE / "under_a_file.toml"), "check")
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"{STATE / 'under_a_file.toml'}:3: settings.state_dir: cannot create")


@pytest.mark.parametrize("command", [["once"], ["run"], ["status"], ["export"]])
@pytest.mark.parametrize("config", ["under_a_file", "is_a_file"])
def test_an_unusable_state_folder_is_one_line_and_exit_1(config: str, command: list[str]) -> None:
    proc = _watcher("-c", str(STATE / f"{config}.toml"), *command)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("watcher: ")
    assert "not_a_folder" in line and "settings.state_dir" in line
    assert not (STATE / "state").exists()


# --- secrets and where the config is (issue 20, point 4) --------------------------------

SECRETS = DATA / "config" / "valid" / "secrets.toml"


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["export"],
        ["export", "--format", "json"],
        ["explain", str(DATA / "explain" / "article.html")],
    ],
)
def test_reading_commands_run_without_the_channel_secrets(command: list[str]) -> None:
    proc = _watcher("-c", str(SECRETS), *command, env={"SIGNAL_HOST": "127.0.0.1:8080"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, proc.stderr
    assert "channel signal not checked" in lines[0] and "SIGNAL_FROM, SIGNAL_TO" in lines[0]
    assert "SIGNAL_HOST" not in lines[0]
    assert "channel telegram not checked" in lines[1]


@pytest.mark.parametrize("command", [["check"], ["once"], ["run"], ["test-notify", "signal"]])
def test_sending_commands_still_require_the_channel_secrets(command: list[str]) -> None:
    proc = _watcher("-c", str(SECRETS), *command)
    assert proc.returncode == 2
    assert "SIGNAL_FROM" in proc.stderr and "TELEGRAM_TOKEN" in proc.stderr


def test_without_a_config_here_the_error_says_how_to_point_at_one(tmp_path: Path) -> None:
    for command in ("check", "status", "once"):
        proc = _watcher_in(tmp_path, command)
        assert proc.returncode == 2
        (line,) = proc.stderr.splitlines()
        assert line.startswith("config/watcher.toml:0: config: ")
        assert "-c FILE" in line and "WATCHER_CONFIG" in line
    assert list(tmp_path.iterdir()) == []


# --- what the command line prints (issue 20, point 8) -----------------------------------


def test_help_texts_carry_no_spec_section_numbers() -> None:
    from watcher.cli import build_parser

    parser = build_parser()
    texts = [parser.format_help()]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    texts += [sub.format_help() for sub in subparsers.choices.values()]
    assert len(texts) >= 9
    for text in texts:
        assert "§" not in text and "SPEC" not in text, text


def test_status_and_export_on_no_state_yet_leave_nothing_behind(tmp_path: Path) -> None:
    config = tmp_path / "watcher.toml"
    text = (STATE / "under_a_file.toml").read_text(encoding="utf-8")
    config.write_text(text.replace("not_a_folder/state", "not/yet/state"), encoding="utf-8")
    status = _watcher("-c", str(config), "status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("No state yet")
    export = _watcher("-c", str(config), "export")
    assert export.returncode == 0, export.stderr
    assert export.stdout.startswith("\ufeffid,created,")
    assert [p.name for p in tmp_path.iterdir()] == ["watcher.toml"]
