"""Callers that arrive with their budget spent get 504s that cannot burn the owner's budget."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from hardened.rules import render_rules
from hardened.testing import RunningServer
from tests._tools import require_tool
from tests.apps.hostile import app as hostile_service

NORMAL, LATE = 1000, 100


def _counters(metrics: str) -> dict[tuple[str, str], float]:
    """(route, status) → value of http_server_requests_total."""
    found: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "http_server_requests_total":
                found[(sample.labels["route"], sample.labels["status"])] = sample.value
    return found


def _burn(metrics: str, window: str) -> float:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == "slo_burn_rate" and sample.labels["window"] == window:
                return sample.value
    raise AssertionError("no slo_burn_rate sample")


def _promtool_fixture(counters: dict[tuple[str, str], float], *, relabel: str | None) -> str:
    """A `promtool test rules` file: the scraped counters grown over 10 minutes; the page
    alert and the 5m/1h burn rates evaluated at the end. `relabel` moves the caller's 504s
    to another route (how they were labelled before), for the control."""
    lines = ["rule_files:", "  - rules.yml", "evaluation_interval: 1m", "tests:"]
    lines += ["  - interval: 1m", "    input_series:"]
    for (route, status), value in sorted(counters.items()):
        shown = relabel if relabel and route == "__caller__" else route
        labels = f'job="hostile",method="GET",route="{shown}",status="{status}"'
        lines += [
            f"      - series: 'http_server_requests_total{{{labels}}}'",
            f"        values: '0+{value / 10!r}x10'",
        ]
    lines += ["    promql_expr_test:"]
    for window in ("5m", "1h"):
        lines += [
            f"      - expr: sum(slo:error_budget_burn:rate{window}) or vector(0)",
            "        eval_time: 10m",
            "        exp_samples:",
            "          - labels: '{}'",
            "            value: 0",
        ]
    lines += [
        "    alert_rule_test:",
        "      - eval_time: 10m",
        "        alertname: HostileAvailabilityErrorBudgetBurnPage",
        "        exp_alerts: []",
    ]
    return "\n".join(lines) + "\n"


def test_late_callers_never_burn_the_error_budget(server: RunningServer, tmp_path: Path) -> None:
    """100 `X-Request-Timeout: 0` among 1,000 normal: 504s labelled `__caller__`, burn 0."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        statuses = [client.get("/hello").status_code for _ in range(NORMAL // 2)]
        late = [
            client.get("/hello", headers={"X-Request-Timeout": "0"}).status_code
            for _ in range(LATE)
        ]
        statuses += [client.get("/hello").status_code for _ in range(NORMAL // 2)]
    assert statuses == [200] * NORMAL
    assert late == [504] * LATE
    metrics = httpx.get(f"{server.admin_url}/metrics", timeout=10).text
    counters = _counters(metrics)
    assert counters[("__caller__", "504")] == LATE
    assert counters[("/hello", "200")] == NORMAL
    assert _burn(metrics, "5m") == 0.0

    promtool = require_tool("promtool", apt="prometheus")
    (tmp_path / "rules.yml").write_text(render_rules(hostile_service))
    (tmp_path / "budget.test.yml").write_text(_promtool_fixture(counters, relabel=None))
    (tmp_path / "control.test.yml").write_text(_promtool_fixture(counters, relabel="__shed__"))
    result = subprocess.run(
        [promtool, "test", "rules", "budget.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    control = subprocess.run(
        [promtool, "test", "rules", "control.test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert control.returncode == 1  # labelled as before, the same 504s page the owner
    assert "HostileAvailabilityErrorBudgetBurnPage" in control.stdout + control.stderr
