"""The loop gate's verdicts: static, serving, blocked, over the lag limit, monitor down."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.types import Message

from hardened import Service, Tier
from hardened.loop import LoopConfig, LoopMonitor


@contextlib.asynccontextmanager
async def served(service: Service) -> AsyncIterator[None]:
    """Drive the service's ASGI lifespan the way a server does: start-up, then shutdown."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(service(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await task


def loop_result(service: Service, tier: Tier) -> dict[str, Any]:
    gate: dict[str, Any] = next(g for g in service.report(tier)["gates"] if g["name"] == "loop")
    return gate


def legacy_client_call() -> None:
    time.sleep(0.2)


def test_static_check_passes_with_its_settings_and_says_it_is_not_serving() -> None:
    """`hardened check` (no traffic): pass, the thresholds in force, and what it cannot know yet."""
    gate = loop_result(Service("svc"), Tier.CRITICAL)
    assert gate["status"] == "pass"
    evidence = gate["evidence"]
    assert evidence["monitor"] == "not started"
    assert evidence["heartbeat_interval_ms"] == 50
    assert evidence["block_threshold_ms"] == 100
    assert evidence["watchdog_tick_ms"] == 10
    assert evidence["lag_p99_limit_ms"] == 50
    assert evidence["offload_workers"] == 8
    assert gate["caveats"][0].startswith("not serving")


def test_loop_none_leaves_the_gate_failing_as_not_configured() -> None:
    """Turning the mechanism off fails the gate with the reason."""
    gate = loop_result(Service("svc", loop=None), Tier.INTERNAL)
    assert gate["status"] == "fail"
    assert gate["evidence"] == {"configured": False, "reason": "not configured"}


async def test_a_served_quiet_loop_passes_at_every_tier() -> None:
    """Serving with no block: the monitor runs, lag percentiles are reported, every tier passes."""
    service = Service("svc")
    async with served(service):
        await asyncio.sleep(0.3)
        results = {tier: loop_result(service, tier) for tier in Tier}
    for gate in results.values():
        assert gate["status"] == "pass", gate["caveats"]
        assert gate["evidence"]["monitor"] == "running"
        assert gate["evidence"]["loop"] == "asyncio"
        assert gate["evidence"]["lag_beats_in_window"] >= 3
        assert gate["evidence"]["lag_p99_ms"] < 100
    assert loop_result(service, Tier.STANDARD)["evidence"]["monitor"] == "stopped"


async def test_a_block_is_a_caveat_internally_a_warning_standard_a_failure_critical() -> None:
    """One recent block: internal passes with it as a caveat, standard warns, critical fails."""
    service = Service("svc")
    async with served(service):
        await asyncio.sleep(0.1)
        legacy_client_call()
        await service.components.get(LoopMonitor).settle()
        results = {tier: loop_result(service, tier) for tier in Tier}
    assert [results[t]["status"] for t in Tier] == ["pass", "warn", "fail"]
    [message] = [c for c in results[Tier.STANDARD]["caveats"] if "blocked event" in c]
    assert message.startswith("1 blocked event(s) in the last 300s; worst ")
    assert message.endswith("legacy_client_call")
    [event] = results[Tier.CRITICAL]["evidence"]["recent_blocked_events"]
    assert event["culprit"]["function"] == "legacy_client_call"
    assert 150 <= event["duration_ms"] <= 260
    assert message in results[Tier.INTERNAL]["caveats"]


async def test_lag_p99_over_the_tier_limit_fails_critical_only() -> None:
    """A p99 lag over the critical limit fails critical and passes the looser tiers."""
    service = Service("svc", loop=LoopConfig(lag_p99_limits=(10.0, 10.0, 1e-6)))
    async with served(service):
        await asyncio.sleep(0.3)
        critical = loop_result(service, Tier.CRITICAL)
        standard = loop_result(service, Tier.STANDARD)
    assert critical["status"] == "fail"
    assert critical["caveats"][0].startswith("lag p99")
    assert "critical limit" in critical["caveats"][0]
    assert standard["status"] == "pass"


async def test_a_monitor_that_stopped_while_serving_fails_the_gate() -> None:
    """Serving without a heartbeat is blind: the gate fails and says why."""
    service = Service("svc")
    async with served(service):
        service.components.get(LoopMonitor).stop()
        gate = loop_result(service, Tier.INTERNAL)
    assert gate["status"] == "fail"
    assert gate["caveats"][0] == "fail: the loop monitor is stopped while serving"
