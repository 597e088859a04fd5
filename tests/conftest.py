"""Shared test set-up: make tests/ importable for helper servers."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


import pytest


@pytest.fixture(scope="session")
def pg_server():  # type: ignore[no-untyped-def]
    """A real PostgreSQL server for this test process (tests/pgserver.py), or a skip
    that says why there can be none on this machine."""
    from pgserver import start_server

    server = start_server()
    if isinstance(server, str):
        pytest.skip(server)
    yield server
    server.cleanup()


@pytest.fixture
def pg_url(pg_server) -> str:  # type: ignore[no-untyped-def]
    """The URL of a new, empty database on the test server."""
    return str(pg_server.create_db())


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A parse pool of one worker process that takes even small feeds (the fixtures are)."""
    from watcher.pipeline import pool as parallel

    monkeypatch.setattr(parallel, "MIN_POOL_BYTES", 0)
    made = parallel.ParsePool(workers=1)
    yield made
    made.close()
