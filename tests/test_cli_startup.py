"""Start-up under `hardened run`: a hanging component fails after its start timeout, named,
with exit 3; SIGINT or SIGTERM during start-up stops the process within a second."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from hardened.testing import free_ports

APP = "tests.apps.operator_app:app"


def _start(
    repo_root: Path, env: dict[str, str], app: str = APP
) -> tuple[subprocess.Popen[bytes], Path]:
    port, admin_port = free_ports(2)
    log = Path(tempfile.mkstemp(prefix="hardened-startup-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "hardened", "run", app, "--port", str(port),
             "--admin-port", str(admin_port)],
            cwd=repo_root, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )  # fmt: skip
    return process, log


def _wait_for(log: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        time.sleep(0.02)
    raise AssertionError(f"{text!r} not logged within {timeout}s:\n{log.read_text()}")


def test_a_hanging_component_fails_start_up_after_its_start_timeout(repo_root: Path) -> None:
    """A provider that never yields fails start-up after its own timeout, named; exit 3."""
    start_timeout = 1.0
    env = {"OPERATOR_START_SECONDS": "3600", "OPERATOR_START_TIMEOUT": str(start_timeout)}
    process, log = _start(repo_root, env)
    try:
        _wait_for(log, "Waiting for application startup", timeout=30)
        began = time.monotonic()
        code = process.wait(timeout=start_timeout + 10)
        waited = time.monotonic() - began
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text()
    assert code == 3, output
    assert "start-up failed: Slow did not start within 1s (its start_timeout)" in output
    assert "Traceback" not in output
    assert start_timeout - 0.1 <= waited < start_timeout + 5


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_start_up_stops_the_process_within_a_second(
    repo_root: Path, sig: signal.Signals
) -> None:
    """SIGINT or SIGTERM while a component starts: the start is abandoned, exit 0 within 1 s."""
    env = {"OPERATOR_START_SECONDS": "3600", "OPERATOR_START_TIMEOUT": "60"}
    process, log = _start(repo_root, env)
    try:
        _wait_for(log, "Waiting for application startup", timeout=30)
        time.sleep(0.2)  # the component's start is under way
        sent = time.monotonic()
        process.send_signal(sig)
        code = process.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text()
    assert code == 0, output
    assert took < 1.0, output
    assert f"{sig.name} during start-up: start-up abandoned" in output
    assert "start-up stopped by a signal while Slow started" in output


def test_a_signal_while_the_applications_own_lifespan_starts_stops_the_process(
    repo_root: Path,
) -> None:
    """A wrapped app whose lifespan never finishes starting: SIGTERM ends it within 1 s."""
    process, log = _start(repo_root, {}, app="tests.apps.operator_app:wrapped")
    try:
        _wait_for(log, "Waiting for application startup", timeout=30)
        time.sleep(0.2)
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text()
    assert code == 0, output
    assert took < 1.0, output
    assert "SIGTERM during start-up: start-up abandoned" in output
    assert "Traceback" not in output
