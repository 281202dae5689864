"""Run a service under a real uvicorn subprocess (`hardened run`) on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RunningServer", "free_port", "free_ports", "run_server"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on `host`."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct TCP ports that were free a moment ago on `host` (all bound at once,
    so the kernel cannot hand out the same port twice)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


@dataclass
class RunningServer:
    """A `hardened run` subprocess: its URLs, process, and captured output."""

    process: subprocess.Popen[bytes]
    port: int
    admin_port: int | None
    log_path: Path
    exit_code: int | None = field(default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        if self.admin_port is None:
            raise LookupError("this server runs without an admin listener")
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` to the server process."""
        self.process.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for the process to exit; its exit code."""
        self.exit_code = self.process.wait(timeout=timeout)
        return self.exit_code


def _wait_until_live(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"server exited with {server.process.returncode}:\n{server.output()}"
            )
        try:
            with urllib.request.urlopen(f"{server.url}/readyz", timeout=1.0) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"server not ready within {timeout}s:\n{server.output()}")


@contextlib.contextmanager
def run_server(
    app: str,
    *,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    admin: bool = True,
    cwd: str | os.PathLike[str] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    command: Sequence[str] | None = None,
    startup_timeout: float = 30.0,
) -> Iterator[RunningServer]:
    """Start `hardened run APP` on free ports, wait until `/readyz` is 200, stop it on exit.

    `command` replaces the launcher (for example to run under `unshare` or a shell), the
    `hardened run` arguments being appended to it.
    """
    port, admin_port = free_ports(2) if admin else (free_port(), None)
    run_args = [app, "--port", str(port), "--admin-port", str(admin_port or 0), *args]
    launcher = list(command) if command else [sys.executable, "-m", "hardened"]
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    directory = Path(log_dir) if log_dir else Path(tempfile.gettempdir())
    log_path = directory / f"hardened-server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*launcher, "run", *run_args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
        )
    server = RunningServer(process=process, port=port, admin_port=admin_port, log_path=log_path)
    try:
        _wait_until_live(server, startup_timeout)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
