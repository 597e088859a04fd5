"""Config loading and validation (SPEC §3, §4).

Invalid fixtures in tests/data/config/ mark each expected issue on the line where it must be
reported, as a comment `# expect: FIELD: MESSAGE-PREFIX` (several may share a line), so a
fixture shows at a glance what `watcher check` says about it.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from watcher import config as config_module
from watcher.config import (
    ConfigError,
    ConfigIssue,
    check_config,
    default_config_path,
    load_config,
    load_people,
    read_config,
)
from watcher.config.durations import parse_duration, parse_size
from watcher.models import Severity

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "config"
EXAMPLE = ROOT / "config" / "watcher.toml"

# Made-up values of the right shape for Apprise; none is a real number or token.
EXAMPLE_ENV = {
    "SIGNAL_HOST": "127.0.0.1:8080",
    "SIGNAL_FROM": "+85500000000",
    "SIGNAL_TO": "+85500000001",
    "SMTP_USER": "watcher",
    "SMTP_PASSWORD": "not-a-real-password",
    "SMTP_HOST": "mail.example.org",
    "EMAIL_FROM": "watcher@example.org",
    "EMAIL_TO": "staff@example.org",
    "TELEGRAM_BOT_TOKEN": "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    "TELEGRAM_CHAT_ID": "11111111",
    "TELEGRAM_OPS_CHAT_ID": "22222222",
}

_EXPECT = re.compile(r"#\s*expect:\s*(.+?)(?=\s*#\s*expect:|$)")


def expectations(path: Path) -> list[tuple[int, str, str]]:
    """(line, field, message prefix) for every `# expect:` comment in a fixture."""
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for match in _EXPECT.finditer(line):
            field, message = match.group(1).split(": ", 1)
            found.append((number, field, message))
    return found


def assert_issues_match(issues: list[ConfigIssue], path: Path) -> None:
    expected = expectations(path)
    assert [(i.line, i.field) for i in issues] == [(line, field) for line, field, _ in expected]
    for issue, (_, _, message) in zip(issues, expected, strict=True):
        assert issue.file == str(path)
        assert issue.message.startswith(message), str(issue)


# --- the example config ----------------------------------------------------------------


def test_example_config_loads_with_its_environment() -> None:
    config = load_config(EXAMPLE, EXAMPLE_ENV)

    assert config.path == str(EXAMPLE)
    assert config.settings.state_dir == str(ROOT / "state")
    assert config.settings.timezone == "Asia/Phnom_Penh"
    assert config.settings.admin_channel == "ops"
    assert {"feed", "html", "sitemap"} <= {s.kind for s in config.sources}
    html = next(s for s in config.sources if s.kind == "html")
    assert html.item and html.title and html.link
    assert config.source("CamboJA News") is not None
    assert config.source("Council of Ministers press").url == "https://pressocm.gov.kh/feed/"

    names = [w.name for w in config.watchlists]
    assert names == ["Sub-decrees", "Ministry working groups", "Arrests of named defenders"]
    sub_decrees, groups, arrests = config.watchlists
    assert sub_decrees.severity is Severity.HIGH
    assert "អនុក្រឹត្យ" in sub_decrees.any and "mine clearance" in sub_decrees.none
    assert ("ministr*", "inter-ministr*", "ក្រសួង") in groups.all
    assert arrests.severity is Severity.URGENT and arrests.fuzzy and arrests.within == 30
    assert "@arrest" in arrests.near
    sithar = next(p for p in arrests.people if p.name == "Chhim Sithar")
    assert "ឈឹម ស៊ីថា" in sithar.aliases

    ops = config.channel("ops")
    assert ops is not None and ops.watchlists == ()
    signal = config.channel("signal")
    assert signal is not None
    assert signal.url == "signal://127.0.0.1:8080/+85500000000/+85500000001"
    assert signal.url_template == "signal://${SIGNAL_HOST}/${SIGNAL_FROM}/${SIGNAL_TO}"


def test_example_config_keeps_every_secret_in_the_environment() -> None:
    config = load_config(EXAMPLE, EXAMPLE_ENV)
    for channel in config.channels:
        literal = re.sub(r"\$\{[^}]*\}", "", channel.url_template)
        # No phone numbers, chat ids or tokens written into the file itself.
        assert re.search(r"\d{5,}", literal) is None, channel.name
        assert "${" in channel.url_template


def test_example_people_list_has_latin_and_khmer_names() -> None:
    people, issues = load_people(ROOT / "config" / "people.csv")
    assert issues == []
    assert len(people) >= 5
    khmer = re.compile("[\u1780-\u17ff]")
    assert sum(1 for p in people if any(khmer.search(a) for a in p.aliases)) >= 4
    assert all(p.note for p in people)


# --- reporting every mistake -------------------------------------------------------------


def test_ten_mistakes_give_ten_located_lines() -> None:
    path = DATA / "ten_mistakes.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})

    lines = str(caught.value).splitlines()
    assert len(lines) == 10
    expected = expectations(path)
    assert len(expected) == 10
    for line, (number, field, message) in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}:{number}: {field}: {message}"), line


@pytest.mark.parametrize("path", sorted((DATA / "invalid").glob("*.toml")), ids=lambda p: p.stem)
def test_invalid_fixture_reports_each_marked_issue(path: Path) -> None:
    assert_issues_match(check_config(path, {}), path)


def test_issue_prints_as_file_line_field_message() -> None:
    issue = ConfigIssue("config/watcher.toml", 12, "sources[CamboJA News].interval", "bad")
    assert str(issue) == "config/watcher.toml:12: sources[CamboJA News].interval: bad"


def test_unreadable_config_is_one_issue(tmp_path: Path) -> None:
    issues = check_config(tmp_path / "absent.toml", {})
    assert [(i.line, i.field) for i in issues] == [(0, "config")]
    assert "No such file" in issues[0].message


def test_valid_config_has_no_issues() -> None:
    assert check_config(DATA / "valid" / "minimal.toml", {}) == []


def test_term_sets_come_from_the_known_list(monkeypatch: pytest.MonkeyPatch) -> None:
    path = DATA / "invalid" / "terms.toml"
    assert any("@foo" in i.message for i in check_config(path, {}))
    monkeypatch.setattr(config_module, "KNOWN_TERM_SETS", frozenset({"arrest", "foo", "nope"}))
    assert not any("unknown term set" in i.message for i in check_config(path, {}))


# --- environment and secrets ----------------------------------------------------------


SIGNAL_ENV = {"SIGNAL_HOST": "127.0.0.1:8080", "SIGNAL_FROM": "+85500000000"}
TELEGRAM_ENV = {
    "TELEGRAM_TOKEN": "123456789:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
    "TELEGRAM_CHAT": "33",
}


def test_missing_environment_variable_is_named() -> None:
    issues = check_config(DATA / "valid" / "secrets.toml", {**SIGNAL_ENV, **TELEGRAM_ENV})
    assert [str(i) for i in issues] == [
        f"{DATA / 'valid' / 'secrets.toml'}:6: channels[signal].url: "
        "environment variable SIGNAL_TO is not set"
    ]


def test_every_missing_variable_of_a_url_is_named_once() -> None:
    issues = check_config(DATA / "valid" / "secrets.toml", {})
    assert [i.message for i in issues] == [
        "environment variables SIGNAL_HOST, SIGNAL_FROM, SIGNAL_TO are not set",
        "environment variables TELEGRAM_TOKEN, TELEGRAM_CHAT are not set",
    ]


def test_empty_environment_variable_is_an_error() -> None:
    env = {**SIGNAL_ENV, "SIGNAL_TO": "", **TELEGRAM_ENV}
    issues = check_config(DATA / "valid" / "secrets.toml", env)
    assert [i.message for i in issues] == ["environment variable SIGNAL_TO is empty"]


def test_expanded_url_is_kept_apart_from_its_template() -> None:
    env = {**SIGNAL_ENV, "SIGNAL_TO": "+85500000009", **TELEGRAM_ENV}
    config = load_config(DATA / "valid" / "secrets.toml", env)
    telegram = config.channel("telegram")
    assert telegram is not None
    assert telegram.url == f"tgram://{TELEGRAM_ENV['TELEGRAM_TOKEN']}/33"
    assert telegram.url_template == "tgram://${TELEGRAM_TOKEN}/${TELEGRAM_CHAT}"
    assert TELEGRAM_ENV["TELEGRAM_TOKEN"] not in repr(config)


def test_secrets_never_appear_in_messages_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cret-token-do-not-print"
    env = {
        **SIGNAL_ENV,
        "SIGNAL_TO": "+85500000009",
        "TELEGRAM_TOKEN": secret,
        "TELEGRAM_CHAT": "4",
    }
    caplog.set_level(logging.DEBUG)
    issues = check_config(DATA / "valid" / "secrets.toml", env)

    assert [i.field for i in issues] == ["channels[telegram].url"]
    assert 'service "tgram://"' in issues[0].message
    shown = "\n".join(str(i) for i in issues) + caplog.text
    assert secret not in shown
    assert "+85500000009" not in caplog.text  # the valid signal URL was not logged either


def test_secret_written_into_the_url_is_not_echoed() -> None:
    issues = check_config(DATA / "invalid" / "literal_secret.toml", {})
    assert len(issues) == 1
    assert "literal-s3cret-token" not in str(issues[0])


def test_proxy_password_is_not_echoed() -> None:
    issues = check_config(DATA / "invalid" / "sources.toml", {})
    assert any(i.field == "sources[Odd proxy].proxy" for i in issues)
    assert not any("hunter2" in str(i) for i in issues)


def test_environ_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**SIGNAL_ENV, "SIGNAL_TO": "+85500000009", **TELEGRAM_ENV}.items():
        monkeypatch.setenv(name, value)
    assert check_config(DATA / "valid" / "secrets.toml") == []


# --- paths and defaults -----------------------------------------------------------------


def test_default_config_path() -> None:
    assert default_config_path({}) == Path("config/watcher.toml")
    assert default_config_path({"WATCHER_CONFIG": ""}) == Path("config/watcher.toml")
    assert default_config_path({"WATCHER_CONFIG": "/etc/w.toml"}) == Path("/etc/w.toml")


def test_relative_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    config = load_config(DATA / "valid" / "overrides.toml", {})
    assert config.settings.state_dir == str(DATA / "run" / "state")
    arrests = config.watchlists[0]
    assert [p.name for p in arrests.people] == ["Chhim Sithar", "Am Sam Ath", "Theary Seng"]


def test_relative_config_path_gives_absolute_state_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA)
    config = load_config("valid/minimal.toml", {})
    assert config.path == str(DATA / "valid" / "minimal.toml")
    assert config.settings.state_dir == str(DATA / "valid" / "state")


def test_defaults_follow_the_spec() -> None:
    config = load_config(DATA / "valid" / "minimal.toml", {})
    settings = config.settings
    assert (settings.timezone, settings.interval, settings.max_age) == ("UTC", 900.0, 7 * 86400.0)
    assert settings.admin_channel is None and settings.proxy is None
    assert (settings.timeout, settings.max_size) == (30.0, 10_000_000)
    assert (settings.stale_after, settings.give_up) == (6 * 3600.0, 24 * 3600.0)
    assert settings.retention == 90 * 86400.0

    (source,) = config.sources
    assert (source.kind, source.interval, source.fulltext, source.allow_private) == (
        "feed",
        900.0,
        False,
        False,
    )
    assert source.proxy is None and source.item is None

    (watchlist,) = config.watchlists
    assert watchlist.sources == ("*",) and watchlist.all == () and watchlist.none == ()
    assert (watchlist.near, watchlist.within, watchlist.fuzzy) == ((), 30, False)
    assert watchlist.severity is Severity.NORMAL and watchlist.people == ()

    (channel,) = config.channels
    assert channel.watchlists == ("*",) and channel.min_severity is Severity.LOW
    assert (channel.digest, channel.possible) == ("", False)


def test_written_values_override_defaults() -> None:
    config = load_config(DATA / "valid" / "overrides.toml", {})
    settings = config.settings
    assert (settings.interval, settings.max_age, settings.timeout) == (1200.0, 3 * 86400.0, 90.0)
    assert (settings.max_size, settings.user_agent) == (512_000, "test-agent")
    assert (settings.stale_after, settings.give_up, settings.retention) == (7200, 43200, 2592000)

    tor, direct, own = config.sources
    assert tor.interval == 1200.0  # inherits the settings' interval
    assert tor.proxy == "socks5h://127.0.0.1:9050"  # inherits the settings' proxy
    assert direct.proxy is None  # `proxy = ""` turns it off
    assert own.proxy == "http://proxy.example:3128"
    assert (direct.kind, direct.interval, direct.fulltext, direct.allow_private) == (
        "html",
        300.0,
        True,
        True,
    )
    assert (direct.item, direct.title, direct.link, direct.date) == (
        "ul.news li",
        "a",
        "a",
        "span.date",
    )

    arrests, groups = config.watchlists
    assert arrests.sources == ("Direct", "Through Tor") and arrests.within == 12
    assert groups.severity is Severity.LOW
    assert groups.all == (("ministr*",), ("social media", "បណ្ដាញសង្គម"))

    review, hourly, ops = config.channels
    assert review.min_severity is Severity.HIGH and review.possible
    assert (review.digest, hourly.digest) == ("08:00", "1h")
    assert ops.watchlists == ()


# --- the people list --------------------------------------------------------------------


def test_people_csv_reads_aliases_comments_and_quoted_notes() -> None:
    people, issues = load_people(DATA / "valid" / "people.csv")
    assert issues == []
    sithar, ath, theary = people
    assert sithar.aliases == ("ឈឹម ស៊ីថា", "ឈឹម ស៊ីថរ")
    assert sithar.note == "union leader, NagaWorld"
    assert ath.note == "a note that spans\ntwo lines"
    assert theary.aliases == () and theary.note == ""


PEOPLE = DATA / "people"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "bad_rows",
            [
                (4, "name", "empty name"),
                (5, "aliases", 'empty alias (a stray "|")'),
                (6, "row", "4 fields but the header has 3"),
            ],
        ),
        ("bad_header", [(1, "header", 'unknown column "phone"')]),
        ("no_header", [(1, "header", 'first row must be the header "name,aliases,note"')]),
        ("header_only", [(1, "name", "the list has no people")]),
        ("not_utf8", [(3, "people", "not UTF-8 text")]),
    ],
)
def test_people_csv_problems_name_the_csv_and_its_line(
    name: str, expected: list[tuple[int, str, str]]
) -> None:
    issues = check_config(PEOPLE / f"{name}.toml", {})
    assert [(i.file, i.line, i.field) for i in issues] == [
        (str(PEOPLE / f"{name}.csv"), line, field) for line, field, _ in expected
    ]
    for issue, (_, _, message) in zip(issues, expected, strict=True):
        assert issue.message.startswith(message)


# Each malformed shape that once lost people without a word (issue 20): the error names the
# line where the problem starts and the column, its advice matches the fix, and every other
# row is still read.
@pytest.mark.parametrize(
    ("name", "expected", "people"),
    [
        pytest.param(
            "stray_quote",
            [(3, "name", 'the quote (") that opens the name here is not closed on this line')],
            ["Chhim Sithar", "Theary Seng", "Chak Sopheap"],
            id="stray-quote-at-line-start",
        ),
        pytest.param(
            "unclosed_note",
            [(2, "note", 'the quote (") that opens the note here is not closed on this line')],
            ["Am Sam Ath", "Theary Seng"],
            id="unclosed-note-then-quoted-note",
        ),
        pytest.param(
            "unclosed_note_closed_later",
            [(2, "note", 'the quote (") that opens the note here is not closed on this line')],
            ["Am Sam Ath", "Theary Seng", "Chak Sopheap"],
            id="unclosed-note-closed-rows-later",
        ),
        pytest.param(
            "unclosed_last_line",
            [(3, "note", 'the quote (") that opens the note here is not closed on this line')],
            ["Chhim Sithar"],
            id="unclosed-quote-on-the-last-line",
        ),
        pytest.param(
            "text_after_quote",
            [(2, "name", 'text after the closing quote (") of the name: remove the quotes')],
            ["Theary Seng"],
            id="text-after-a-closing-quote",
        ),
        pytest.param(
            "quote_in_name",
            [(2, "name", 'holds a quote (")')],
            ["Theary Seng"],
            id="quote-inside-a-name",
        ),
        pytest.param(
            "comma_in_name",
            [(2, "name", "holds a comma")],
            ["Chhim Sithar"],
            id="comma-inside-a-quoted-name",
        ),
        pytest.param(
            "comma_in_alias",
            [(2, "aliases", "holds a comma")],
            ["Theary Seng"],
            id="comma-inside-an-alias",
        ),
        pytest.param(
            "line_break_in_alias",
            [(2, "aliases", "holds a line break")],
            ["Theary Seng"],
            id="line-break-inside-an-alias",
        ),
    ],
)
def test_a_malformed_people_row_is_an_error_and_loses_nobody_else(
    name: str, expected: list[tuple[int, str, str]], people: list[str]
) -> None:
    issues = check_config(PEOPLE / f"{name}.toml", {})
    assert [(i.file, i.line, i.field) for i in issues] == [
        (str(PEOPLE / f"{name}.csv"), line, field) for line, field, _ in expected
    ]
    for issue, (_, _, message) in zip(issues, expected, strict=True):
        assert issue.message.startswith(message), issue.message
        # The old advice for an unclosed quote was the opposite of the fix.
        assert "quote a field that holds a comma" not in issue.message
        if "not closed" in issue.message:
            assert 'with a closing "' in issue.message
    found, _ = load_people(PEOPLE / f"{name}.csv")
    assert [p.name for p in found] == people


def test_a_row_with_fewer_fields_than_the_header_is_a_warning() -> None:
    path = PEOPLE / "fewer_fields.toml"
    assert check_config(path, {}) == []
    loaded = read_config(path, {})
    csv_file = str(PEOPLE / "fewer_fields.csv")
    assert [(w.file, w.line, w.field) for w in loaded.warnings] == [
        (csv_file, 2, "row"),
        (csv_file, 3, "row"),
    ]
    assert loaded.warnings[0].message == (
        "warning: 1 field but the header has 3 (name, aliases, note): aliases, note read as empty"
    )
    (arrests,) = loaded.config.watchlists
    assert [p.name for p in arrests.people] == ["Chhim Sithar", "Theary Seng", "Am Sam Ath"]
    assert loaded.people_counts == ((csv_file, 3),)


def test_more_fields_than_the_header_advises_quoting_the_note() -> None:
    issues = check_config(PEOPLE / "bad_rows.toml", {})
    row = next(i for i in issues if i.field == "row")
    assert row.line == 6
    assert 'a note that holds a comma must be in quotes ("…, …")' in row.message


def test_a_quote_in_a_comment_line_opens_nothing() -> None:
    loaded = read_config(PEOPLE / "one_person.toml", {})
    (arrests,) = loaded.config.watchlists
    assert [(p.name, p.note) for p in arrests.people] == [
        ("Chhim Sithar", "union leader, NagaWorld")
    ]
    assert loaded.people_counts == ((str(PEOPLE / "one_person.csv"), 1),)


def test_unreadable_people_list_points_at_the_config_line() -> None:
    path = DATA / "invalid" / "people_missing.toml"
    (issue,) = check_config(path, {})
    assert (issue.file, issue.line, issue.field) == (str(path), 6, "watchlists[Arrests].people")
    assert str(DATA / "invalid" / "nowhere.csv") in issue.message


# --- durations and sizes ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("2h", 7200), ("7d", 604800), ("1h30m", 5400), (" 1.5h ", 5400)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "15 minutes", "m", "-1h", "1w"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [("10MB", 10_000_000), ("512KB", 512_000), ("1MiB", 1_048_576), ("800B", 800), ("2 gb", 2e9)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "10", "ten MB", "10XB"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


# --- the state folder (issue 20, point 3) ---------------------------------------------


STATE = DATA / "state_dir"


@pytest.mark.parametrize("name", ["under_a_file", "is_a_file"])
def test_check_refuses_a_state_folder_that_cannot_be_created(name: str) -> None:
    path = STATE / f"{name}.toml"
    assert check_config(path, {}) == []  # the shape is fine: only `check` probes the folder
    with pytest.raises(ConfigError) as raised:
        read_config(path, {}, probe_state=True)
    assert_issues_match(raised.value.issues, path)


def test_checking_the_state_folder_leaves_nothing_behind(tmp_path: Path) -> None:
    config = tmp_path / "watcher.toml"
    config.write_text(
        (DATA / "valid" / "minimal.toml")
        .read_text(encoding="utf-8")
        .replace('state_dir = "state"', 'state_dir = "deep/er/state"'),
        encoding="utf-8",
    )
    read_config(config, {}, probe_state=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watcher.toml"]
    (tmp_path / "deep" / "er" / "state").mkdir(parents=True)
    read_config(config, {}, probe_state=True)
    assert list((tmp_path / "deep" / "er" / "state").iterdir()) == []


# --- commands that send nothing (issue 20, point 4) ------------------------------------


def test_without_secrets_a_read_only_load_lists_the_unchecked_channels() -> None:
    path = DATA / "valid" / "secrets.toml"
    with pytest.raises(ConfigError):
        read_config(path, {})
    loaded = read_config(path, {"SIGNAL_HOST": "127.0.0.1:8080"}, need_secrets=False)
    assert loaded.unchecked == (
        ("signal", ("SIGNAL_FROM", "SIGNAL_TO")),
        ("telegram", ("TELEGRAM_TOKEN", "TELEGRAM_CHAT")),
    )
    assert [c.name for c in loaded.config.channels] == ["signal", "telegram"]
    assert all(c.url == "" for c in loaded.config.channels)


def test_a_read_only_load_still_reports_other_channel_mistakes() -> None:
    path = DATA / "invalid" / "channels.toml"
    with pytest.raises(ConfigError) as raised:
        read_config(path, {}, need_secrets=False)
    assert_issues_match(raised.value.issues, path)
