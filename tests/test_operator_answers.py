"""What clients, dashboards and pipelines see: 400 problems for malformed input, route labels,
the deadline gate's reading of declared budget use, config types checked at construction."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from hardened import ConfigError, Service
from hardened.components import Components
from hardened.deadline import DeadlineConfig
from hardened.errors import ShutdownInterrupted
from hardened.lifecycle import LifecycleConfig
from hardened.observe import SLO
from hardened.shutdown import DRAIN_TIMEOUT, SECOND_SIGNAL, DrainStage, ShutdownManager
from hardened.stages import Exchange
from hardened.testing import run_server


def _gate(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(g for g in report["gates"] if g["name"] == name)


def test_malformed_json_and_a_bogus_tier_are_400_problems(repo_root: Path) -> None:
    """A malformed JSON body and /gates?tier=bogus answer 400 problem+json, not 500 or 200."""
    with run_server("tests.apps.operator_app:app", cwd=repo_root) as server:
        bad = httpx.post(f"{server.url}/echo", content=b'{"amount": 12', timeout=10)
        good = httpx.post(f"{server.url}/echo", json={"amount": 12}, timeout=10)
        tier = httpx.get(f"{server.admin_url}/gates?tier=bogus", timeout=10)
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["title"] == "Malformed request body"
    assert good.json() == {"got": {"amount": 12}}
    assert tier.status_code == 400
    assert tier.headers["content-type"] == "application/problem+json"
    assert "unknown tier 'bogus'" in tier.json()["detail"]


def test_route_labels_drop_converters_and_fastapi_docs_are_labelled(repo_root: Path) -> None:
    """/orders/{order_id:int} is counted as /orders/{order_id}; FastAPI's docs by their path."""
    with run_server("tests.apps.operator_app:app", cwd=repo_root) as server:
        httpx.get(f"{server.url}/orders/5")
        metrics = httpx.get(f"{server.admin_url}/metrics").text
    assert 'route="/orders/{order_id}"' in metrics
    assert "order_id:int" not in metrics
    with run_server("tests.apps.fastapi_app:app", cwd=repo_root) as server:
        for path in ("/docs", "/openapi.json", "/redoc"):
            assert httpx.get(f"{server.url}{path}").status_code == 200
        metrics = httpx.get(f"{server.admin_url}/metrics").text
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert f'route="{path}",status="200"' in metrics
    assert 'route="__unmatched__",status="200"' not in metrics


def _check(reference: str, repo_root: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "hardened", "check", reference, "--json"],
        cwd=repo_root, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_declared_budget_use_passes_the_deadline_gate(repo_root: Path) -> None:
    """The demo's pool (deadline="reads") and a declared httpx client pass `hardened check`."""
    for reference in ("examples.payments_api.app:app", "tests.apps.operator_wiring:declared"):
        gate = _gate(_check(reference, repo_root), "deadline")
        assert gate["status"] == "pass", gate["caveats"]
    undeclared = _gate(_check("tests.apps.operator_wiring:detected", repo_root), "deadline")
    assert undeclared["status"] == "warn"  # not started: the scan cannot see the hook yet


def test_an_httpx_client_with_the_hook_is_recognised_once_started(repo_root: Path) -> None:
    """Started, a client built with httpx_deadline_hook is seen to send the budget: pass."""
    with run_server("tests.apps.operator_wiring:detected", cwd=repo_root) as server:
        report = httpx.get(f"{server.admin_url}/gates").json()
    gate = _gate(report, "deadline")
    assert gate["status"] == "pass", gate["caveats"]
    client = next(c for c in gate["evidence"]["components"] if c["type"].startswith("httpx"))
    assert "httpx_deadline_hook" in client["consumes_deadline"]


@pytest.mark.parametrize(
    ("build", "kwargs", "message"),
    [
        (Service, {"deadline": 5}, "Service(deadline=...) must be DeadlineConfig | None"),
        (Service, {"tier": 3}, "Service(tier=...) must be Tier | str, not int 3"),
        (Service, {"slos": [0.999]}, "Service(slos=...) must be Sequence"),
        (DeadlineConfig, {"default_timeout": "5"}, "DeadlineConfig(default_timeout=...)"),
        (LifecycleConfig, {"max_body_bytes": 2.5}, "LifecycleConfig(max_body_bytes=...)"),
        (SLO, {"name": "a", "objective": "0.999"}, "SLO(objective=...) must be float"),
        (Components, {"start_timeout": 0}, "start_timeout must be positive"),
    ],
)
def test_a_wrong_config_type_is_a_config_error_naming_the_argument(
    build: Any, kwargs: dict[str, Any], message: str
) -> None:
    """A wrong type fails at construction with ConfigError naming the argument."""
    arguments = ("x",) if build is Service else ()
    with pytest.raises(ConfigError) as raised:
        build(*arguments, **kwargs)
    assert message in str(raised.value)


def test_an_unknown_budget_use_is_a_config_error() -> None:
    """provide(T, deadline=...) accepts hook, reads or none only."""
    provide: Any = Components().provide
    with pytest.raises(ConfigError, match="deadline must be one of"):
        provide(int, deadline="maybe")


async def test_a_forced_shutdown_and_a_drain_timeout_cut_requests_with_different_details() -> None:
    """The 503 for a request cut by a second signal does not blame the drain timeout."""
    manager = ShutdownManager()
    stage = DrainStage(manager)
    loop = asyncio.get_running_loop()

    async def request() -> ShutdownInterrupted | None:
        exchange = Exchange({"type": "http"}, _no_body, _drop, {}, 0.0, loop)
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError as cancel:
            return stage.fault(exchange, None, cancel)
        return None

    details = {}
    for reason in (DRAIN_TIMEOUT, SECOND_SIGNAL):
        task = asyncio.create_task(request())
        await asyncio.sleep(0)
        manager.cut(task, reason)
        answer = await asyncio.wait_for(task, 2)
        assert answer is not None
        assert answer.status == 503
        details[reason] = answer.detail
    assert "drain timeout" in details[DRAIN_TIMEOUT]
    assert "second signal" in details[SECOND_SIGNAL]
    assert "drain timeout" not in details[SECOND_SIGNAL]


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request"}


async def _drop(message: Any) -> None:
    return None
