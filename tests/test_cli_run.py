"""`hardened run` as operators meet it: the access log, request IDs, JSON logs, the admin
listener's address, proxy headers, the root path and TLS, each through the real command."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from hardened.testing import RunningServer, free_ports, run_server
from tests._tools import require_tool

APP = "tests.apps.operator_app:app"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


def _logged(server: RunningServer, found: Callable[[str], bool], timeout: float = 10.0) -> str:
    """The server's output once `found` holds for it (bounded wait: logs are flushed async)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = server.output()
        if found(output):
            return output
        time.sleep(0.05)
    raise AssertionError(f"not logged within {timeout}s:\n{server.output()}")


def test_access_log_is_written_with_the_admin_listener_on(repo_root: Path) -> None:
    """Public requests are logged with their request ID; admin scrapes are not logged."""
    with run_server(APP, cwd=repo_root) as server:
        httpx.get(f"{server.url}/orders/5", headers={"traceparent": TRACEPARENT})
        httpx.get(f"{server.admin_url}/metrics")
        httpx.get(f"{server.url}/orders/6", headers={"x-request-id": "req-42"})
        output = _logged(server, lambda out: "/orders/6" in out)
    assert f'"GET /orders/5 HTTP/1.1" 200 request_id={TRACE_ID}' in output
    assert f"inside the request request_id={TRACE_ID}" in output
    assert '"GET /orders/6 HTTP/1.1" 200 request_id=req-42' in output
    assert "/metrics" not in output


def test_json_logs_carry_the_request_id_on_access_and_application_lines(repo_root: Path) -> None:
    """--log-format json: one JSON object per line, the access fields and the request ID."""
    with run_server(APP, cwd=repo_root, args=["--log-format", "json"]) as server:
        httpx.get(f"{server.url}/orders/7", headers={"traceparent": TRACEPARENT})
        output = _logged(server, lambda out: "/orders/7" in out)
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = next(r for r in records if r.get("path") == "/orders/7")
    assert access["logger"] == "uvicorn.access"
    assert (access["method"], access["status"], access["request_id"]) == ("GET", 200, TRACE_ID)
    inside = next(r for r in records if r["message"] == "inside the request")
    assert inside["request_id"] == TRACE_ID
    assert any(r["message"].startswith("Uvicorn running") for r in records)


def _local_address() -> str | None:
    """A non-loopback address of this machine, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: no packet is sent
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def _admin_answers_on(address: str | None, port: int) -> bool | None:
    if address is None:
        return None
    try:
        return httpx.get(f"http://{address}:{port}/livez", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_admin_listener_binds_the_public_host_unless_admin_host_says_otherwise(
    repo_root: Path,
) -> None:
    """--host 0.0.0.0 puts /metrics on 0.0.0.0 too; --admin-host 127.0.0.1 keeps it local."""
    address = _local_address()
    with run_server(APP, cwd=repo_root, args=["--host", "0.0.0.0"]) as server:
        assert server.admin_port is not None
        output = _logged(server, lambda out: f":{server.port} (Press" in out)
        reachable = _admin_answers_on(address, server.admin_port)
    assert f"Uvicorn running on http://0.0.0.0:{server.admin_port}" in output
    assert reachable in (None, True)
    args = ["--host", "0.0.0.0", "--admin-host", "127.0.0.1"]
    with run_server(APP, cwd=repo_root, args=args) as server:
        assert server.admin_port is not None
        output = _logged(server, lambda out: f":{server.port} (Press" in out)
        reachable = _admin_answers_on(address, server.admin_port)
    assert f"Uvicorn running on http://127.0.0.1:{server.admin_port}" in output
    assert f"Uvicorn running on http://0.0.0.0:{server.port}" in output
    assert reachable in (None, False)


def _where(server: RunningServer, path: str = "/where") -> Any:
    return httpx.get(f"{server.url}{path}", headers={"x-forwarded-for": "203.0.113.9"}).json()


def test_proxy_headers_and_root_path(repo_root: Path) -> None:
    """X-Forwarded-For is trusted from allowed proxies, not with --no-proxy-headers; root path."""
    args = ["--forwarded-allow-ips", "127.0.0.1", "--root-path", "/api"]
    with run_server(APP, cwd=repo_root, args=args) as server:
        assert _where(server) == {"client": "203.0.113.9", "root_path": "/api"}
    with run_server(APP, cwd=repo_root, args=["--no-proxy-headers"]) as server:
        assert _where(server) == {"client": "127.0.0.1", "root_path": ""}


def test_tls_flags_serve_https(repo_root: Path, tmp_path: Path) -> None:
    """--ssl-keyfile and --ssl-certfile serve the public port over TLS."""
    openssl = require_tool("openssl", apt="openssl")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    port, admin_port = free_ports(2)
    process = subprocess.Popen(
        [sys.executable, "-m", "hardened", "run", APP, "--port", str(port),
         "--admin-port", str(admin_port), "--ssl-keyfile", str(key), "--ssl-certfile", str(cert)],
        cwd=repo_root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        answer = None
        deadline = time.monotonic() + 30
        while answer is None and time.monotonic() < deadline:
            try:
                answer = httpx.get(f"https://127.0.0.1:{port}/readyz", verify=False)
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer is not None
        assert answer.status_code == 200
        assert answer.url.scheme == "https"
    finally:
        process.terminate()
        process.wait(timeout=30)
