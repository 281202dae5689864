"""Probes, the admin listener and wrapped apps, under a real `hardened run` subprocess."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from hardened.testing import run_server


def test_probes_on_the_public_port_and_report_only_on_admin(repo_root: Path) -> None:
    """/livez and /readyz answer on the public port; /gates and /metrics only on the admin one."""
    with run_server("tests.apps.basic:app", cwd=repo_root) as server:
        assert httpx.get(f"{server.url}/livez").json() == {"status": "alive"}
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert httpx.get(f"{server.url}/gates").status_code == 404
        assert httpx.get(f"{server.url}/metrics").status_code == 404
        report = httpx.get(f"{server.admin_url}/gates").json()
        assert report["service"] == "basic"
        assert report["gates"][0]["name"] == "lifecycle"
        assert len(report["gates"]) == 8
        critical = httpx.get(f"{server.admin_url}/gates?tier=critical").json()
        assert critical["tier"] == "critical"
        metrics = httpx.get(f"{server.admin_url}/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        assert httpx.get(f"{server.admin_url}/payments").status_code == 404


def test_user_routes_and_error_mapping(repo_root: Path) -> None:
    """Routes written on the Service serve; a HardenedError becomes its problem+json answer."""
    with run_server("tests.apps.basic:app", cwd=repo_root) as server:
        assert httpx.get(f"{server.url}/hello").text == "hello"
        assert httpx.get(f"{server.url}/whoami").json() == {"service": "basic"}
        shed = httpx.get(f"{server.url}/shed")
        assert shed.status_code == 503
        assert shed.headers["content-type"] == "application/problem+json"
        assert shed.headers["retry-after"] == "2"
        assert shed.json()["type"].endswith("/load-shed")
        assert httpx.get(f"{server.url}/nope").status_code == 404


def test_wrapped_fastapi_app_gets_the_same_probes_stack_and_report(repo_root: Path) -> None:
    """An existing FastAPI app behind Service: its lifespan runs, probes and report are ours."""
    with run_server("tests.apps.fastapi_app:app", cwd=repo_root) as server:
        item = httpx.get(f"{server.url}/items/7").json()
        assert item == {"item_id": 7, "lifespan_ran": True}
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert httpx.get(f"{server.url}/gates").status_code == 404
        down = httpx.get(f"{server.url}/down")
        assert down.status_code == 503
        assert down.headers["retry-after"] == "5"
        assert down.json()["type"].endswith("/circuit-open")
        report = httpx.get(f"{server.admin_url}/gates").json()
        assert report["service"] == "legacy-fastapi"
        assert len(report["gates"]) == 8
        invalid = httpx.get(f"{server.url}/items/not-a-number")
        assert invalid.status_code == 422


def test_sigterm_ends_in_exit_zero_not_death_by_signal(repo_root: Path) -> None:
    """Stock uvicorn re-raises SIGTERM (exit 143); the hardened runner exits 0."""
    with run_server("tests.apps.basic:app", cwd=repo_root) as server:
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0


def test_admin_listener_can_be_disabled(repo_root: Path) -> None:
    """--admin-port 0 runs without the admin listener; the public port still hides /gates."""
    with run_server("tests.apps.basic:app", cwd=repo_root, admin=False) as server:
        assert server.admin_port is None
        assert httpx.get(f"{server.url}/gates").status_code == 404
