"""The shedder's fast path admits only when the full decision would admit every priority."""

from __future__ import annotations

import asyncio
import random

from prometheus_client import CollectorRegistry, Counter

from hardened.shed import Priority, ShedConfig, Shedder


def _shedder() -> Shedder:
    counter = Counter("rejected", "r", ["reason", "priority"], registry=CollectorRegistry())
    return Shedder(ShedConfig(), counter)


def _random_state(shedder: Shedder, rng: random.Random, now: float) -> None:
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
            if not shedder._calm(now):
                continue
            calm += 1
            for priority in Priority:
                assert shedder.decide(priority, now) is None, (priority, shedder.state())
        assert calm > 50
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
