"""Channel URLs: `${VAR}` filled from the environment, then checked with Apprise.

Secrets (tokens, passwords, phone numbers) stay out of the config file: a channel URL
names environment variables instead (SPEC §7). Messages name the variable or the URL's
scheme only, never the rest of the URL.

Apprise's check runs in a short-lived child process (`watcher.channel_check`, one per
config load for every channel), so that a process that sends nothing never loads
Apprise's ~34 MB of plugins; `watcher once` and `watcher run` start it before they read
the config and collect the verdicts just before the first poll (`PendingChannelCheck`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from watcher.channel_check import ChannelCheck
from watcher.config.issues import ConfigIssue

_ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def expand_channel_url(template: str, environ: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """Fill `${VAR}` in `template` from `environ` and check Apprise can use the result.

    Returns `(url, [])`, or `(None, problems)`: every variable that is unset or empty
    and every malformed reference, else the one reason Apprise refuses the URL.
    Messages name the variable or the URL's scheme only: the rest of a channel URL
    holds tokens, passwords or phone numbers (SPEC §7). (One URL, one child process:
    the config loader batches its channels with `fill_channel_url` and `ChannelCheck`.)
    """
    url, problems = fill_channel_url(template, environ)
    if url is None:
        return None, problems
    check = ChannelCheck()
    check.submit([url])
    if not check.verdicts()[0]:
        return None, [refusal(template)]
    return url, []


def fill_channel_url(template: str, environ: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """Fill `${VAR}` in `template` from `environ`, without asking Apprise.

    Returns `(url, [])`, or `(None, problems)`: every variable that is unset or empty
    and every malformed reference.
    """
    problems: list[str] = []
    unset: dict[str, None] = {}  # ordered set: one message naming every missing variable
    empty: dict[str, None] = {}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if not _ENV_NAME.fullmatch(name):
            problems.append(f'"${{{name}}}" is not a valid environment variable name')
        elif name not in environ:
            unset[name] = None
        elif not environ[name]:
            empty[name] = None
        else:
            # Inserted as written, not URL-encoded: a variable may hold "host:port" or
            # a path. Passwords with "@" or "/" must be stored percent-encoded.
            return environ[name]
        return ""

    url = _ENV_REFERENCE.sub(substitute, template)
    if "${" in _ENV_REFERENCE.sub("", template):
        problems.append('"${" without a closing "}"')
    for names, state in ((unset, "not set"), (empty, "empty")):
        if len(names) == 1:
            problems.append(f"environment variable {next(iter(names))} is {state}")
        elif names:
            problems.append(f"environment variables {', '.join(names)} are {state}")
    if problems:
        return None, problems
    return url, []


def refusal(template: str) -> str:
    """The message for a URL Apprise refuses: it names the service, not the URL."""
    scheme = urlsplit(template).scheme or template.split(":", 1)[0][:20]
    return (
        f'not a URL that Apprise accepts (service "{scheme}://"); '
        "check its form in the Apprise documentation for that service"
    )


def missing_variables(template: str, environ: Mapping[str, str]) -> list[str]:
    """The `${VAR}` names in `template` that `environ` leaves unset or empty, in order.

    Commands that only read the state (`status`, `export`, `explain`) send nothing, so a
    channel with such variables is reported as not checked rather than as an error.
    """
    names = [m.group(1) for m in _ENV_REFERENCE.finditer(template)]
    missing = [n for n in names if _ENV_NAME.fullmatch(n) and not environ.get(n)]
    return list(dict.fromkeys(missing))


@dataclass(frozen=True)
class ChannelUrl:
    """Where a channel's `url` is written, and its template (for the refusal message)."""

    file: str
    line: int
    field: str
    template: str


class PendingChannelCheck:
    """The config's channel URLs under check: `issues()` waits for the verdicts.

    `watcher once` and `watcher run` hold one while they import what they need, and
    resolve it before anything is polled or written; a refused URL is then the same
    `FILE:LINE: field: message` a synchronous load reports.
    """

    def __init__(self, places: Sequence[ChannelUrl], check: ChannelCheck | None) -> None:
        """`check`: a `ChannelCheck` the URLs of `places` were submitted to, in order;
        None when there are none."""
        self.places = list(places)
        self.check = check

    def issues(self) -> list[ConfigIssue]:
        """The channels whose URL Apprise refuses, in line order (empty: all accepted)."""
        verdicts = self.check.verdicts() if self.check is not None else []
        return [
            ConfigIssue(p.file, p.line, p.field, refusal(p.template))
            for p, ok in zip(self.places, verdicts, strict=True)
            if not ok
        ]
