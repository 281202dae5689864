"""The shedder's state machines: CoDel queue delay, Gradient2 limit, priorities, timeouts."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter

from hardened import ConfigError
from hardened.shed import CoDel, Gradient2, LimitedShedder, Priority, ShedConfig, Shedder
from hardened.stages import Stage


def _shedder(**overrides: object) -> Shedder:
    registry = CollectorRegistry()
    counter = Counter("rejected", "r", ["reason", "priority"], registry=registry)
    return Shedder(ShedConfig(**overrides), counter)  # type: ignore[arg-type]


def _limited(**overrides: object) -> LimitedShedder:
    registry = CollectorRegistry()
    counter = Counter("rejected", "r", ["reason", "priority"], registry=registry)
    config = ShedConfig(adaptive_limit=True, **overrides)  # type: ignore[arg-type]
    return LimitedShedder(config, counter)


def test_codel_needs_the_delay_to_stay_high_for_the_interval() -> None:
    """A spike shorter than 100 ms is tolerated; 100 ms above 20 ms means overloaded."""
    codel = CoDel(target=0.020, interval=0.100)
    assert not codel.update(10.000, 0.050)
    assert not codel.update(10.090, 0.050)
    assert not codel.update(10.095, 0.005)  # back below: the episode never started
    assert not codel.update(10.150, 0.030)
    assert not codel.update(10.240, 0.030)
    assert codel.update(10.251, 0.030)
    assert codel.episodes == 1


def test_codel_clears_only_after_the_interval_below_target() -> None:
    """Once overloaded, one low reading does not end it; 100 ms below the target does."""
    codel = CoDel(target=0.020, interval=0.100)
    codel.update(0.0, 1.0)
    assert codel.update(0.1, 1.0)
    assert codel.update(0.15, 0.001)
    assert codel.update(0.20, 0.050)  # up again: the quiet period restarts
    assert codel.update(0.25, 0.001)
    assert codel.update(0.30, 0.001)
    assert not codel.update(0.351, 0.001)


def test_gradient2_shrinks_when_latency_inflates_and_grows_when_it_recovers() -> None:
    """Under load with RTT 5x its long-term average the limit falls; steady RTT lets it grow."""
    limit = Gradient2(initial=20, min_limit=5, max_limit=1000, smoothing=0.2, tolerance=1.5)
    for _ in range(600):
        limit.on_sample(0.010, inflight=20)
    steady = limit.limit
    assert steady > 20
    for _ in range(40):
        limit.on_sample(0.050, inflight=int(limit.limit))
    assert limit.limit < steady / 2
    low = limit.limit
    for _ in range(200):
        limit.on_sample(0.010, inflight=int(limit.limit))
    assert limit.limit > low
    assert 5 <= limit.limit <= 1000


def test_gradient2_does_not_grow_while_app_limited() -> None:
    """With in-flight below half the limit there is no evidence to raise it."""
    limit = Gradient2(initial=20, min_limit=5, max_limit=1000, smoothing=0.2, tolerance=1.5)
    for _ in range(500):
        limit.on_sample(0.010, inflight=3)
    assert limit.limit == 20


def test_priorities_shed_sheddable_first_and_critical_last() -> None:
    """Overloaded: sheddable and standard go, critical stays until the severe delay."""
    shedder = _shedder()
    shedder.codel.overloaded = True
    shedder.monitor.last = 0.100
    assert shedder.decide(Priority.SHEDDABLE, 1.0) == "queue_delay"
    assert shedder.decide(Priority.STANDARD, 1.0) == "queue_delay"
    assert shedder.decide(Priority.CRITICAL, 1.0) is None
    shedder.monitor.last = 0.300
    assert shedder.decide(Priority.CRITICAL, 1.0) == "queue_delay"


def test_overloaded_shedder_lets_sheddable_fill_a_drained_queue_only() -> None:
    """In an episode sheddable passes at a delay ≤ overloaded_queue_delay, standard ≤ target."""
    shedder = _shedder(overloaded_queue_delay=0.005)
    shedder.codel.overloaded = True
    shedder.monitor.last = 0.004
    assert shedder.decide(Priority.SHEDDABLE, 1.0) is None
    shedder.monitor.last = 0.008
    assert shedder.decide(Priority.SHEDDABLE, 1.0) == "queue_delay"
    assert shedder.decide(Priority.STANDARD, 1.0) is None
    shedder.codel.overloaded = False
    assert shedder.decide(Priority.SHEDDABLE, 1.0) is None  # not overloaded: the target
    shedder.monitor.last = 0.021
    assert shedder.decide(Priority.SHEDDABLE, 1.0) == "queue_delay"
    assert shedder.decide(Priority.STANDARD, 1.0) is None  # a burst may queue to the interval


def test_sheddable_refused_for_the_episode_when_the_drained_queue_rule_is_off() -> None:
    """overloaded_queue_delay=0 refuses sheddable during an episode unless the beat was on time."""
    shedder = _shedder(overloaded_queue_delay=0.0)
    shedder.codel.overloaded = True
    shedder.monitor.last = 0.001
    assert shedder.decide(Priority.SHEDDABLE, 1.0) == "queue_delay"


def test_inflight_limit_waits_for_measured_latency() -> None:
    """Before `warmup_samples` requests finish, a burst of slow requests meets no in-flight cap."""
    shedder = _limited(initial_limit=20, warmup_samples=5)
    shedder.inflight = 50
    shedder.monitor.last = 0.015  # saturating: over the target, under the interval
    shedder.codel.overloaded = True
    assert shedder.decide(Priority.STANDARD, 1.0) is None
    for _ in range(5):
        shedder.limit.on_sample(1.0, inflight=3)  # app-limited: the limit itself stays 20
    assert shedder.limit.learned
    assert shedder.decide(Priority.STANDARD, 1.0) == "limit"


def test_inflight_limit_applies_by_priority_only_while_saturated() -> None:
    """While saturated: sheddable refused at half the limit, standard at it, critical at twice
    it. With the queue delay under its target the limit refuses nothing, however many wait."""
    shedder = _limited(initial_limit=20, warmup_samples=0, overloaded_queue_delay=0.02)
    shedder.codel.overloaded = True
    shedder.monitor.last = 0.001
    shedder.inflight = 10
    assert shedder.decide(Priority.SHEDDABLE, 1.0) == "limit"
    assert shedder.decide(Priority.STANDARD, 1.0) is None
    shedder.inflight = 20
    assert shedder.decide(Priority.STANDARD, 1.0) == "limit"
    assert shedder.decide(Priority.CRITICAL, 1.0) is None
    shedder.inflight = 40
    assert shedder.decide(Priority.CRITICAL, 1.0) == "limit"
    shedder.codel.overloaded = False
    shedder.inflight = 1000
    for priority in Priority:
        assert shedder.decide(priority, 1.0) is None


def test_default_shedder_has_no_exit_and_no_limit() -> None:
    """The default stage refuses on queue delay alone, and the driver writes no exit for it."""
    shedder = _shedder()
    assert not hasattr(shedder, "limit")
    assert type(shedder).exit is Stage.exit
    assert type(_limited()).exit is not Stage.exit
    shedder.inflight = 100_000
    for priority in Priority:
        assert shedder.decide(priority, 1.0) is None


def test_route_priorities_first_prefix_wins() -> None:
    """Path prefixes set a route's priority (first match wins); other paths get the default."""
    config = ShedConfig(
        route_priorities=(("/payments", Priority.CRITICAL), ("/reports", Priority.SHEDDABLE))
    )
    assert config.priority_for("/payments/1") is Priority.CRITICAL
    assert config.priority_for("/reports/x") is Priority.SHEDDABLE
    assert config.priority_for("/other") is Priority.STANDARD
    first = ShedConfig(
        route_priorities=(("/api/admin", Priority.CRITICAL), ("/api", Priority.SHEDDABLE)),
        default_priority=Priority.CRITICAL,
    )
    assert first.priority_for("/api/admin/x") is Priority.CRITICAL
    assert first.priority_for("/api/x") is Priority.SHEDDABLE
    assert first.priority_for("/other") is Priority.CRITICAL


@pytest.mark.parametrize(
    ("path", "header", "expected"),
    [
        ("/reports/1", None, Priority.SHEDDABLE),
        ("/reports/1", b"critical", Priority.CRITICAL),
        ("/payments", b"sheddable", Priority.SHEDDABLE),
        ("/payments", None, Priority.CRITICAL),
        ("/other", None, Priority.STANDARD),
        ("/other", b"sheddable", Priority.SHEDDABLE),
        ("/other", b" Critical ", Priority.CRITICAL),
        ("/reports", b"urgent", Priority.SHEDDABLE),
        ("/other", b"", Priority.STANDARD),
    ],
)
def test_priority_of_takes_the_route_then_the_header(
    path: str, header: bytes | None, expected: Priority
) -> None:
    """`Shedder.priority_of`: the route's priority, replaced by any valid header value."""
    shedder = _shedder(
        route_priorities=(("/payments", Priority.CRITICAL), ("/reports", Priority.SHEDDABLE))
    )
    assert shedder.priority_of(path, header) is expected


def test_priority_of_without_route_priorities_uses_the_default() -> None:
    """No route table: the configured default priority, which the header still overrides."""
    shedder = _shedder(default_priority=Priority.SHEDDABLE)
    assert shedder.priority_of("/x", None) is Priority.SHEDDABLE
    assert shedder.priority_of("/x", b"standard") is Priority.STANDARD


@pytest.mark.parametrize(
    "overrides",
    [
        {"heartbeat": 0.5},
        {"critical_queue_delay": 0.01},
        {"overloaded_queue_delay": 0.03},
        {"overloaded_queue_delay": -0.001},
        {"min_limit": 30},
        {"retry_after": (0, 5)},
        {"priority_header": "X-Priority"},
        {"route_priorities": (("payments", Priority.CRITICAL),)},
        {"trusted_networks": ("10.0.0.0/33",)},
        {"trusted_secret_header": "x-gateway-secret"},
        {"trusted_secret_header": "x-gateway-secret", "trusted_secret": "short"},
    ],
)
def test_invalid_shed_config_is_refused(overrides: dict[str, object]) -> None:
    """Inconsistent shedder settings fail at construction with ConfigError."""
    with pytest.raises(ConfigError):
        ShedConfig(**overrides)  # type: ignore[arg-type]


def test_a_request_that_waited_before_accept_counts_its_wait_except_critical() -> None:
    """A wait measured before the app saw the request is its queue delay: standard and
    sheddable are refused past their bounds; critical is judged on the loop's queue alone."""
    shedder = _shedder()
    shedder.monitor.last = 0.001
    assert shedder.decide(Priority.STANDARD, 1.0, waited=0.5) == "queue_delay"
    assert shedder.decide(Priority.SHEDDABLE, 1.0, waited=0.05) == "queue_delay"
    assert shedder.decide(Priority.CRITICAL, 1.0, waited=5.0) is None
    assert shedder.decide(Priority.STANDARD, 1.0, waited=0.01) is None
