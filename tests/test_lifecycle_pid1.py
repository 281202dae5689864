"""PID 1: the server as PID 1 of a new PID namespace (`unshare`, as root); what the gate says."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from hardened.testing import free_port, free_ports, run_server
from tests._tools import in_ci, require_tool

UNSHARE = ["unshare", "--pid", "--fork", "--mount-proc"]
APP = "tests.apps.edge_app:app"


def _unshare_available() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=30).returncode == 0


# Outside CI a machine without root or unshare(1) skips these, saying so; under CI=true they
# run regardless, so a missing tool fails them (.ci/run runs as root; util-linux has unshare).
needs_unshare = pytest.mark.skipif(
    not in_ci() and not _unshare_available(),
    reason="did not run: needs root and unshare(1) (util-linux) for a new PID namespace",
)


def _namespace_pid1(launcher_pid: int, timeout: float = 10.0) -> psutil.Process:
    """The process that `unshare --fork` started: PID 1 inside its namespace."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = psutil.Process(launcher_pid).children()
        if children:
            return children[0]
        time.sleep(0.05)
    raise AssertionError("unshare started no child")


def _ns_pids(pid: int) -> list[int]:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(part) for part in line.split()[1:]]
    raise AssertionError("no NSpid line")


def _lifecycle(report: dict[str, Any]) -> dict[str, Any]:
    gate: dict[str, Any] = report["gates"][0]
    assert gate["name"] == "lifecycle"
    return gate


def _sigterm_to_pid1_answers_the_in_flight_request(url: str, pid1: psutil.Process) -> None:
    """Start a 1.5 s request, send SIGTERM to PID 1, and see the request answered in full."""
    answers: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: answers.append(httpx.get(f"{url}/slow?s=1.5", timeout=30))
    )
    slow.start()
    deadline = time.monotonic() + 10
    while httpx.get(f"{url}/counts").json()["slow_started"] < 1:
        assert time.monotonic() < deadline, "the slow request did not start"
        time.sleep(0.05)
    os.kill(pid1.pid, signal.SIGTERM)
    slow.join(timeout=30)
    assert [answer.status_code for answer in answers] == [200]
    assert answers[0].json()["slept"] is True


@needs_unshare
def test_pid1_server_drains_in_flight_and_exits_0_on_sigterm(repo_root: Path) -> None:
    """As PID 1: SIGTERM answers the in-flight request, exits 0; the gate shows PID 1 + handler."""
    launcher = [*UNSHARE, sys.executable, "-m", "hardened"]
    with run_server(APP, cwd=repo_root, command=launcher) as server:
        pid1 = _namespace_pid1(server.pid)
        assert _ns_pids(pid1.pid)[-1] == 1
        gate = _lifecycle(httpx.get(f"{server.admin_url}/gates").json())
        signals = gate["evidence"]["signals"]
        assert signals["is_pid1"] is True
        assert signals["pid"] == 1
        assert signals["pid1"] == "self"
        assert signals["parent"]["pid"] == 0
        assert signals["sigterm_handler"] == "HardenedServer.handle_exit"
        assert gate["status"] == "pass", gate
        assert not any("PID 1" in caveat for caveat in gate["caveats"])

        _sigterm_to_pid1_answers_the_in_flight_request(server.url, pid1)
        assert server.wait(timeout=30) == 0


@needs_unshare
def test_tini_as_pid1_forwards_sigterm_and_the_gate_names_it(repo_root: Path) -> None:
    """tini as PID 1 (as in the example Dockerfile), hardened run its child: the gate names the
    init, SIGTERM sent to PID 1 reaches the server, the in-flight request is answered, exit 0."""
    tini = require_tool("tini", apt="tini")
    launcher = [*UNSHARE, tini, "--", sys.executable, "-m", "hardened"]
    with run_server(APP, cwd=repo_root, command=launcher) as server:
        pid1 = _namespace_pid1(server.pid)
        assert _ns_pids(pid1.pid)[-1] == 1
        assert Path(pid1.exe()).name == "tini"
        gate = _lifecycle(httpx.get(f"{server.admin_url}/gates").json())
        signals = gate["evidence"]["signals"]
        assert (signals["is_pid1"], signals["pid1"], signals["init_is_pid1"]) == (
            False,
            "tini",
            True,
        )
        assert signals["parent"]["pid"] == 1
        assert gate["status"] == "pass", gate

        _sigterm_to_pid1_answers_the_in_flight_request(server.url, pid1)  # tini forwards it
        assert server.wait(timeout=30) == 0


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{url} not ready within {timeout}s")


def _stop(process: subprocess.Popen[bytes], pid1: psutil.Process) -> None:
    for child in pid1.children(recursive=True):
        child.kill()
    with contextlib.suppress(psutil.NoSuchProcess):  # a shell as PID 1 exits with its child
        pid1.kill()
    process.wait(timeout=30)


@needs_unshare
def test_pid1_without_a_handler_fails_the_gate_and_really_ignores_sigterm(
    repo_root: Path,
) -> None:
    """A launcher with no SIGTERM handler as PID 1: the gate fails, and SIGTERM is dropped."""
    port = free_port()
    launcher = [*UNSHARE, sys.executable, "-m", "tests.apps.edge_nohandler", str(port)]
    process = subprocess.Popen(launcher, cwd=repo_root)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        pid1 = _namespace_pid1(process.pid)
        gate = _lifecycle(httpx.get(f"http://127.0.0.1:{port}/gates").json())
        assert gate["evidence"]["signals"]["is_pid1"] is True
        assert gate["evidence"]["signals"]["sigterm_handler"] == "default"
        assert gate["status"] == "fail"
        assert any("PID 1 without a SIGTERM handler" in c for c in gate["caveats"])
        assert gate["evidence"]["slow_clients"]["enforced_by"] is None
        os.kill(pid1.pid, signal.SIGTERM)
        time.sleep(1.5)
        assert process.poll() is None
        assert httpx.get(f"http://127.0.0.1:{port}/hello").text == "hello"
    finally:
        _stop(process, _namespace_pid1(process.pid))


@needs_unshare
def test_shell_as_pid1_fails_the_gate_and_does_not_forward_sigterm(repo_root: Path) -> None:
    """`sh -c "hardened run ...; true"` as PID 1: the gate fails; SIGTERM to PID 1 is lost."""
    port, admin = free_ports(2)
    command = f"{sys.executable} -m hardened run {APP} --port {port} --admin-port {admin}; true"
    process = subprocess.Popen([*UNSHARE, "sh", "-c", command], cwd=repo_root)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        shell = _namespace_pid1(process.pid)
        gate = _lifecycle(httpx.get(f"http://127.0.0.1:{admin}/gates").json())
        signals = gate["evidence"]["signals"]
        assert signals["is_pid1"] is False
        assert signals["parent"]["pid"] == 1
        assert signals["pid1"] in ("sh", "dash", "bash")
        assert signals["sigterm_handler"] == "HardenedServer.handle_exit"
        assert gate["status"] == "fail"
        assert any("does not forward SIGTERM" in c for c in gate["caveats"])
        os.kill(shell.pid, signal.SIGTERM)
        time.sleep(1.5)
        assert httpx.get(f"http://127.0.0.1:{port}/hello").text == "hello"
    finally:
        _stop(process, _namespace_pid1(process.pid))


@needs_unshare
def test_static_check_as_pid1_names_the_missing_handler_without_failing(repo_root: Path) -> None:
    """`hardened check` as PID 1 is not the server: the gate notes the missing handler only."""
    result = subprocess.run(
        [*UNSHARE, sys.executable, "-m", "hardened", "check", APP, "--json"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    gate = _lifecycle(json.loads(result.stdout))
    assert gate["evidence"]["signals"]["is_pid1"] is True
    assert gate["status"] == "pass"
    assert any("PID 1 with no SIGTERM handler yet" in c for c in gate["caveats"])
