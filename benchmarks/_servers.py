"""Servers under test: real uvicorn or `hardened run` subprocesses on 127.0.0.1, and their CPU time.

CPU time comes from `/proc/<pid>/stat` (user + system ticks of the server process), which a shared
machine disturbs far less than requests per second do.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = [
    "Server",
    "ServerSpec",
    "checkout_path",
    "cpu_seconds",
    "free_port",
    "parse_proc_stat",
    "start_all",
]

HOST = "127.0.0.1"


def checkout_path(checkout: Path) -> str:
    """The PYTHONPATH that imports hardened and the benchmark apps from another checkout."""
    return f"{checkout / 'src'}{os.pathsep}{checkout}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def parse_proc_stat(text: str, ticks_per_second: int) -> float:
    """User + system CPU seconds from the contents of `/proc/<pid>/stat`.

    The command name (field 2) sits in parentheses and may itself hold spaces or ')', so fields
    are counted from the last ')'. utime and stime are fields 14 and 15.
    """
    tail = text[text.rindex(")") + 2 :].split()
    utime, stime = int(tail[11]), int(tail[12])
    return (utime + stime) / ticks_per_second


def cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by process `pid` (Linux)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return parse_proc_stat(text, os.sysconf("SC_CLK_TCK"))


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerSpec:
    """How to start one server variant.

    `runner` is "uvicorn" (stock `python -m uvicorn`) or "hardened" (`hardened run`, the admin
    listener off). `ready_path` is polled until it answers at all (any HTTP status).
    """

    label: str
    app: str
    runner: str = "uvicorn"
    args: tuple[str, ...] = ()
    ready_path: str = "/"
    access_log: bool = False
    # Import hardened (and the benchmark apps) from this checkout instead of this one.
    checkout: Path | None = None

    def __post_init__(self) -> None:
        if self.runner not in ("uvicorn", "hardened"):
            raise ValueError(f"runner must be 'uvicorn' or 'hardened', not {self.runner!r}")

    def command(self, port: int) -> list[str]:
        """The argv that serves this variant on `port`."""
        if self.runner == "hardened":
            base = [sys.executable, "-m", "hardened", "run", self.app, "--admin-port", "0"]
            return [*base, "--port", str(port), *self.args]
        base = [sys.executable, "-m", "uvicorn", self.app, "--host", HOST, "--port", str(port)]
        if not self.access_log:
            base += ["--no-access-log", "--log-level", "warning"]
        return [*base, *self.args]


@dataclass
class Server:
    """One running server subprocess; a context manager that always ends it."""

    spec: ServerSpec
    cwd: Path
    log_dir: Path
    startup_timeout: float = 30.0
    port: int = field(default=0, init=False)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    log_path: Path | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("server not started")
        return self.process.pid

    def start(self) -> Server:
        """Start the process and wait until `ready_path` answers."""
        self.port = free_port()
        safe = "".join(c if c.isalnum() else "-" for c in self.spec.label)
        self.log_path = self.log_dir / f"{safe}-{self.port}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self.spec.checkout is not None:
            env["PYTHONPATH"] = checkout_path(self.spec.checkout)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.spec.command(self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.spec.checkout or self.cwd,
                env=env,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def output(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.spec.label} exited at start-up:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url + self.spec.ready_path, timeout=1.0):
                    return
            except urllib.error.HTTPError:
                return  # it answered; a status is an answer
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        raise TimeoutError(f"{self.spec.label} not answering within {self.startup_timeout}s")

    def cpu(self) -> float:
        """CPU seconds the server has used so far."""
        return cpu_seconds(self.pid)

    def signal(self, sig: int = signal.SIGTERM) -> None:
        """Send `sig` to the server."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if it is still running after `timeout` seconds."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; idempotent."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        if self.wait(10.0) is None:
            self.process.kill()
            self.process.wait(timeout=10.0)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_all(specs: Sequence[ServerSpec], cwd: Path, log_dir: Path) -> list[Server]:
    """Start every spec (all or none: on a failure the ones started are stopped)."""
    started: list[Server] = []
    try:
        for spec in specs:
            started.append(Server(spec, cwd, log_dir).start())
    except BaseException:
        for server in started:
            server.stop()
        raise
    return started
