"""systemd/watcher.service (SPEC §9): what the unit promises, its sandbox measured by
`systemd-analyze security`, and `systemd-analyze verify`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from watcher.config.durations import parse_duration
from watcher.runner.daemon import STOP_WITHIN

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "watcher.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)"
)


def read_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections → key → every value (systemd allows a key many times; configparser does not)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_unit_is_a_notify_service_with_watchdog_state_config_and_secrets() -> None:
    service = read_unit(UNIT.read_text(encoding="utf-8"))["Service"]

    def one(key: str) -> str:
        values = service.get(key, [])
        assert len(values) == 1, f"{key}: {values}"
        return values[0]

    assert one("Type") == "notify"
    assert one("DynamicUser") == "yes"
    assert one("StateDirectory") == "watcher"
    assert one("ConfigurationDirectory") == "watcher"
    assert one("EnvironmentFile") == "/etc/watcher/env"
    assert one("Environment") == "WATCHER_CONFIG=/etc/watcher/watcher.toml"
    assert one("ExecStart").split()[-1] == "run"
    assert one("ExecReload") == "/bin/kill -HUP $MAINPID"
    assert one("Restart") == "on-failure"
    assert one("RestartPreventExitStatus") == "2"  # a bad config: restarting cannot fix it
    # The daemon pings at least every second; the watchdog must give it room.
    assert parse_duration(one("WatchdogSec")) >= 10
    # SIGKILL must not come before the daemon's own stop budget is spent.
    assert parse_duration(one("TimeoutStopSec")) > STOP_WITHIN + 2


def _overall_exposure(output: str) -> float:
    found = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", output)
    assert found, output
    return float(found.group(1))


@needs_analyze
def test_the_sandbox_exposure_is_at_most_2() -> None:
    assert ANALYZE is not None
    proc = subprocess.run(
        [ANALYZE, "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "--offline" in proc.stderr and "unrecognized option" in proc.stderr:
        pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
    exposure = _overall_exposure(proc.stdout + proc.stderr)
    assert exposure <= 2.0, proc.stdout


@needs_analyze
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    # verify checks that ExecStart's binary exists; watcher is not installed in
    # /usr/local/bin here, so a copy of the unit points at a binary that does exist.
    assert ANALYZE is not None
    true, kill = shutil.which("true"), shutil.which("kill")
    if true is None or kill is None:
        pytest.skip("no `true` or `kill` binary to stand in for the unit's commands")
    text = UNIT.read_text(encoding="utf-8")
    assert "/usr/local/bin/watcher" in text
    copy = tmp_path / "watcher.service"
    copy.write_text(
        text.replace("/usr/local/bin/watcher", true).replace("/bin/kill", kill),
        encoding="utf-8",
    )
    proc = subprocess.run(
        [ANALYZE, "verify", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    complaints = [
        line for line in (proc.stdout + proc.stderr).splitlines() if "watcher.service" in line
    ]
    assert proc.returncode == 0 and not complaints, proc.stdout + proc.stderr


def test_documentation_is_a_real_address_or_none() -> None:
    """`systemctl status` and `systemctl help` show Documentation= to operators as links; a
    made-up address sends them nowhere (issue 20). The project has no published page yet,
    so the only real addresses are manual pages and the project's own URLs (pyproject)."""
    import tomllib

    unit = read_unit(UNIT.read_text(encoding="utf-8"))["Unit"]
    pyproject = tomllib.loads((UNIT.parent.parent / "pyproject.toml").read_text(encoding="utf-8"))
    published = set(pyproject["project"].get("urls", {}).values())
    for value in unit.get("Documentation", []):
        for address in value.split():
            assert address.startswith("man:") or address in published, address
