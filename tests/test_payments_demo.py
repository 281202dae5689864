"""`make run`: the demo starts PostgreSQL, the processor and the API, prints a curl that
creates a payment, and a Ctrl-C stops all three with `make` exiting 0."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import shlex
import shutil
import signal
import subprocess
import termios
import threading
import time
from pathlib import Path

import httpx
import pytest

from hardened.testing import free_ports

ROOT = Path(__file__).resolve().parent.parent
BANNER_TIMEOUT_S = 90.0  # a first initdb of the embedded PostgreSQL included


class Terminal:
    """A pseudo-terminal whose controlling session runs a command, as a shell would run it in
    the foreground: Ctrl-C typed here is delivered by the terminal, not by the test."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.output = bytearray()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            preexec_fn=self._controlling,  # noqa: PLW1509 - setsid + TIOCSCTTY, nothing else
        )
        os.close(slave)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @staticmethod
    def _controlling() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    def _read(self) -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(self.master, 65536):
                self.output += chunk

    def text(self) -> str:
        return self.output.decode(errors="replace").replace("\r\n", "\n")

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + BANNER_TIMEOUT_S
        while time.monotonic() < deadline and self.process.poll() is None:
            if text in self.text():
                return self.text()
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} in the demo's output:\n{self.text()[-3000:]}")

    def ctrl_c(self) -> None:
        os.write(self.master, b"\x03")

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        os.close(self.master)


def _curl(output: str) -> list[str]:
    """The printed curl command as an argument list (its backslash continuations joined)."""
    start = output.index("  curl ")
    block = output[start : output.index("\n\n", start)].replace("\\\n", " ")
    return shlex.split(block)


def _post(argv: list[str]) -> httpx.Response:
    url = next(arg for arg in argv if arg.startswith("http"))
    headers = dict(argv[i + 1].split(": ", 1) for i, arg in enumerate(argv) if arg == "-H")
    body = argv[argv.index("-d") + 1]
    return httpx.post(url, content=body, headers=headers, timeout=30)


def test_make_run_serves_the_printed_curl_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """The printed curl pays (then replays); Ctrl-C stops everything and make exits 0."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    port, admin, processor = free_ports(3)
    env = {
        **os.environ,
        "PORT": str(port),
        "HARDENED_ADMIN_PORT": str(admin),
        "PROCESSOR_PORT": str(processor),
        "PAYMENTS_PGDATA": str(tmp_path / "pg"),
    }
    for name in ("DATABASE_URL", "PROCESSOR_URL", "PAYMENTS_API_KEYS"):
        env.pop(name, None)
    terminal = Terminal([make, "--no-print-directory", "run"], env)
    try:
        output = terminal.wait_for("Ctrl-C stops")
        curl = _curl(output)
        assert curl[0] == "curl"
        first = _post(curl)
        assert first.status_code == 201, first.text
        assert first.json()["status"] == "succeeded"
        again = _post(curl)
        assert again.headers["idempotent-replayed"] == "true"
        assert re.search(rf"http://127\.0\.0\.1:{admin}/gates", output)
        terminal.ctrl_c()
        assert terminal.process.wait(timeout=60) == 0, terminal.text()[-3000:]
        assert '"outcome":"clean"' in terminal.text()
    finally:
        terminal.close()
    for listening in (port, admin, processor, processor + 1000):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{listening}/livez", timeout=2)
