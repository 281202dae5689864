"""`hardened check` and `hardened rules`: documents and exit codes a deploy pipeline relies on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hardened.testing import free_port, run_server


def hardened(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hardened", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_json_prints_the_report_and_exits_by_its_status(repo_root: Path) -> None:
    """The payments example's report: eight gates, valid JSON, every gate passing, exit 0."""
    result = hardened("check", "examples.payments_api.app:app", "--json", cwd=repo_root)
    report = json.loads(result.stdout)
    assert report["service"] == "payments-api"
    assert report["tier"] == "critical"
    assert len(report["gates"]) == 8
    assert result.returncode == (1 if report["status"] == "fail" else 0), result.stderr
    assert report["status"] == "pass"  # a broken copy's exit 1 is in test_payments_deploy.py


def test_check_exits_0_when_no_gate_fails(repo_root: Path) -> None:
    """Every gate waived (valid waivers): the report warns and the check passes."""
    result = hardened("check", "tests.apps.waived:app", cwd=repo_root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "waived" in result.stdout


def test_check_tier_flag_changes_the_tier(repo_root: Path) -> None:
    """--tier evaluates the report at the given tier."""
    result = hardened(
        "check", "tests.apps.basic:app", "--json", "--tier", "internal", cwd=repo_root
    )
    assert json.loads(result.stdout)["tier"] == "internal"


def test_check_tier_flag_re_evaluates_status_and_exit_code(repo_root: Path) -> None:
    """A service passing at its own tier fails under --tier critical: status fail, exit 1."""
    own = hardened("check", "tests.apps.tiered:app", "--json", cwd=repo_root)
    assert own.returncode == 0, own.stdout + own.stderr
    assert json.loads(own.stdout)["status"] == "warn"
    critical = hardened(
        "check", "tests.apps.tiered:app", "--json", "--tier", "critical", cwd=repo_root
    )
    assert critical.returncode == 1, critical.stdout + critical.stderr
    report = json.loads(critical.stdout)
    assert report["status"] == "fail"
    assert report["gates"][-1]["status"] == "fail"


def test_gates_tier_query_and_check_url_tier_re_evaluate(repo_root: Path) -> None:
    """`/gates?tier=critical` and `check --url --tier critical` fail where the own tier warns."""
    with run_server("tests.apps.tiered:app", cwd=repo_root) as server:
        own = httpx.get(f"{server.admin_url}/gates").json()
        critical = httpx.get(f"{server.admin_url}/gates?tier=critical").json()
        internal = httpx.get(f"{server.admin_url}/gates?tier=internal").json()
        passing = hardened("check", "--url", server.admin_url, cwd=repo_root)
        failing = hardened(
            "check", "--url", server.admin_url, "--tier", "critical", "--json", cwd=repo_root
        )
    assert (own["tier"], own["status"]) == ("standard", "warn")
    assert (critical["tier"], critical["status"]) == ("critical", "fail")
    assert (internal["tier"], internal["gates"][-1]["status"]) == ("internal", "pass")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert failing.returncode == 1
    assert json.loads(failing.stdout)["status"] == "fail"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("no_colon_here", "expected MODULE:ATTR"),
        ("tests.apps.missing_module:app", "cannot import module 'tests.apps.missing_module'"),
        ("tests.apps.basic:nothing", "has no attribute 'nothing'"),
        ("tests.apps.basic:not_a_service", "not a hardened.Service"),
    ],
)
def test_bad_module_attr_exits_2_with_a_clear_message(
    repo_root: Path, reference: str, message: str
) -> None:
    """A bad MODULE:ATTR gives one clear line and exit 2, never a traceback."""
    result = hardened("check", reference, cwd=repo_root)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_check_needs_exactly_one_target(repo_root: Path) -> None:
    """Neither or both of MODULE:ATTR and --url is a usage error (exit 2)."""
    assert hardened("check", cwd=repo_root).returncode == 2
    both = hardened("check", "tests.apps.basic:app", "--url", "http://127.0.0.1:1", cwd=repo_root)
    assert both.returncode == 2


def test_unknown_command_and_bad_tier_exit_2(repo_root: Path) -> None:
    """argparse usage errors keep exit code 2."""
    assert hardened("deploy", cwd=repo_root).returncode == 2
    assert (
        hardened("check", "tests.apps.basic:app", "--tier", "gold", cwd=repo_root).returncode == 2
    )


def test_check_url_reads_a_running_instance(repo_root: Path) -> None:
    """`check --url` reads /gates from a live instance and exits by its status."""
    with run_server("tests.apps.basic:app", cwd=repo_root) as server:
        failing = hardened("check", "--url", server.admin_url, "--json", cwd=repo_root)
        assert failing.returncode == 1
        assert json.loads(failing.stdout)["service"] == "basic"
        explicit = hardened("check", "--url", f"{server.admin_url}/gates", cwd=repo_root)
        assert explicit.returncode == 1
        assert "basic at tier standard: FAIL" in explicit.stdout
    with run_server("tests.apps.waived:app", cwd=repo_root) as server:
        assert hardened("check", "--url", server.admin_url, cwd=repo_root).returncode == 0


def test_check_url_errors_exit_2(repo_root: Path) -> None:
    """Nothing listening, or not a gate report, is exit 2 with a clear message."""
    port = free_port()
    refused = hardened(
        "check", "--url", f"http://127.0.0.1:{port}", "--timeout", "2", cwd=repo_root
    )
    assert refused.returncode == 2
    assert "cannot read a gate report" in refused.stderr
    with run_server("tests.apps.basic:app", cwd=repo_root) as server:
        wrong = hardened("check", "--url", f"{server.url}/livez", cwd=repo_root)
        assert wrong.returncode == 2
        assert "did not answer with a gate report" in wrong.stderr
    assert hardened("check", "--url", "ftp://x", cwd=repo_root).returncode == 2


def test_rules_prints_a_rule_file(repo_root: Path) -> None:
    """`hardened rules` prints a YAML rule file for the service."""
    result = hardened("rules", "examples.payments_api.app:app", cwd=repo_root)
    assert result.returncode == 0
    assert "groups:" in result.stdout
