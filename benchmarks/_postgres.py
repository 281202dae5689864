"""A PostgreSQL for the comparisons that need one: `DATABASE_URL` when set, else a scratch one."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hardened.testing import EmbeddedPostgres, database_url

__all__ = ["scratch_postgres"]


@contextlib.contextmanager
def scratch_postgres(log_dir: Path) -> Iterator[str]:
    """`DATABASE_URL`, or an embedded server in a folder under `log_dir`, deleted afterwards."""
    url = database_url()
    if url is not None:
        yield url
        return
    with tempfile.TemporaryDirectory(dir=log_dir) as folder:
        server = EmbeddedPostgres(Path(folder) / "data", delete_on_stop=True)
        try:
            yield server.url
        finally:
            server.stop()
