"""`settings.database`: where the state lives when it is not SQLite in `state_dir` (SPEC §11).

`postgresql://watcher:${PGPASSWORD}@db.example:5432/watcher`: `${VAR}` is filled from the
environment, as in channel URLs, so the password stays in the service's environment file.
A password written into the config itself is refused. Messages never repeat the URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

SCHEMES = ("postgresql", "postgres")
_ENV_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def expand_database_url(
    template: str, environ: Mapping[str, str]
) -> tuple[str | None, list[str], set[str]]:
    """`(url, problems, secrets)`: the URL with `${VAR}` filled, every problem (None for
    the URL then), and the values that must never be shown (what came from the
    environment, and the password however it got there)."""
    problems: list[str] = []
    secrets: set[str] = set()
    scheme = urlsplit(template).scheme.lower()
    if scheme not in SCHEMES:
        shown = f'"{scheme}://"' if scheme else "none"
        return None, [f"must be a postgresql:// URL (scheme: {shown})"], secrets
    userinfo = template.split("://", 1)[1].split("/", 1)[0].rpartition("@")[0]
    password = userinfo.partition(":")[2] if ":" in userinfo else ""
    if password and not _ENV_REFERENCE.fullmatch(password):
        problems.append(
            "a password written into the config: write ${PGPASSWORD} and keep the "
            "password in the service's environment"
        )

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if not _ENV_NAME.fullmatch(name):
            problems.append(f'"${{{name}}}" is not a valid environment variable name')
            return ""
        value = environ.get(name)
        if not value:
            state = "empty" if value == "" else "not set"
            problems.append(f"environment variable {name} is {state}")
            return ""
        secrets.add(value)
        return value

    url = _ENV_REFERENCE.sub(substitute, template)
    if "${" in _ENV_REFERENCE.sub("", template):
        problems.append('"${" without a closing "}"')
    if problems:
        return None, problems, secrets
    parts = urlsplit(url)
    if not parts.hostname and "host=" not in (parts.query or ""):
        return None, ["names no database host"], secrets
    if parts.password:
        secrets.update({parts.password, unquote(parts.password)})
    return url, [], {s for s in secrets if len(s) >= 4}


def redact_database_url(url: str) -> str:
    """The URL with its password replaced by `***` (for logs and `status`)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}:***@{host}").geturl()
