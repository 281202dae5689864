"""The loop gate under a real `hardened run` subprocess, on asyncio and on uvloop."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hardened.testing import RunningServer, run_server

APP_FILE = Path(__file__).parent / "apps" / "loop_app.py"
BLOCK_LINE = next(
    number
    for number, text in enumerate(APP_FILE.read_text().splitlines(), start=1)
    if "the blocking call the loop gate must name" in text
)


def loop_gate(server: RunningServer) -> dict[str, Any]:
    report = httpx.get(f"{server.admin_url}/gates", timeout=10).json()
    gate: dict[str, Any] = next(g for g in report["gates"] if g["name"] == "loop")
    return gate


def wait_for_blocked_total(server: RunningServer, total: int) -> dict[str, Any]:
    """Poll /gates until `total` blocked events are counted (at most 5 s)."""
    gate = loop_gate(server)
    for _ in range(50):
        if gate["evidence"]["blocked_events_total"] >= total:
            break
        time.sleep(0.1)
        gate = loop_gate(server)
    return gate


def metric(server: RunningServer, name: str, labels: str = "") -> float:
    """One sample's value from /metrics (0 when the series does not exist yet)."""
    text = httpx.get(f"{server.admin_url}/metrics", timeout=10).text
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == wanted:
            return float(value)
    return 0.0


def lag_buckets(server: RunningServer) -> dict[str, float]:
    """Cumulative lag histogram counts by upper bound, from one scrape."""
    text = httpx.get(f"{server.admin_url}/metrics", timeout=10).text
    prefix = 'asyncio_event_loop_lag_seconds_bucket{le="'
    return {
        line[len(prefix) :].partition('"')[0]: float(line.rpartition(" ")[2])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


def beats_observed(server: RunningServer) -> dict[str, Any]:
    """The loop gate once its heartbeat has run (at most 5 s after start-up)."""
    gate = loop_gate(server)
    for _ in range(50):
        if gate["evidence"]["lag_beats_in_window"] > 0:
            break
        time.sleep(0.1)
        gate = loop_gate(server)
    return gate


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_blocking_handler_is_caught_and_named(repo_root: Path, loop: str) -> None:
    """time.sleep(0.2) in a handler: one 150-260 ms event naming its line, shown in /gates."""
    with run_server("tests.apps.loop_app:app", cwd=repo_root, args=["--loop", loop]) as server:
        gate = beats_observed(server)
        evidence = gate["evidence"]
        assert evidence["monitor"] == "running"
        assert evidence["loop"] == loop
        assert evidence["lag_beats_in_window"] > 0
        before, stalls_before = evidence["blocked_events_total"], evidence["stalls_total"]
        buckets_before = lag_buckets(server)

        assert httpx.get(f"{server.url}/block", timeout=10).text == "blocked"
        gate = wait_for_blocked_total(server, before + 1)
        time.sleep(0.3)  # a second event, if one were coming, would have arrived by now
        gate = loop_gate(server)
        evidence = gate["evidence"]
        assert evidence["blocked_events_total"] == before + 1
        event = evidence["recent_blocked_events"][-1]
        assert 150 <= event["duration_ms"] <= 260
        assert event["culprit"]["function"] == "block"
        assert event["culprit"]["line"] == BLOCK_LINE
        assert event["culprit"]["file"] == str(APP_FILE.resolve())
        assert event["culprit_label"] == f"tests/apps/loop_app.py:{BLOCK_LINE} block"
        assert event["culprit_samples"] >= 1
        assert event["culprit_samples"] * 2 > event["samples"]  # the handler is the majority
        assert gate["status"] == "warn"
        assert any("blocked event" in caveat for caveat in gate["caveats"])

        # the late heartbeat's lag landed in the (0.1, 0.25] s bucket; any other late beat is a
        # stall (the busy host starved the process), counted apart and in its own bucket
        buckets = {le: count - buckets_before[le] for le, count in lag_buckets(server).items()}
        new_stalls = evidence["stalls_total"] - stalls_before
        stalls = evidence["recent_stall_ms"][len(evidence["recent_stall_ms"]) - new_stalls :]
        assert buckets["0.25"] - buckets["0.1"] == 1 + sum(100 <= s <= 250 for s in stalls)
        assert buckets["+Inf"] - buckets["0.25"] == sum(s > 250 for s in stalls)
        label = f'culprit="tests/apps/loop_app.py:{BLOCK_LINE} block"'
        assert metric(server, "asyncio_event_loop_blocked_total", label) == 1
        assert metric(server, "asyncio_event_loop_blocked_seconds_total") >= 0.15

        assert httpx.get(f"{server.url}/nap", timeout=10).text == "napped"
        time.sleep(0.3)
        assert loop_gate(server)["evidence"]["blocked_events_total"] == before + 1

        server.signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert "Traceback" not in server.output()
        assert "did not stop" not in server.output()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_offloaded_sleep_does_not_block_and_deadline_answers_504(
    repo_root: Path, loop: str
) -> None:
    """offload() runs the same sleep on a pool thread: no event; past its budget: a 504."""
    with run_server("tests.apps.loop_app:app", cwd=repo_root, args=["--loop", loop]) as server:
        before = loop_gate(server)["evidence"]["blocked_events_total"]
        body = httpx.get(f"{server.url}/offload", timeout=10).json()
        assert body["thread"].startswith("hardened-offload")
        assert body["loop_thread"] == "MainThread"
        started = time.monotonic()
        late = httpx.get(f"{server.url}/offload-too-long", timeout=10)
        assert late.status_code == 504
        assert late.headers["content-type"] == "application/problem+json"
        assert time.monotonic() - started < 0.9  # answered at the budget, not after the work
        time.sleep(0.3)
        evidence = loop_gate(server)["evidence"]
        assert evidence["blocked_events_total"] == before
        assert evidence["offload_abandoned"] == 1
        assert evidence["offload_workers"] == 8
