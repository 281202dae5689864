"""Generated Prometheus rules: promtool accepts them, pages and tickets as designed, and the
in-process burn rate equals the PromQL one on the same synthetic stream."""

from __future__ import annotations

import math
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from hardened import Service
from hardened.observe import SLO, RedMetrics
from hardened.rules import alert_factors, render_rules
from hardened.testing import FakeClock
from tests._tools import require_tool
from tests.apps import observe_red, observe_slo

FIXTURES = Path(__file__).parent / "promtool"
SLOT = 10
BURN_WINDOWS = {"5m": 300, "30m": 1800, "1h": 3600, "6h": 21600}


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    promtool = require_tool("promtool", apt="prometheus")
    return subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_generated_rules_pass_promtool_check(tmp_path: Path) -> None:
    """`promtool check rules` accepts the rules of services with and without SLOs."""
    services = [observe_slo.build(), observe_red.build(), Service("bare", observe=None)]
    for service in services:
        path = tmp_path / f"{service.name}.yml"
        path.write_text(render_rules(service))
        result = _promtool("check", "rules", str(path), cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "SUCCESS: 55 rules found"
        in _promtool("check", "rules", "observe-slo.yml", cwd=tmp_path).stdout
    )


@pytest.mark.long_running
def test_promtool_fixtures_page_on_outage_and_stay_quiet_when_idle_or_low_traffic(
    tmp_path: Path,
) -> None:
    """Outage pages, 2x burn tickets, idle and few-error low traffic stay quiet; route scope."""
    (tmp_path / "rules.yml").write_text(render_rules(observe_slo.build()))
    (tmp_path / "red_rules.yml").write_text(render_rules(observe_red.build()))
    fixtures = sorted(FIXTURES.glob("*.test.yml"))
    assert len(fixtures) == 5
    for fixture in fixtures:
        shutil.copy(fixture, tmp_path / fixture.name)
    result = _promtool("test", "rules", *(f.name for f in fixtures), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == 5


def test_hardened_rules_command_prints_checkable_rules(tmp_path: Path) -> None:
    """`hardened rules MODULE:ATTR` prints the same file; promtool accepts it."""
    result = subprocess.run(
        [sys.executable, "-m", "hardened", "rules", "tests.apps.observe_slo:app"],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == render_rules(observe_slo.build())
    (tmp_path / "cli.yml").write_text(result.stdout)
    assert _promtool("check", "rules", "cli.yml", cwd=tmp_path).returncode == 0


def test_alert_factors_follow_the_workbook_and_scale_with_the_period() -> None:
    """30 days: 14.4/6 page, 3/1 ticket; a 28-day period scales each factor by 28/30."""
    thirty = alert_factors(SLO(name="a", objective=0.999))
    assert [(s, f) for s, _, _, f in thirty] == [
        ("page", 14.4),
        ("page", 6.0),
        ("ticket", 3.0),
        ("ticket", 1.0),
    ]
    assert [(long, short) for _, long, short, _ in thirty] == [
        (3600, 300),
        (21600, 1800),
        (86400, 7200),
        (259200, 21600),
    ]
    twenty_eight = alert_factors(SLO(name="a", objective=0.999, period_days=28))
    assert [f for *_, f in twenty_eight] == [13.44, 5.6, 2.8, 0.9333]


def _promql_round(value: float, to_nearest: float = 1e-6) -> float:
    inverse = 1.0 / to_nearest  # the same operations as PromQL's round()
    return math.floor(value * inverse + 0.5) / inverse


def _sample(registry: CollectorRegistry) -> dict[str, float]:
    """The counter samples a scrape would see, keyed by their exposition text."""
    found: dict[str, float] = {}
    for metric in registry.collect():
        for s in metric.samples:
            keep = (
                s.name == "http_server_requests_total"
                or s.name.endswith("_count")
                or (s.name.endswith("_bucket") and s.labels.get("le") == "0.3")
            )
            if keep and s.name.startswith("http_server_"):
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                found[f'{s.name}{{job="observe-slo",{labels}}}'] = s.value
    return found


def _stream(
    metrics: RedMetrics,
    registry: CollectorRegistry,
    slots: int,
    gaps: set[int],
    eval_times: list[int],
) -> tuple[list[dict[str, float]], list[tuple[int, str, str, float]]]:
    """Feed a seeded stream with shifting error and slowness rates; sample every 10 s.

    At each evaluation time the in-process burn rates are read as a running service would
    see them then (nothing of the future recorded yet).
    """
    rng = random.Random(42)
    samples = [_sample(registry)]
    burns: list[tuple[int, str, str, float]] = []
    for slot in range(slots):
        if slot * SLOT in eval_times:
            for tracker in metrics.trackers:
                for window, seconds in BURN_WINDOWS.items():
                    burn = tracker.burn_rate(float(slot * SLOT), seconds)
                    assert not math.isnan(burn)
                    burns.append((slot * SLOT, tracker.slo.name, window, _promql_round(burn)))
        hours = slot * SLOT / 3600
        error, slow = (0.002, 0.004) if hours < 3 else (0.03, 0.02) if hours < 5.5 else (0.5, 0.3)
        count = 0 if slot in gaps else rng.randint(5, 30)
        if slot == 0:  # every series exists from the first sample on
            for status, duration in ((200, 0.05), (200, 0.9), (404, 0.01), (500, 0.02)):
                metrics.record(
                    method="GET",
                    route="/pay",
                    status=status,
                    duration=duration,
                    now=slot * SLOT + 5,
                )
        for _ in range(count):
            status = rng.choice((500, 503)) if rng.random() < error else rng.choice((200, 404))
            duration = 0.5 if rng.random() < slow else 0.05
            metrics.record(
                method="GET", route="/pay", status=status, duration=duration, now=slot * SLOT + 5
            )
        samples.append(_sample(registry))
    return samples, burns


@pytest.mark.long_running
def test_in_process_burn_rate_equals_promql_on_the_same_stream(tmp_path: Path) -> None:
    """Seven hours of synthetic traffic: `slo_burn_rate` in process == PromQL over the rules."""
    service = observe_slo.build(clock=FakeClock(start=0.0))
    metrics = service.observability.metrics
    assert metrics is not None
    eval_times = [6 * 3600 + 600, 6 * 3600 + 3000, 6 * 3600 + 4200]
    # An empty slot at the far edge of every window makes left-open (Prometheus 3) and
    # left-closed (Prometheus 2) range selectors see the same increase.
    gaps = {(t - w) // SLOT for t in eval_times for w in BURN_WINDOWS.values()}
    slots = max(eval_times) // SLOT + 1
    samples, tests = _stream(metrics, service.metrics_registry, slots, gaps, eval_times)
    names = sorted(samples[-1])
    series = [
        {"series": name, "values": " ".join(repr(s[name]) if name in s else "_" for s in samples)}
        for name in names
    ]
    assert len(tests) == len(eval_times) * 2 * len(BURN_WINDOWS)
    lines = [
        "rule_files:",
        "  - rules.yml",
        "evaluation_interval: 1m",
        "tests:",
        "  - interval: 10s",
        "    input_series:",
    ]
    for entry in series:
        lines += [f"      - series: '{entry['series']}'", f"        values: '{entry['values']}'"]
    lines.append("    promql_expr_test:")
    for t, slo, window, value in tests:
        lines += [
            f'      - expr: round(slo:error_budget_burn:rate{window}{{slo="{slo}"}}, 0.000001)',
            f"        eval_time: {t}s",
            "        exp_samples:",
            f'          - labels: \'{{service="observe-slo",slo="{slo}"}}\'',
            f"            value: {value!r}",
        ]
    (tmp_path / "rules.yml").write_text(render_rules(service))
    (tmp_path / "equality.test.yml").write_text("\n".join(lines) + "\n")
    result = _promtool("test", "rules", "equality.test.yml", cwd=tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    burns = {(t, slo, window): value for t, slo, window, value in tests}
    assert burns[(eval_times[0], "availability", "6h")] > 1  # the stream really varies
    assert burns[(eval_times[2], "availability", "5m")] > 100
    assert burns[(eval_times[0], "latency", "5m")] != burns[(eval_times[2], "latency", "5m")]
