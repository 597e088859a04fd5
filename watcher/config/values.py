"""Value readers: each turns one raw TOML value into a config value, or says what is wrong.

A reader returns the value or raises (through `_fail`) with a message in the config's
own words ("must be longer than zero", "unknown time zone"), rather than pydantic's.
The `Annotated` types at the end (`Duration`, `Terms`, ...) hand a table's raw value
to its reader; watcher.config.tables declares each table's keys with them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

from watcher.config.durations import parse_duration, parse_size
from watcher.config.issues import toml_repr, toml_type
from watcher.models import Severity
from watcher.sources import KINDS

_PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
_DAILY_TIME = re.compile(r"(\d{1,2}):(\d{2})")


def _fail(message: str) -> PydanticCustomError:
    # The message goes through pydantic's template; pass it as context so "{" is safe.
    return PydanticCustomError("config", "{reason}", {"reason": message})


def read_string(value: object) -> str:
    if not isinstance(value, str):
        raise _fail(f"must be a string, not {toml_type(value)}")
    return value


def read_text(value: object) -> str:
    text = read_string(value).strip()
    if not text:
        raise _fail("must not be empty")
    return text


def read_entry_name(value: object) -> str:
    name = read_text(value)
    if name == "*":
        raise _fail('"*" means "all" where names are listed; choose another name')
    return name


def read_optional_name(value: object) -> str | None:
    return read_string(value).strip() or None


def read_duration(value: object) -> float:
    try:
        seconds = parse_duration(read_string(value))
    except ValueError as error:
        raise _fail(str(error)) from None
    if seconds <= 0:
        raise _fail("must be longer than zero")
    return seconds


def read_size(value: object) -> int:
    try:
        size = parse_size(read_string(value))
    except ValueError as error:
        raise _fail(str(error)) from None
    if size <= 0:
        raise _fail("must be larger than zero")
    return size


def read_timezone(value: object) -> str:
    name = read_text(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(
            f'unknown time zone "{name}"; use an IANA name such as "Asia/Phnom_Penh"'
        ) from None
    return name


def read_proxy(value: object) -> str | None:
    text = read_string(value).strip()
    if not text:
        return None
    parts = urlsplit(text)
    # Only the scheme is echoed: a proxy URL may carry a user name and password.
    if parts.scheme.lower() not in _PROXY_SCHEMES:
        raise _fail(
            f'proxy scheme must be http, https, socks5 or socks5h, not "{parts.scheme}"'
            if parts.scheme
            else 'must be a proxy URL such as "socks5://127.0.0.1:9050"'
        )
    if not parts.hostname:
        raise _fail("proxy URL has no host")
    return text


def read_http_url(value: object) -> str:
    url = read_text(value)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _fail(f'must be an http:// or https:// URL, not "{url}"')
    if any(char.isspace() for char in url):
        raise _fail(f'URL contains a space: "{url}"')
    return url


def read_kind(value: object) -> str:
    kind = read_string(value).strip()
    if kind not in KINDS:
        raise _fail(f'must be one of {", ".join(KINDS)}, not "{kind}"')
    return kind


def read_severity(value: object) -> Severity:
    text = read_string(value)
    try:
        return Severity.parse(text)
    except KeyError:
        names = ", ".join(s.label for s in Severity)
        raise _fail(f'must be one of {names}, not "{text}"') from None


def read_selector(value: object) -> str:
    selector = read_text(value)
    if not _css_selector_ok(selector):
        raise _fail(f'not a CSS selector the HTML parser understands: "{selector}"')
    return selector


def _known_term_sets() -> frozenset[str]:
    """`watcher.config.KNOWN_TERM_SETS`, read when a term is checked, not copied at import.

    The package's name is the one list `check` accepts (and the one tests replace). A
    top-level import would copy the binding, and import the package from inside itself.
    """
    from watcher import config

    return config.KNOWN_TERM_SETS


def _term_problem(term: object) -> str | None:
    if not isinstance(term, str):
        return f"a term must be a string, not {toml_type(term)}"
    if not term.strip():
        return "empty term"
    if term.strip().startswith("@"):
        name = term.strip()[1:]
        known_sets = _known_term_sets()
        if name not in known_sets:
            known = ", ".join(f"@{n}" for n in sorted(known_sets))
            return f"unknown term set @{name} (known: {known})"
    return None


def read_terms(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(f"must be an array of strings, not {toml_type(value)}")
    problems = [p for p in map(_term_problem, value) if p]
    if problems:
        raise _fail("; ".join(dict.fromkeys(problems)))
    return tuple(term.strip() for term in value)


def read_all_terms(value: object) -> tuple[tuple[str, ...], ...]:
    """`all = ["x", ["y", "z"]]` → `(("x",), ("y", "z"))`: a list entry is "one of these"."""
    if not isinstance(value, list):
        raise _fail(f"must be an array, not {toml_type(value)}")
    groups: list[tuple[str, ...]] = []
    problems: list[str] = []
    for entry in value:
        group = entry if isinstance(entry, list) else [entry]
        if not group:
            problems.append("an entry that is a list needs at least one term")
        problems.extend(p for p in map(_term_problem, group) if p)
        groups.append(tuple(t.strip() for t in group if isinstance(t, str)))
    if problems:
        raise _fail("; ".join(dict.fromkeys(problems)))
    return tuple(groups)


def read_names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(f'must be an array of names (or ["*"]), not {toml_type(value)}')
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail("every entry must be a name (a non-empty string)")
    return tuple(v.strip() for v in value)


def read_within(value: object) -> int:
    # bool is an int in Python; `within = true` is a mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _fail(f"must be a whole number of words above zero, not {toml_repr(value)}")
    return value


def read_digest(value: object) -> str:
    text = read_string(value).strip()
    if not text:
        return ""
    daily = _DAILY_TIME.fullmatch(text)
    if daily is not None:
        if int(daily.group(1)) > 23 or int(daily.group(2)) > 59:
            raise _fail(f'"{text}" is not a time of day (00:00 to 23:59)')
        return text
    try:
        if parse_duration(text) > 0:
            return text
    except ValueError:
        pass
    raise _fail(
        f'must be "" (send at once), a daily time "HH:MM", or a duration such as "1h"; not "{text}"'
    )


def read_listen(value: object) -> str:
    """`[web] listen`: "HOST:PORT" (an IPv6 host in brackets, "[::1]:8080")."""
    text = read_text(value)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise _fail(f'must be "HOST:PORT" such as "127.0.0.1:8080", not "{text}"')
    if not 0 < int(port) < 65536:
        raise _fail(f"port must be 1 to 65535, not {port}")
    if host.startswith("[") != host.endswith("]") or any(c.isspace() for c in host):
        raise _fail(f'not a host name or address: "{host}"')
    return text


_T = TypeVar("_T")


def _reads(reader: Callable[[object], _T]) -> Any:
    """A pydantic annotation that hands the raw TOML value to `reader`."""
    return PlainValidator(reader)


Text = Annotated[str, _reads(read_text)]
Name = Annotated[str, _reads(read_entry_name)]
OptionalName = Annotated[str | None, _reads(read_optional_name)]
Duration = Annotated[float, _reads(read_duration)]
OptionalDuration = Annotated[float | None, _reads(read_duration)]
Size = Annotated[int, _reads(read_size)]
Timezone = Annotated[str, _reads(read_timezone)]
Proxy = Annotated[str | None, _reads(read_proxy)]
HttpUrl = Annotated[str, _reads(read_http_url)]
Kind = Annotated[str, _reads(read_kind)]
SeverityName = Annotated[Severity, _reads(read_severity)]
Selector = Annotated[str | None, _reads(read_selector)]
Terms = Annotated[tuple[str, ...], _reads(read_terms)]
AllTerms = Annotated[tuple[tuple[str, ...], ...], _reads(read_all_terms)]
Names = Annotated[tuple[str, ...], _reads(read_names)]
Within = Annotated[int, _reads(read_within)]
Digest = Annotated[str, _reads(read_digest)]
PeopleFile = Annotated[str | None, _reads(read_text)]
Listen = Annotated[str, _reads(read_listen)]


def _css_selector_ok(selector: str) -> bool:
    """Whether the HTML parser the sources use can compile `selector` (unknown: assume yes)."""
    try:
        from selectolax.lexbor import LexborHTMLParser, SelectolaxError
    except ImportError:  # pragma: no cover - selectolax is a declared dependency
        return True
    try:
        LexborHTMLParser("<p></p>").css(selector)
    except SelectolaxError:
        return False
    return True
