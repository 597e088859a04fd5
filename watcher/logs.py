"""Logging: one event a line, `key=value` fields, secrets redacted (SPEC §9, §7).

The daemon logs to standard output for the journal; one-shot commands log
warnings to standard error so their own output stays readable.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import TextIO


class RedactingFilter(logging.Filter):
    """Replaces known secrets (channel URL parts from the environment) with `***`
    in every record, including those of libraries such as Apprise."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        """Add secrets to hide (longest first, so no part of one survives)."""
        self.secrets = sorted(set(self.secrets) | {s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        for secret in self.secrets:
            message = message.replace(secret, "***")
        record.msg = message
        record.args = None
        return True


_FILTER = RedactingFilter()


def setup_logging(level: int = logging.WARNING, stream: TextIO | None = None) -> RedactingFilter:
    """Configure the root logger once; returns the redacting filter to feed secrets to."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    handler.addFilter(_FILTER)
    root.addHandler(handler)
    root.setLevel(level)
    # Apprise logs every attempt at INFO, with recipient details; keep it to problems.
    logging.getLogger("apprise").setLevel(max(level, logging.WARNING))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    return _FILTER


def redaction_filter() -> RedactingFilter:
    """The process-wide filter that hides secrets in every log line."""
    return _FILTER
