"""The lifecycle gate's evidence and verdicts; config validation; route overrides in Mounts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from hardened import ConfigError, Service, Tier
from hardened.lifecycle import LifecycleConfig, MiB, ProcessFacts, body_limit, inspect_process
from hardened.lifecycle._gate import _signal_findings
from hardened.testing import free_port


def facts(**changes: Any) -> ProcessFacts:
    """A process as the gate sees it; the default is a plain child of tini."""
    values: dict[str, Any] = {
        "pid": 7,
        "ppid": 1,
        "parent_name": "tini",
        "pid1_name": "tini",
        "pid1_cmdline": "/sbin/tini -- hardened run app:app",
        "sigterm_handler": "HardenedServer.handle_exit",
        "sigint_handler": "HardenedServer.handle_exit",
        "supervisor": None,
        "kubernetes": True,
    }
    values.update(changes)
    return ProcessFacts(**values)


@pytest.mark.parametrize(
    ("changes", "serving", "failure"),
    [
        ({}, True, None),
        ({"pid": 1, "ppid": 0, "parent_name": None}, True, None),
        ({"pid": 1, "ppid": 0, "sigterm_handler": "default"}, True, "without a SIGTERM handler"),
        ({"pid": 1, "ppid": 0, "sigterm_handler": "ignored"}, True, "without a SIGTERM handler"),
        ({"pid": 1, "ppid": 0, "sigterm_handler": "default"}, False, None),
        ({"pid1_name": "sh", "parent_name": "sh"}, True, "does not forward SIGTERM"),
        ({"pid1_name": "bash", "parent_name": "bash"}, False, "does not forward SIGTERM"),
        ({"ppid": 40, "pid1_name": "sh", "parent_name": "python"}, True, None),
    ],
)
def test_signal_verdicts(changes: dict[str, Any], serving: bool, failure: str | None) -> None:
    """PID 1 without a handler (while serving) and a shell as PID 1 parent are failures."""
    failures, _ = _signal_findings(facts(**changes), serving=serving)
    if failure is None:
        assert failures == []
    else:
        assert len(failures) == 1
        assert failure in failures[0]


def test_init_as_pid1_is_recognised_in_the_evidence() -> None:
    """tini as PID 1 with us as its child: evidence names it; an unknown PID 1 is a caveat."""
    assert facts().to_json()["init_is_pid1"] is True
    _, caveats = _signal_findings(facts(pid1_name="myinit"), serving=True)
    assert caveats == ["PID 1 is 'myinit': make sure it forwards SIGTERM"]


def test_inspect_process_reads_this_process() -> None:
    """The real facts of the test process: its pid, parent and the SIGTERM handler in force."""
    seen = inspect_process(environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    assert seen.pid == os.getpid()
    assert seen.ppid == os.getppid()
    assert seen.kubernetes is True
    assert seen.sigterm_handler == "default"
    assert seen.sigint_handler == "default_int_handler"
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        assert inspect_process().sigterm_handler == "ignored"
    finally:
        signal.signal(signal.SIGTERM, previous)


def lifecycle_gate(service: Service, tier: Tier | None = None) -> dict[str, Any]:
    gate: dict[str, Any] = service.report(tier)["gates"][0]
    return gate


def test_static_report_passes_with_caveats_and_effective_values() -> None:
    """Not serving: defaults in force (1 MiB, 500 in flight, 10 s/30 s, 65 s) and caveats."""
    gate = lifecycle_gate(Service("svc"))
    assert gate["status"] == "pass"
    evidence = gate["evidence"]
    assert evidence["body_limit"]["default_bytes"] == MiB
    assert evidence["backpressure"]["max_in_flight"] == 500
    assert evidence["slow_clients"]["header_timeout_s"] == 10.0
    assert evidence["slow_clients"]["body_timeout_s"] == 30.0
    assert evidence["keep_alive"]["timeout_s"] == 65.0
    assert evidence["edge_timeout_s"] == 10.0
    assert any("only under `hardened run`" in c for c in gate["caveats"])


def test_keep_alive_at_or_below_the_balancer_idle_timeout_warns() -> None:
    """keep-alive 5 s behind a 60 s load balancer idle timeout: a warning naming both."""
    service = Service("svc", lifecycle=LifecycleConfig(keep_alive_timeout=5.0))
    gate = lifecycle_gate(service)
    assert gate["status"] == "warn"
    assert any("keep-alive 5s" in c and "60s" in c for c in gate["caveats"])


def test_no_edge_timeout_when_the_deadline_mechanism_is_off() -> None:
    """deadline=None: the lifecycle gate warns that there is no edge timeout."""
    gate = lifecycle_gate(Service("svc", deadline=None))
    assert gate["evidence"]["edge_timeout_s"] is None
    assert gate["status"] == "warn"


def test_mechanism_off_fails_with_the_reason() -> None:
    """lifecycle=None: the gate fails as not configured and the slot stays empty."""
    service = Service("svc", lifecycle=None)
    assert lifecycle_gate(service)["status"] == "fail"
    assert service.layers()["lifecycle"] is None


def test_declared_proxy_counts_as_slow_client_protection() -> None:
    """A proxy named in the config is the evidence when `hardened run` is not used."""
    config = LifecycleConfig(slow_clients_handled_by="nginx client_header_timeout 10s")
    gate = lifecycle_gate(Service("svc", lifecycle=config))
    assert gate["evidence"]["slow_clients"]["enforced_by"].startswith("declared proxy: nginx")


@pytest.mark.parametrize(
    "changes",
    [
        {"max_body_bytes": 0},
        {"max_in_flight": -1},
        {"max_body_bytes": 1.5},
        {"header_timeout": 0.0},
        {"body_timeout": float("inf")},
        {"retry_after": float("nan")},
        {"linger_timeout": -1.0},
    ],
)
def test_config_refuses_unbounded_or_empty_values(changes: dict[str, Any]) -> None:
    """Every limit and timeout must be positive and finite."""
    with pytest.raises(ConfigError):
        LifecycleConfig(**changes)


def test_body_limit_decorator_refuses_nonsense() -> None:
    """@body_limit needs a positive integer."""
    with pytest.raises(ConfigError):
        body_limit(0)


async def echo_length(request: Request) -> Response:
    return JSONResponse({"received": len(await request.body())})


@body_limit(4096)
async def roomy(request: Request) -> Response:
    return await echo_length(request)


async def test_route_override_inside_a_mount_and_its_evidence() -> None:
    """An override on a route inside a Mount applies there only and appears in the evidence."""
    service = Service(
        "svc",
        routes=[
            Route("/small", echo_length, methods=["POST"]),
            Mount("/api", routes=[Route("/roomy", roomy, methods=["POST"])]),
        ],
        lifecycle=LifecycleConfig(max_body_bytes=100),
    )
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.post("/api/roomy", content=b"r" * 3000)).status_code == 200
        assert (await client.post("/api/roomy", content=b"r" * 5000)).status_code == 413
        refused = await client.post("/small", content=b"r" * 3000)
        assert refused.status_code == 413
        assert refused.headers["connection"] == "close"
    assert lifecycle_gate(service)["evidence"]["body_limit"]["route_bytes"] == {"/api/roomy": 4096}


def test_workers_under_kubernetes_are_reported(repo_root: Path) -> None:
    """`uvicorn --workers 2` with KUBERNETES_SERVICE_HOST set: the gate names the supervisor."""
    port = free_port()
    env = {**os.environ, "KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    command = [sys.executable, "-m", "uvicorn", "tests.apps.edge_nohandler:app"]
    options = ["--workers", "2", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen([*command, *options], cwd=repo_root, env=env)
    try:
        deadline = time.monotonic() + 30
        gate: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                gate = httpx.get(f"http://127.0.0.1:{port}/gates", timeout=2).json()["gates"][0]
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert gate, "the workers did not come up"
        workers = gate["evidence"]["workers"]
        assert workers["kubernetes"] is True
        assert "--workers" in workers["supervisor"]
        assert any("several workers under Kubernetes" in c for c in gate["caveats"])
        assert gate["evidence"]["slow_clients"]["enforced_by"] is None
        assert gate["status"] == "fail"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
