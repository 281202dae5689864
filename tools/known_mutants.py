"""Re-apply the one-line bugs of issue 20 to scratch copies of the tree and run their tests.

Each mutant is a single line replaced in one file. For each, the tree (tracked and new files)
is copied to a scratch folder, the line replaced there, and the tests that should catch it run
against that copy (PYTHONPATH points at the copy, no bytecode is written). A mutant is caught
when those tests fail. The same tests are first run on an unmodified copy: they must pass.

    .venv/bin/python -m tools.known_mutants            # all of them
    .venv/bin/python -m tools.known_mutants 3 7        # by number
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    """One plausible one-line bug and the tests that must catch it."""

    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


T_GATES = "tests/test_gates.py::"
T_SHED = "tests/test_shed_priorities.py"
MUTANTS = (
    Mutant(
        "honesty rule all() -> any(): a mixed critical report softened to warn",
        "src/hardened/gates/_report.py",
        "honest_gap = all(",
        "honest_gap = any(",
        (T_GATES + "test_critical_report_with_failing_gates_fails_without_the_honesty_warning",),
    ),
    Mutant(
        "an expired waiver keeps a warning gate at warn",
        "src/hardened/gates/_result.py",
        "                status=Status.FAIL,",
        "                status=Status.FAIL if self.status is Status.FAIL else self.status,",
        (T_GATES + "test_expired_waiver_on_a_warning_gate_fails_it",),
    ),
    Mutant(
        "an expired waiver on a passing gate is ignored",
        "src/hardened/gates/_result.py",
        "        if waiver.expired(today):",
        "        if waiver.expired(today) and self.status is not Status.PASS:",
        (T_GATES + "test_expired_waiver_on_a_passing_gate_fails_it",),
    ),
    Mutant(
        "an open-ended waiver does not waive a failing gate",
        "src/hardened/gates/_result.py",
        "        if self.status in (Status.FAIL, Status.WARN):",
        "        if self.status in (Status.FAIL, Status.WARN) and waiver.expires is not None:",
        (T_GATES + "test_open_ended_waiver_waives_a_failing_gate",),
    ),
    Mutant(
        "--tier echoed but the gates evaluated at the service's own tier",
        "src/hardened/service.py",
        "self.gates.results(effective))",
        "self.gates.results(self.tier))",
        ("tests/test_cli.py::test_check_tier_flag_re_evaluates_status_and_exit_code",),
    ),
    Mutant(
        "check --url drops --tier (the report of the service's own tier)",
        "src/hardened/cli.py",
        'query = urllib.parse.urlencode({"tier": tier}) if tier else parts.query',
        "query = parts.query",
        ("tests/test_cli.py::test_gates_tier_query_and_check_url_tier_re_evaluate",),
    ),
    Mutant(
        "header/route budget: the 504 fires a second late",
        "src/hardened/deadline/_stage.py",
        "loop.call_later(timeout, expire, state)",
        "loop.call_later(timeout + 1.0, expire, state)",
        (
            "tests/test_deadline_budget.py::test_spent_budget_answers_504_and_cancels_the_handler",
            "tests/test_deadline_budget.py::test_route_budget_answers_504_when_it_is_spent",
        ),
    ),
    Mutant(
        "shared expiry queue: the 504 fires a second late",
        "src/hardened/deadline/_expiry.py",
        "max(0.0, expires - time.monotonic()), self._fire)",
        "max(0.0, expires - time.monotonic()) + 1.0, self._fire)",
        ("tests/test_deadline_budget.py::test_service_budget_expires_each_of_concurrent_requests",),
    ),
    Mutant(
        "/livez answers like /readyz (503 during the drain)",
        "src/hardened/endpoints.py",
        "{endpoints.livez_path: liveness,",
        "{endpoints.livez_path: readiness,",
        (
            "tests/test_shutdown_phases.py::test_readiness_503_at_once_serves_during_delay_then_refuses",
        ),
    ),
    Mutant(
        "route priorities ignored",
        "src/hardened/shed/_stage.py",
        "priority = config.priority_for(path) if config.route_priorities else None",
        "priority = None",
        (T_SHED,),
    ),
    Mutant(
        "the priority header overrides only the default priority",
        "src/hardened/shed/_stage.py",
        "        if header is not None:",
        "        if header is not None and priority is config.default_priority:",
        (T_SHED,),
    ),
    Mutant(
        "no Connection: close on a shed 503 with an unread chunked body",
        "src/hardened/shed/_stage.py",
        'if (name == b"content-length" and value != b"0") or name == b"transfer-encoding":',
        'if name == b"content-length" and value != b"0":',
        (T_SHED + "::test_a_shed_request_with_an_unread_chunked_body_closes_its_connection",),
    ),
    Mutant(
        "a client that went away recorded as 500",
        "src/hardened/observe/_stage.py",
        "status = exchange.status or (STATUS_CLIENT_CLOSED if exchange.cancelled else 500)",
        "status = exchange.status or 500",
        ("tests/test_observe_red.py::test_a_client_that_went_away_is_recorded_as_499_not_500",),
    ),
    Mutant(
        "/metrics ignores an OpenMetrics Accept",
        "src/hardened/endpoints.py",
        "choose_encoder(accept)",
        'choose_encoder("")',
        ("tests/test_shed_integration.py::test_metrics_honour_an_openmetrics_accept_header",),
    ),
    Mutant(
        "shutdown gate: the 'delay paid twice' warning removed",
        "src/hardened/shutdown/_gate.py",
        'warns.append("warn: both a preStop sleep and an in-app delay: the delay is doubled")',
        "pass",
        (
            "tests/test_shutdown_budget.py::"
            "test_a_prestop_sleep_and_an_in_app_delay_together_warn_the_delay_is_paid_twice",
        ),
    ),
    Mutant(
        "shutdown gate: no deregistration under an orchestrator not warned",
        "src/hardened/shutdown/_gate.py",
        "if budget.orchestrated and not deregisters:",
        "if not budget.orchestrated and not deregisters:",
        ("tests/test_shutdown_budget.py::test_no_deregistration_under_an_orchestrator_warns",),
    ),
    Mutant(
        "/metrics rendered on the event loop",
        "src/hardened/endpoints.py",
        "body = await asyncio.to_thread(encoder, service.metrics_registry)",
        "body = encoder(service.metrics_registry)",
        (
            "tests/test_shed_integration.py::test_metrics_render_on_a_worker_thread_not_the_event_loop",
            "tests/test_shed_integration.py::test_a_slow_scrape_does_not_stall_the_event_loop",
        ),
    ),
    Mutant(
        "a header-trickling client closed silently instead of 408",
        "src/hardened/server/_protocols.py",
        "            if self._header_bytes:",
        "            if not self._header_bytes:",
        (
            "tests/test_lifecycle_edge.py::test_header_trickling_client_gets_408_and_is_disconnected",
        ),
    ),
    Mutant(
        "a stalled body closed silently instead of 408",
        "src/hardened/server/_protocols.py",
        "if cycle is not None and not cycle.response_started:",
        "if cycle is not None and cycle.response_started:",
        ("tests/test_lifecycle_edge.py::test_stalled_body_is_disconnected",),
    ),
    Mutant(
        "Shedder.priority_of: the header value is case-sensitive",
        "src/hardened/shed/_stage.py",
        '.decode("latin-1").strip().lower(), priority)',
        '.decode("latin-1").strip(), priority)',
        ("tests/test_shed_signals.py::test_priority_of_takes_the_route_then_the_header",),
    ),
    Mutant(
        "the PostgreSQL pool is not bounded the way the example says",
        "examples/payments_api/app.py",
        "PoolConfig(max_size=10,",
        "PoolConfig(max_size=100,",
        ("tests/test_payments_example.py::test_postgres_pool_is_bounded_and_closed_at_shutdown",),
    ),
)


def _copy_tree(into: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[int, float]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree / "src"), str(tree)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result.returncode, time.monotonic() - began


def _apply(tree: Path, mutant: Mutant) -> None:
    path = tree / mutant.path
    text = path.read_text()
    if text.count(mutant.old) != 1:
        raise SystemExit(f"{mutant.path}: {mutant.old!r} is not there exactly once")
    path.write_text(text.replace(mutant.old, mutant.new))


def main(argv: list[str]) -> int:
    """Run the baseline, then each chosen mutant; exit 1 when one survives or main fails."""
    chosen = [int(a) for a in argv] or list(range(1, len(MUTANTS) + 1))
    failures = 0
    with tempfile.TemporaryDirectory(prefix="known-mutants-") as scratch:
        base = Path(scratch) / "main"
        _copy_tree(base)
        every = tuple(dict.fromkeys(t for n in chosen for t in MUTANTS[n - 1].tests))
        code, seconds = _run_tests(base, every)
        print(
            f"main: the {len(every)} test selections {'pass' if code == 0 else 'FAIL'}"
            f" ({seconds:.0f}s)",
            flush=True,
        )
        failures += code != 0
        print("| # | mutant | file | caught by | result |")
        print("|---|---|---|---|---|")
        for number in chosen:
            mutant = MUTANTS[number - 1]
            tree = Path(scratch) / f"m{number}"
            _copy_tree(tree)
            _apply(tree, mutant)
            code, seconds = _run_tests(tree, mutant.tests)
            caught = code != 0
            failures += not caught
            tests = ", ".join(f"`{t.split('/')[-1]}`" for t in mutant.tests)
            verdict = "caught" if caught else "**SURVIVED**"
            print(
                f"| {number} | {mutant.what} | `{mutant.path}` | {tests} | {verdict} "
                f"({seconds:.0f}s) |",
                flush=True,
            )
            shutil.rmtree(tree)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
