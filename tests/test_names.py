"""One set of environment variable and channel names across the example config, the example
environment file and the docs (issue 20, point 5): a newcomer copies names from one page
into another, and a name that differs is a channel that never gets its secret."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from watcher.config import load_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "config" / "watcher.toml"
ENV_EXAMPLE = ROOT / "config" / "watcher.env.example"
DOCS = [ROOT / "README.md", ROOT / "docs" / "channels.md", ROOT / "docs" / "service.md"]

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$", re.MULTILINE)
_OPTIONAL = re.compile(r"^#\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
#: Names the docs may write that are not channel secrets: the config's own variable, and
#: the generic placeholders of prose ("`${VAR}` reads the environment").
_NOT_SECRETS = {"WATCHER_CONFIG", "VAR", "NAME"}


def env_example() -> tuple[dict[str, str], set[str]]:
    """The example's NAME=value lines, and the names it offers commented out (optional)."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    return dict(_ASSIGNMENT.findall(text)), set(_OPTIONAL.findall(text))


def test_every_variable_of_the_example_config_is_in_the_example_env_file() -> None:
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    used = {name for channel in raw["channels"] for name in _REFERENCE.findall(channel["url"])}
    assigned, optional = env_example()
    assert used, "the example config reads no variables?"
    assert used - set(assigned) == set()
    # And nothing stale: every value in the env file is read by the config.
    assert set(assigned) - used == set()
    assert optional.isdisjoint(assigned)


def test_the_example_env_file_makes_the_example_config_valid() -> None:
    assigned, _ = env_example()
    config = load_config(EXAMPLE, assigned)
    assert [c.name for c in config.channels] == ["signal", "email", "telegram", "ops"]


def test_the_example_env_file_holds_placeholders_only() -> None:
    assigned, _ = env_example()
    for name, value in assigned.items():
        if name in ("SIGNAL_FROM", "SIGNAL_TO"):
            # The +855 00… range is not given out: no real phone.
            assert re.fullmatch(r"\+8550{7}\d", value), value
        elif name.endswith("CHAT_ID"):
            assert re.fullmatch(r"-10{11}\d", value), value
        elif "TOKEN" in name or "PASSWORD" in name:
            assert "replace" in value, value
        elif "@" in value or "%40" in value or "." in value:
            assert "example.org" in value or value.startswith("127.0.0.1"), value


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_the_docs_use_the_example_names(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assigned, optional = env_example()
    known = set(assigned) | optional | _NOT_SECRETS
    named = set(_REFERENCE.findall(text)) | {n for n, _ in _ASSIGNMENT.findall(text)}
    assert named - known == set(), f"{doc.name} names variables the example env file does not"
    config = load_config(EXAMPLE, assigned)
    channels = {c.name for c in config.channels}
    for match in re.finditer(r"\[\[channels\]\]\s*\n\s*name = \"([^\"]+)\"", text):
        assert match.group(1) in channels, match.group(0)
    for match in re.finditer(r"test-notify ([a-z][\w-]*)", text):
        assert match.group(1) in channels, match.group(0)


def test_old_names_are_gone() -> None:
    for path in (*DOCS, EXAMPLE, ENV_EXAMPLE):
        text = path.read_text(encoding="utf-8")
        for old in ("SMTP_PASS", "TG_TOKEN", "TG_CHAT", "TELEGRAM_TOKEN", "TELEGRAM_CHAT"):
            assert re.search(rf"\b{old}\b", text) is None, f"{old} in {path.name}"
