"""Raw-socket helpers shared by the adversarial tests."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

from hardened.testing import RunningServer, run_server

__all__ = ["APP", "PARSERS", "read_until_closed", "serve"]

APP = "tests.apps.hostile:app"
PARSERS = ["h11", "httptools"]


def serve(parser: str, repo_root: Path, *args: str) -> Iterator[RunningServer]:
    """The hostile test app under `hardened run --http <parser>`."""
    with run_server(APP, cwd=repo_root, args=["--http", parser, *args]) as running:
        yield running


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes (EOF or reset) or `timeout` passes; and
    whether it closed."""
    deadline = time.monotonic() + timeout
    received = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return received, True
        if not chunk:
            return received, True
        received += chunk
    return received, False
