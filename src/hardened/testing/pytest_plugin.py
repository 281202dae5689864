"""pytest fixtures: one real PostgreSQL per test session; FakeClock.

Enable with ``pytest_plugins = ["hardened.testing.pytest_plugin"]`` in a `conftest.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hardened.testing._clock import FakeClock
from hardened.testing._postgres import EmbeddedPostgres, database_url


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL URL: `DATABASE_URL` when set, else one embedded server for the session."""
    url = database_url()
    if url is not None:
        yield url
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", delete_on_stop=True)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that moves only when the test advances it."""
    return FakeClock()
