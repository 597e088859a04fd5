"""One worker process of the parse pool (watcher.pipeline.pool), run as
`python -m watcher.pipeline.worker`.

The protocol, over the worker's stdin and stdout only (frames: an 8-byte big-endian
length, then a pickle):

1. the parent sends the watchlists (a tuple of Watchlist); the worker compiles them
   and answers `READY`;
2. then, one at a time, the parent sends a job `(kind, args)`, kind `"parse"` or
   `"analyse"`, and the worker answers `(True, result)` or `(False, exception)`: an
   exception the job raised (a SourceError keeps its type and message), re-raised in
   the parent;
3. end of stdin (the parent closed the pipe, or died) ends the worker.

stdout is the pipe, so nothing else may reach it: the worker keeps the pipe's file
descriptors for itself and points fd 0 at /dev/null and fd 1 at stderr before it
imports anything that might print (a library writing to stdout would otherwise
corrupt a frame). Logging goes to stderr, as the parent's does.

The imports are kept to what a job needs: the feed parser, the matcher and story
fingerprints (numpy only at the first fingerprint); no config, store, HTTP or
pydantic (docs/performance.md, "Own worker pool").
"""

from __future__ import annotations

import os
import pickle
import signal
import struct
import sys
from typing import IO, Any

HEADER = struct.Struct(">Q")
READY = "ready"


def read_frame(stream: IO[bytes]) -> Any | None:
    """The next frame's object, or None at the end of the stream (a cut frame is an end too)."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (size,) = HEADER.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return pickle.loads(body)


def write_frame(stream: IO[bytes], data: bytes) -> None:
    """One frame of pickled `data`, flushed."""
    stream.write(HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _answer(value: object) -> bytes:
    try:
        return pickle.dumps((True, value), pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # the parent must get an answer either way
        return _failure(exc)


def _failure(exc: BaseException) -> bytes:
    try:
        return pickle.dumps((False, exc), pickle.HIGHEST_PROTOCOL)
    except Exception:  # an exception that does not pickle
        return pickle.dumps((False, RuntimeError(f"{type(exc).__name__}: {exc}")))


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """Answer jobs until `requests` ends."""
    watchlists = read_frame(requests)
    if watchlists is None:
        return
    # Imported here, after the streams are set aside: see the module's docstring.
    from watcher.matching import Matcher
    from watcher.pipeline.analysis import analyse
    from watcher.sources import parse_document

    matcher = Matcher(watchlists)
    write_frame(answers, pickle.dumps(READY))
    while (job := read_frame(requests)) is not None:
        kind, args = job
        try:
            if kind == "parse":
                source, result, tz, since = args
                reply = _answer(parse_document(source, result, tz, since=since))
            elif kind == "analyse":
                reply = _answer(analyse(matcher, *args))
            else:
                reply = _failure(ValueError(f"unknown job {kind!r}"))
        except Exception as exc:  # the job's error is the parent's answer
            reply = _failure(exc)
        write_frame(answers, reply)


def main() -> None:
    """Set the pipes aside, then serve until the parent closes stdin or goes away."""
    # Ctrl-C reaches the whole process group; the parent decides when workers stop
    # (it closes their stdin), so a job in progress is not lost to the keypress.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = os.fdopen(os.dup(0), "rb")
    answers = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    try:
        serve(requests, answers)
    except BrokenPipeError:
        # The parent is gone mid-answer: nothing left to do, and nothing to flush
        # (exiting normally would report the broken pipe again on stderr).
        sys.stdout.flush()  # fd 1 is stderr now
        os._exit(0)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
