"""Whether `settings.state_dir` can be used: created if missing, and written in.

`watcher check` runs this so that a state folder under a file, on a read-only disk or
owned by another user is a config error (`settings.state_dir: …`) before `once` or `run`
needs it, rather than a traceback afterwards. The commands that use the state run it
too and turn its answer into one line and exit status 1.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path


def state_dir_problem(path: str | Path, *, keep: bool = False) -> str | None:
    """Why the folder `path` cannot hold watcher's state, or None when it can.

    Creates the missing folders and writes (and deletes) a nameless file in it. With
    `keep=False` (a check) the folders it created are removed again, so checking leaves
    nothing behind; with `keep=True` (a command about to use the state) they stay.
    """
    folder = Path(path)
    created: list[Path] = []
    try:
        missing: list[Path] = []
        step = folder
        while not step.exists():
            missing.append(step)
            if step.parent == step:
                break
            step = step.parent
        for part in reversed(missing):
            try:
                part.mkdir()
            except OSError as error:
                return f"cannot create the folder {part}: {_reason(error)}"
            created.append(part)
        if not folder.is_dir():
            return f"not a folder: {folder} is a file"
        try:
            # An unnamed temporary file (O_TMPFILE where the system has it): nothing to
            # clean up even if this process dies right here.
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            return f"cannot write in {folder}: {_reason(error)}"
        return None
    except OSError as error:  # e.g. a parent folder that cannot be searched
        return f"cannot reach {folder}: {_reason(error)}"
    finally:
        if not keep:
            for part in reversed(created):
                # Not empty any more: something else uses it now; leave it.
                with contextlib.suppress(OSError):
                    part.rmdir()


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
