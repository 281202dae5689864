"""The payments example's deploy files: schema-valid manifests that agree with the service's
shutdown budget, an image that runs as non-root under tini, rules and a dashboard that stay true
to what the service exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests._tools import require_tool
from tests.payments_stack import CARD, Stack, new_key, payments_stack

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "examples" / "payments_api" / "deploy"
MANIFESTS = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
APP = "examples.payments_api.app:app"


def _documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def _kind(kind: str) -> dict[str, Any]:
    (found,) = [doc for doc in _documents() if doc["kind"] == kind]
    return found


def _validate(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "kubernetes_validate", "--strict", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def _check(cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hardened", "check", APP, "--tier", "critical", *extra]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_manifests_are_valid_kubernetes_objects() -> None:
    """Deployment, Service, PodDisruptionBudget and NetworkPolicy pass the strict schema check."""
    assert {doc["kind"] for doc in _documents()} >= {"Deployment", "Service", "PodDisruptionBudget"}
    result = _validate(MANIFESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_misspelt_field(tmp_path: Path) -> None:
    """A typo in the Deployment (an unknown field) fails the same check."""
    broken = tmp_path / "deployment.yaml"
    text = (DEPLOY / "kubernetes" / "deployment.yaml").read_text()
    broken.write_text(text.replace("terminationGracePeriodSeconds", "terminationGracePeriodSecond"))
    assert _validate([broken]).returncode != 0


def test_probes_ports_and_prestop_match_the_service() -> None:
    """Probes on the real paths, admin port unexposed, preStop without in-app delay, PDB fits."""
    deployment = _kind("Deployment")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert {p["name"] for p in _kind("Service")["spec"]["ports"]} == {"http"}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9000"
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] == 5
    selector = _kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    report = json.loads(_check(ROOT, "--json").stdout)
    (shutdown,) = [gate for gate in report["gates"] if gate["name"] == "shutdown"]
    budget = shutdown["evidence"]["budget"]
    assert (budget["prestop_sleep_s"], budget["deregistration_delay_s"]) == (5.0, 0.0)
    assert budget["grace_period_s"] == pod["spec"]["terminationGracePeriodSeconds"]


def test_the_image_runs_hardened_as_non_root_under_tini() -> None:
    """The Dockerfile's user is not root, tini is the entrypoint, `hardened run` the command."""
    lines = [line.split(None, 1) for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    instructions = {words[0]: words[1] for words in lines if len(words) == 2}
    assert not instructions["USER"].startswith(("0", "root"))
    assert json.loads(instructions["ENTRYPOINT"]) == ["/usr/bin/tini", "--"]
    assert json.loads(instructions["CMD"])[:2] == ["hardened", "run"]


def test_hardened_check_passes_at_tier_critical() -> None:
    """`hardened check --tier critical` exits 0: every gate passes, idempotency is waived."""
    result = _check(ROOT, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = {gate["name"]: gate["status"] for gate in json.loads(result.stdout)["gates"]}
    assert statuses.pop("idempotency") in {"pass", "waived"}
    assert set(statuses.values()) == {"pass"}


def test_hardened_check_fails_when_the_grace_period_is_broken(tmp_path: Path) -> None:
    """A copy of the example whose grace period no longer fits the budget fails the check."""
    shutil.copytree(
        ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("__pycache__")
    )
    manifest = tmp_path / "examples" / "payments_api" / "deploy" / "kubernetes" / "deployment.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 20"
        )
    )
    result = _check(tmp_path, "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    gates = {gate["name"]: gate for gate in json.loads(result.stdout)["gates"]}
    assert gates["shutdown"]["status"] == "fail"
    assert gates["shutdown"]["evidence"]["budget"]["grace_period_s"] == 20.0


def test_the_rules_file_is_what_hardened_rules_generates() -> None:
    """deploy/prometheus/rules.yml is current, and promtool accepts it."""
    generated = subprocess.run(
        [sys.executable, "-m", "hardened", "rules", APP],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    rules = DEPLOY / "prometheus" / "rules.yml"
    assert rules.read_text() == generated, "regenerate: hardened rules " + APP
    promtool = require_tool("promtool", apt="prometheus")
    subprocess.run([promtool, "check", "rules", str(rules)], check=True, timeout=60)


_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool"}


def _metric_names(expr: str) -> set[str]:
    """Series names in a PromQL expression (functions, label matchers, grouping left out)."""
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        if not expr[match.end() :].lstrip().startswith("("):  # a function call
            names.add(match.group())
    return names - _PROMQL_WORDS


@pytest.fixture(scope="module")
def exported(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Series names on a live API's /metrics (after a payment), and the recorded rule names."""
    logs = tmp_path_factory.mktemp("payments-deploy")
    stack: Stack
    with payments_stack(ROOT, postgres_url, logs) as stack:
        assert stack.pay(new_key(), CARD).status_code == 201
        text = httpx.get(f"{stack.api.admin_url}/metrics").text
    names: set[str] = set()
    for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE):
        names.add(family)
        if kind == "histogram":
            names |= {f"{family}_bucket", f"{family}_sum", f"{family}_count"}
        if kind == "counter" and not family.endswith("_total"):
            names.add(f"{family}_total")
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    names |= {
        rule["record"] for group in rules["groups"] for rule in group["rules"] if "record" in rule
    }
    return names


def test_the_dashboard_uses_only_metrics_the_service_exports(exported: set[str]) -> None:
    """Every series a Grafana panel queries is on /metrics or recorded by the rules."""
    dashboard = json.loads((DEPLOY / "grafana" / "payments-api.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in _metric_names(target["expr"])
    }
    assert {"hardened_dependency_breaker_state", "slo:error_budget_burn:rate1h"} <= used
    assert used - exported == set()


def test_the_metric_name_reader_sees_through_promql() -> None:
    """The dashboard check's reader finds series names, not functions, labels or windows."""
    expr = 'histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{job="x"}[5m]))) / b:c:d'
    assert _metric_names(expr) == {"a_seconds_bucket", "b:c:d"}
