"""Test helpers: fake time, real uvicorn subprocesses, real PostgreSQL."""

from hardened.testing._clock import FakeClock
from hardened.testing._postgres import EmbeddedPostgres, database_url
from hardened.testing._server import RunningServer, free_port, free_ports, run_server

__all__ = [
    "EmbeddedPostgres",
    "FakeClock",
    "RunningServer",
    "database_url",
    "free_port",
    "free_ports",
    "run_server",
]
