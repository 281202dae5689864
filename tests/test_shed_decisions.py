"""The shedder's decisions one by one: boundaries, answers, close budget, counters, its stage."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter

from hardened.shed import Priority, ShedConfig, Shedder
from hardened.shed._limited import LimitedShedder
from hardened.stages import Exchange, Refused


def _shedder(**overrides: object) -> tuple[Shedder, CollectorRegistry]:
    registry = CollectorRegistry()
    counter = Counter("rejected", "r", ["reason", "priority"], registry=registry)
    return Shedder(ShedConfig(**overrides), counter), registry  # type: ignore[arg-type]


def _limited(**overrides: object) -> LimitedShedder:
    counter = Counter("rejected", "r", ["reason", "priority"], registry=CollectorRegistry())
    config = ShedConfig(adaptive_limit=True, **overrides)  # type: ignore[arg-type]
    return LimitedShedder(config, counter)


def _scope(path: str = "/x", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "headers": headers or []}


def test_state_publishes_every_field_rounded() -> None:
    """The mechanism state has the documented fields, lags to the µs and the limit to 1/100."""
    shedder = _limited(warmup_samples=0)
    shedder.limit.on_sample(0.1234567891, inflight=20)
    shedder.monitor.last = 0.0123456789
    shedder.monitor._max = [0.0, 0.0456789123]
    shedder.inflight = 3
    shedder.codel.episodes = 2
    assert shedder.state() == {
        "signal": "queue_delay+gradient2",
        "limit": round(20 + 0.2 * math.sqrt(20), 2),
        "limit_learned": True,
        "inflight": 3,
        "queue_delay_seconds": 0.012346,
        "queue_delay_max_seconds": 0.045679,
        "queue_delay_target_seconds": 0.02,
        "overloaded": False,
        "rtt_long_seconds": 0.123457,
        "rtt_short_seconds": 0.123457,
        "overload_episodes_total": 2,
        "heartbeat_running": False,
        "heartbeat_pauses_total": 0,
        "priority_header_trusted_from": "nobody",
        "priority_claims_honoured_total": 0,
        "priority_claims_ignored_total": 0,
        "rejected_total": 0,
        "rejected_early_total": 0,
        "connections_closed_total": 0,
    }
    plain, _ = _shedder()
    assert plain.state()["signal"] == "queue_delay"
    assert "limit" not in plain.state()


def test_headers_asked_of_the_scan_follow_the_config() -> None:
    """The priority header and the caller-budget headers are read only when configured."""
    both, _ = _shedder()
    assert both.headers[0] == b"x-priority"
    assert b"x-request-timeout" in both.headers
    neither, _ = _shedder(priority_header=None, drop_late=False)
    assert neither.headers == ()
    assert neither.priority_of("/x", None) is Priority.STANDARD


@pytest.mark.parametrize(
    ("priority", "delay", "expected"),
    [
        (Priority.CRITICAL, 0.250, "queue_delay"),  # at the critical delay: refused
        (Priority.CRITICAL, 0.2499, None),
        (Priority.STANDARD, 0.100, None),  # a burst may queue up to the interval
        (Priority.STANDARD, 0.1001, "queue_delay"),
        (Priority.SHEDDABLE, 0.020, None),  # at the target: admitted
        (Priority.SHEDDABLE, 0.0201, "queue_delay"),
    ],
)
def test_decide_boundaries_outside_an_episode(
    priority: Priority, delay: float, expected: str | None
) -> None:
    """Queue-delay thresholds per priority, exactly at and just past each one."""
    shedder, _ = _shedder()
    shedder.monitor.last = delay
    assert shedder.decide(priority, 0.0) == expected


def test_the_limit_refuses_only_while_the_queue_delay_is_over_target() -> None:
    """With the adaptive limit on, a full limit refuses nothing while the loop keeps up; once
    the queue delay passes its target, standard is refused at the limit."""
    shedder = _limited(warmup_samples=0, initial_limit=20)
    shedder.inflight = 20
    assert shedder.decide(Priority.STANDARD, 0.0) is None  # calm: awaiting is not overload
    shedder.monitor.last = 0.05  # over the 20 ms target, under the 100 ms burst allowance
    assert shedder.decide(Priority.STANDARD, 0.0) == "limit"
    assert shedder.decide(Priority.CRITICAL, 0.0) is None  # critical at twice the limit
    shedder.inflight = 19
    assert shedder.decide(Priority.STANDARD, 0.0) is None


def _problem(answer: tuple[int, list[tuple[bytes, bytes]], bytes]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(answer[2])
    return document


def test_refusals_answer_by_reason_and_are_counted_by_reason_and_priority() -> None:
    """503 + Retry-After for overload, 504 without it for a spent caller budget; each counted."""
    shedder, registry = _shedder(retry_after=(2, 2), close_per_second=0)
    scope = _scope()
    status, headers, _ = answer = shedder.refusal(scope, "queue_delay", Priority.STANDARD, 0.0)
    assert (status, dict(headers)[b"retry-after"]) == (503, b"2")
    assert _problem(answer)["detail"] == "overloaded (queue delay)"
    assert scope["hardened.shed"] == "queue_delay"
    limit = shedder.refusal(_scope(), "limit", Priority.SHEDDABLE, 0.0)
    assert _problem(limit)["detail"] == "overloaded (limit)"
    late_scope = _scope()
    late = shedder.refusal(late_scope, "deadline", Priority.CRITICAL, 0.0)
    assert late[0] == 504
    assert b"retry-after" not in dict(late[1])
    assert _problem(late)["detail"] == "the caller's deadline passed before the work began"
    assert late_scope["hardened.shed"] == "deadline"
    again = shedder.refusal(_scope(), "limit", Priority.SHEDDABLE, 0.0)
    assert again[2] is limit[2], "an answer is rendered once and reused"
    samples = {
        (s.labels["reason"], s.labels["priority"]): s.value
        for metric in registry.collect()
        for s in metric.samples
        if s.name == "rejected_total"
    }
    assert samples[("queue_delay", "standard")] == 1
    assert samples[("limit", "sheddable")] == 2
    assert samples[("deadline", "critical")] == 1
    assert sum(samples.values()) == 4
    assert shedder.state()["rejected_total"] == 4


def test_connection_close_follows_the_body_and_the_close_budget() -> None:
    """A body forces a close; without one, closes are a budget of 2 per second that refills."""
    shedder, _ = _shedder(close_per_second=2)

    def closes(now: float, headers: list[tuple[bytes, bytes]] | None = None) -> bool:
        answer = shedder.refusal(_scope(headers=headers), "limit", Priority.STANDARD, now)
        return (b"connection", b"close") in answer[1]

    assert [closes(0.0), closes(0.0), closes(0.0)] == [True, True, False]
    assert closes(0.0, [(b"transfer-encoding", b"chunked")])
    assert closes(0.0, [(b"content-length", b"10")])
    assert not closes(0.0, [(b"content-length", b"0")])
    assert [closes(0.5), closes(0.5)] == [True, False]
    assert shedder.state()["connections_closed_total"] == 5


async def _nothing(message: Any) -> None:
    return None


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request"}


def _exchange(path: str, headers: dict[bytes, bytes]) -> Exchange:
    loop = asyncio.get_running_loop()
    return Exchange(_scope(path), _no_body, _nothing, headers, 0.0, loop)


async def test_the_stage_counts_in_flight_and_feeds_the_limit() -> None:
    """With the limit on, enter counts one in flight; exit uncounts it and teaches the RTT."""
    shedder = _limited()
    try:
        first = _exchange("/x", {})
        second = _exchange("/x", {})
        states = [shedder.enter(first), shedder.enter(second)]
        assert shedder.inflight == 2
        await asyncio.sleep(0.01)
        shedder.exit(first, states[0])
        assert shedder.inflight == 1
        shedder.exit(second, states[1])
        assert shedder.inflight == 0
        assert shedder.limit.samples == 2
        assert 0.005 < shedder.limit.rtts[1] < 1.0, "the RTT is the time the request took"
    finally:
        shedder.monitor.stop()


async def test_the_stage_reads_the_path_and_the_caller_budget() -> None:
    """A spent caller budget is a 504 refusal; a sheddable route is refused past the target."""
    shedder, _ = _shedder(route_priorities=(("/reports", Priority.SHEDDABLE),))
    try:
        with pytest.raises(Refused) as late:
            shedder.enter(_exchange("/x", {b"x-request-timeout": b"0"}))
        assert late.value.answer[0] == 504
        shedder.monitor.last = 0.05  # over the target: sheddable goes first
        with pytest.raises(Refused) as shed:
            shedder.enter(_exchange("/reports/1", {}))
        assert shed.value.answer[0] == 503
        assert shedder.enter(_exchange("/x", {})) is True  # standard may queue a burst
        assert shedder.admitted == 1
    finally:
        shedder.monitor.stop()


async def test_exempt_paths_are_neither_counted_nor_refused() -> None:
    """An exempt prefix passes uncounted, whatever the load, even a spent caller budget."""
    shedder = _limited(exempt_paths=("/internal",))
    try:
        shedder.inflight = 10_000
        shedder.monitor.last = 1.0
        exchange = _exchange("/internal/x", {b"x-request-timeout": b"0"})
        assert shedder.enter(exchange) is None
        shedder.exit(exchange, None)
        assert shedder.inflight == 10_000
        assert shedder.rejected_total == 0
    finally:
        shedder.monitor.stop()
