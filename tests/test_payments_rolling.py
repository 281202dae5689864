"""A rolling restart under load: two API replicas behind a real HAProxy that health-checks
/readyz, one PostgreSQL, payments sent all the while; each replica in turn gets SIGTERM and is
started again. No client request fails and no payment is charged twice."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from hardened.testing import free_ports, run_server
from tests._tools import require_tool
from tests.payments_stack import API_KEYS, CARD, KEYS, answered, charges_made, new_key

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.apps.payments_behind_lb:app"
STARTUP_S = 30.0
CLIENTS = 2


@dataclass
class Replica:
    """One API process on a fixed port, so the balancer's config never changes."""

    port: int
    admin_port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "hardened", "run", APP, "--port", str(self.port)]
        command += ["--admin-port", str(self.admin_port)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/readyz").status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"replica on {self.port} not ready:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


class Balancer:
    """HAProxy in front of the replicas, checking /readyz every 0.2 s (out after two failures,
    so one slow check on a busy machine does not take a healthy replica out). It never retries
    (`retries 0`): a request sent to a replica whose listener had closed would fail, so only
    deregistration before the drain keeps the failures at zero (with the service's delay at 0
    this test fails)."""

    def __init__(self, port: int, replicas: list[Replica], directory: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.socket_path = directory / "haproxy.sock"
        servers = "\n".join(
            f"    server r{n} 127.0.0.1:{r.port} check" for n, r in enumerate(replicas)
        )
        config = directory / "haproxy.cfg"
        config.write_text(
            f"""global
    stats socket {self.socket_path} level admin
defaults
    mode http
    timeout connect 1s
    timeout check 1s
    timeout client 30s
    timeout server 30s
    retries 0
frontend public
    bind 127.0.0.1:{port}
    default_backend api
backend api
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fall 2 rise 2
{servers}
"""
        )
        binary = require_tool("haproxy", apt="haproxy")
        self.process = subprocess.Popen(
            [binary, "-f", str(config), "-db"],
            stdout=subprocess.DEVNULL,
            stderr=(directory / "haproxy.log").open("wb"),
        )

    def status(self) -> dict[str, str]:
        """Each server's state as HAProxy sees it (UP, DOWN, ...)."""
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(self.socket_path))
            conn.sendall(b"show stat\n")
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        rows = [line.split(",") for line in data.decode().splitlines() if line.startswith("api,")]
        return {row[1]: row[17] for row in rows if row[1].startswith("r")}

    def wait_until(self, server: str, state: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if self.status().get(server, "").startswith(state):
                    return
            time.sleep(0.05)
        raise TimeoutError(f"{server} never {state}: {self.status()}")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@dataclass
class Traffic:
    """Clients sending payments through the balancer until stopped; every answer recorded."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    created: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self) -> None:
        headers = {"Authorization": f"Bearer {KEYS['acme']}"}
        with httpx.Client(base_url=self.url, timeout=10) as http:
            while not self.stop.is_set():
                key = new_key()
                keyed = {**headers, "Idempotency-Key": key}
                try:
                    # A shed 503 (the machine is busy) is sent again with its key, as the API
                    # asks; any other refusal counts as a failure.
                    answer = answered(
                        functools.partial(http.post, "/payments", json=CARD, headers=keyed)
                    )
                    failed = (
                        "" if answer.status_code == 201 else f"{answer.status_code} {answer.text}"
                    )
                except httpx.HTTPError as exc:
                    failed = f"{type(exc).__name__}: {exc}"
                with self.lock:
                    (self.failures.append(failed) if failed else self.created.append(key))
                time.sleep(0.02)


@contextlib.contextmanager
def running_traffic(url: str) -> Iterator[Traffic]:
    traffic = Traffic(url)
    threads = [threading.Thread(target=traffic.client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        yield traffic
    finally:
        traffic.stop.set()
        for thread in threads:
            thread.join(timeout=30)


@pytest.mark.long_running
def test_a_rolling_restart_behind_haproxy_fails_no_request(
    postgres_url: str, tmp_path: Path
) -> None:
    """Replicas restarted in turn under steady payments: no request fails; one charge each."""
    require_tool("haproxy", apt="haproxy")
    with run_server(
        "examples.payments_api.processor:app", cwd=ROOT, admin=False, log_dir=tmp_path
    ) as proc:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": postgres_url,
            "PROCESSOR_URL": proc.url,
            "PAYMENTS_API_KEYS": API_KEYS,
        }
        ports = free_ports(5)
        replicas = [
            Replica(ports[0], ports[1], env, tmp_path / "r0.log"),
            Replica(ports[2], ports[3], env, tmp_path / "r1.log"),
        ]
        for replica in replicas:
            replica.start()
        balancer = Balancer(ports[4], replicas, tmp_path)
        try:
            balancer.wait_until("r0", "UP")
            balancer.wait_until("r1", "UP")
            with running_traffic(balancer.url) as traffic:
                time.sleep(1.0)
                for n, replica in enumerate(replicas):
                    before = len(traffic.created)
                    assert replica.stop() == 0
                    balancer.wait_until(f"r{n}", "DOWN")
                    replica.start()
                    balancer.wait_until(f"r{n}", "UP")
                    time.sleep(0.5)
                    assert len(traffic.created) > before, "no payment went through meanwhile"
                time.sleep(1.0)
        finally:
            balancer.close()
            for replica in replicas:
                if replica.process is not None and replica.process.poll() is None:
                    replica.stop()
        assert traffic.failures == []
        assert len(traffic.created) >= 20
        charged = charges_made(proc.url, traffic.created)
        assert sorted(charge["amount"] for charge in charged) == [CARD["amount"]] * len(
            traffic.created
        )
