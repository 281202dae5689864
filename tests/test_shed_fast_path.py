"""The shedder's fast path and idle heartbeat: cheap when calm, never wrong, silent when idle."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from hardened.shed import LimitedShedder, Priority, ShedConfig, Shedder
from hardened.shed._stage import ARRIVED
from hardened.stages import Exchange, Refused


async def _receive() -> dict[str, object]:
    return {"type": "http.request"}


async def _send(message: object) -> None:
    return None


def _shedder() -> LimitedShedder:
    counter = Counter("rejected", "r", ["reason", "priority"], registry=CollectorRegistry())
    return LimitedShedder(ShedConfig(adaptive_limit=True), counter)


def _random_state(shedder: LimitedShedder, rng: random.Random, now: float) -> None:
    config = shedder.config
    shedder.codel.overloaded = rng.random() < 0.3
    shedder.codel.above_since = None if rng.random() < 0.6 else now - rng.uniform(0, 0.2)
    shedder.monitor.last = rng.choice([0.0, 0.001, config.queue_delay_target, 0.03, 0.3])
    shedder.monitor.due = now + rng.uniform(-0.4, 0.02)
    shedder.limit.limit = rng.uniform(config.min_limit, 60)
    shedder.limit.samples = rng.choice([0, config.warmup_samples, 500])
    shedder.inflight = rng.randrange(0, 130)


def test_the_fast_path_never_admits_what_decide_would_refuse() -> None:
    """Over 20,000 random states, a calm verdict means decide() admits all three priorities,
    and the fast path is taken in a good share of them (it is not dead code)."""
    rng = random.Random(11)
    loop = asyncio.new_event_loop()
    try:
        shedder = _shedder()
        shedder.monitor.ensure_running(loop)
        calm = 0
        for _ in range(20_000):
            now = 1000.0 + rng.uniform(0, 10)
            _random_state(shedder, rng, now)
            if not shedder.calm(now):
                continue
            calm += 1
            for priority in Priority:
                assert shedder.decide(priority, now) is None, (priority, shedder.state())
        assert calm > 50
    finally:
        shedder.monitor.stop()
        loop.close()


def test_check_decides_nothing_exactly_when_calm_says_so() -> None:
    """check() and the stage's enter() write `calm` out inline: over 10,000 random states (and
    waits in the accept queue on either side of the target, or none stamped) check() skips
    `decide` exactly when calm() is true and the wait is within the target, and enter() then
    skips check() as well; an admitted request counts once, whichever path admitted it."""
    rng = random.Random(12)
    loop = asyncio.new_event_loop()
    clock = [1000.0]  # the loop's time, set by the test: check() reads what calm() was given
    loop.time = lambda: clock[0]  # type: ignore[method-assign]
    try:
        shedder = _shedder()
        shedder.monitor.ensure_running(loop)
        calls: list[str] = []
        real_decide, real_check = shedder.decide, shedder.check

        def decide(priority: Priority, now: float, waited: float = 0.0) -> str | None:
            calls.append("decide")
            return real_decide(priority, now, waited)

        def check(*args: Any) -> tuple[str, Priority, float] | None:
            calls.append("check")
            return real_check(*args)

        shedder.decide = decide  # type: ignore[method-assign]
        target = shedder.config.queue_delay_target
        skipped = 0
        for _ in range(10_000):
            now = clock[0] = 1000.0 + rng.uniform(0, 10)
            state = rng.random()  # the same random state before each call (decide moves it)
            _random_state(shedder, random.Random(state), now)
            waited = rng.choice([None, 0.0, target / 2, target, target * 1.5])
            arrived = None if waited is None else now - waited
            calm = shedder.calm(now) and (arrived is None or now - arrived <= target)
            calls.clear()
            real_check(loop, "/", None, None, arrived=arrived)
            assert (calls == []) == calm, ("check", waited, shedder.state())
            _random_state(shedder, random.Random(state), now)
            calls.clear()
            scope: dict[str, Any] = {"type": "http", "path": "/", "headers": []}
            if arrived is not None:
                scope[ARRIVED] = arrived
            admitted = shedder.admitted
            shedder.check = check  # type: ignore[assignment, method-assign]
            try:
                shedder.enter(Exchange(scope, _receive, _send, {}, now, loop))
            except Refused:
                assert shedder.admitted == admitted
            else:
                assert shedder.admitted == admitted + 1
            finally:
                del shedder.check
            assert (calls == []) == calm, ("enter", waited, calls, shedder.state())
            skipped += calm
        assert 50 < skipped < 9_950
    finally:
        shedder.monitor.stop()
        loop.close()


def test_a_calm_check_reads_no_headers_but_a_caller_budget_still_counts() -> None:
    """check() admits a calm request at once, yet a spent caller budget is still dropped."""
    loop = asyncio.new_event_loop()
    try:
        shedder = _shedder()
        assert shedder.check(loop, "/", b"sheddable", None) is None
        refusal = shedder.check(loop, "/", b"sheddable", 0.0)
        assert refusal is not None
        assert refusal[:2] == ("deadline", Priority.SHEDDABLE)
    finally:
        shedder.monitor.stop()
        loop.close()


async def test_the_heartbeat_pauses_when_idle_and_restarts_with_the_next_request() -> None:
    """No request for `heartbeat_idle_pause` → the 10 ms heartbeat stops (an idle service
    wakes nobody); the next request starts it again; a request in flight keeps it beating."""
    counter = Counter("rejected", "r", ["reason", "priority"], registry=CollectorRegistry())
    shedder = Shedder(ShedConfig(heartbeat_idle_pause=0.1), counter)
    loop = asyncio.get_running_loop()
    try:
        assert shedder.check(loop, "/", None, None) is None
        assert shedder.monitor.loop is loop
        shedder.inflight = 1  # a long request in flight: never idle
        await asyncio.sleep(0.4)
        assert shedder.monitor.loop is loop
        assert shedder.state()["heartbeat_pauses_total"] == 0
        shedder.inflight = 0
        for _ in range(100):  # bounded: 100 waits of 20 ms
            if shedder.monitor.loop is None:
                break
            await asyncio.sleep(0.02)
        assert shedder.monitor.loop is None
        assert shedder.state()["heartbeat_running"] is False
        assert shedder.state()["heartbeat_pauses_total"] == 1
        assert shedder.check(loop, "/", None, None) is None
        assert shedder.monitor.loop is loop
        assert shedder.state()["heartbeat_running"] is True
    finally:
        shedder.monitor.stop()
