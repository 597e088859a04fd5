"""Apprise's check of channel URLs, in a short-lived child process.

Loading Apprise with every plugin costs ~34 MB and ~0.3 s of CPU; a command that sends
nothing (or a `once` that finds nothing to send) only needs Apprise's verdict on the
channel URLs at config load. So `ChannelCheck` runs this file as a child: the URLs
arrive as a JSON list on its stdin (never in argv or the environment, where `ps` would
show them), one verdict per URL leaves as a JSON list of booleans on its stdout, and
Apprise's memory goes with the process.

The child imports Apprise first and reads its stdin after, so a caller can start it
before it knows the URLs (`watcher once` does, before it imports the config code) and
the import runs while the config is read. It is run by path with `python -P`, not with
`-m`: this module imports nothing of watcher (importing a package runs its `__init__`),
and `-P` keeps the script's folder off `sys.path`. For the same reason it lives at the
top of the package: `watcher.config.channel_check` would import the config package
(pydantic and the loader) in the parent before the child could start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger("watcher.config")

#: Seconds the child may take; past that it is killed and the URLs are checked in-process.
CHILD_TIMEOUT = 60.0


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


def accepts(urls: Sequence[str]) -> list[bool]:
    """Whether Apprise can build a notifier from each of `urls` (parses only; sends nothing)."""
    import apprise  # imported here: loading its plugins takes a noticeable fraction of a second

    with _apprise_quiet():
        return [apprise.Apprise.instantiate(url) is not None for url in urls]


def child_command() -> list[str]:
    """How the child is started: this interpreter, running this file by path (see above)."""
    return [sys.executable, "-P", str(Path(__file__))]


class ChannelCheck:
    """Apprise's verdicts on a batch of URLs, worked out in a child process.

    The child starts at construction and loads Apprise while the caller goes on;
    `submit` hands it the URLs (a thread feeds it and waits for the answer) and
    `verdicts` collects that answer. When no child can be started, or it fails, times
    out or answers nonsense, the URLs are checked in this process instead: the same
    answer, only with Apprise's memory kept. Nothing of the URLs is logged, here or by
    the child (its stderr is discarded: a traceback there could quote one).
    """

    def __init__(self) -> None:
        self.urls: list[str] | None = None
        self._verdicts: list[bool] | None = None
        self._failure = ""
        self._thread: threading.Thread | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        try:
            self._proc = subprocess.Popen(
                child_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            self._failure = f"cannot start: {type(exc).__name__}"

    def submit(self, urls: Sequence[str]) -> None:
        """Hand the child the URLs to check; returns at once."""
        self.urls = list(urls)
        if not self.urls:
            self._verdicts = []
            self.close()
        elif self._proc is not None:
            self._thread = threading.Thread(target=self._collect, name="channel-check")
            self._thread.daemon = True
            self._thread.start()

    def _collect(self) -> None:
        assert self._proc is not None and self.urls is not None
        try:
            out, _ = self._proc.communicate(json.dumps(self.urls).encode(), CHILD_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.close()
            self._failure = "timed out"
            return
        except (OSError, ValueError) as exc:
            self.close()
            self._failure = type(exc).__name__
            return
        try:
            verdicts = json.loads(out) if self._proc.returncode == 0 else None
        except ValueError:
            verdicts = None
        if (
            isinstance(verdicts, list)
            and len(verdicts) == len(self.urls)
            and all(isinstance(v, bool) for v in verdicts)
        ):
            self._verdicts = verdicts
        else:
            self._failure = f"child exit status {self._proc.returncode}"

    def verdicts(self) -> list[bool]:
        """One verdict per submitted URL, in order: whether Apprise can use it. Waits."""
        if self.urls is None:
            raise RuntimeError("ChannelCheck.verdicts() before submit()")
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._verdicts is None:
            log.warning("event=channel-check-in-process reason=%r", self._failure)
            self._verdicts = accepts(self.urls)
        return self._verdicts

    def close(self) -> None:
        """Stop the child if it still runs (the URLs never came, or are not needed)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> int:
    """The child: load Apprise, read the URLs from stdin, write the verdicts to stdout.

    Exits 0 without output when stdin closes empty (the parent needed no check), and 2 on
    a malformed request.
    """
    # First, while the parent still reads its config: Apprise and its plugins (they load
    # on the first URL it parses, so parse one that names no secret).
    accepts(["json://localhost/"])
    data = sys.stdin.read()
    if not data:
        return 0
    try:
        urls = json.loads(data)
    except ValueError:
        return 2
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        return 2
    json.dump(accepts(urls), sys.stdout)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
