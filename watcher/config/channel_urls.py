"""Channel URLs: `${VAR}` filled from the environment, then checked with Apprise.

Secrets (tokens, passwords, phone numbers) stay out of the config file: a channel URL
names environment variables instead (SPEC §7). Messages name the variable or the URL's
scheme only, never the rest of the URL.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping
from urllib.parse import urlsplit

_ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def expand_channel_url(template: str, environ: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """Fill `${VAR}` in `template` from `environ` and check Apprise can use the result.

    Returns `(url, [])`, or `(None, problems)`: every variable that is unset or empty
    and every malformed reference, else the one reason Apprise refuses the URL.
    Messages name the variable or the URL's scheme only: the rest of a channel URL
    holds tokens, passwords or phone numbers (SPEC §7).
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
    if not _apprise_accepts(url):
        scheme = urlsplit(template).scheme or template.split(":", 1)[0][:20]
        return None, [
            f'not a URL that Apprise accepts (service "{scheme}://"); '
            "check its form in the Apprise documentation for that service"
        ]
    return url, []


def missing_variables(template: str, environ: Mapping[str, str]) -> list[str]:
    """The `${VAR}` names in `template` that `environ` leaves unset or empty, in order.

    Commands that only read the state (`status`, `export`, `explain`) send nothing, so a
    channel with such variables is reported as not checked rather than as an error.
    """
    names = [m.group(1) for m in _ENV_REFERENCE.finditer(template)]
    missing = [n for n in names if _ENV_NAME.fullmatch(n) and not environ.get(n)]
    return list(dict.fromkeys(missing))


@contextlib.contextmanager
def _apprise_quiet() -> Iterator[None]:
    # Apprise logs the URLs it fails to load (and, at debug level, the ones it loads) with
    # phone numbers and tokens in them; keep its logger silent while we probe.
    logger = logging.getLogger("apprise")
    was_disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was_disabled


def _apprise_accepts(url: str) -> bool:
    """Whether Apprise can build a notifier from `url` (parses only; sends nothing)."""
    import apprise  # imported here: loading its plugins takes a noticeable fraction of a second

    with _apprise_quiet():
        return apprise.Apprise.instantiate(url) is not None
