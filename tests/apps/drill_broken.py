"""Services that each leave one gate's failure open; that gate's drill must fail on them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

from hardened import EndpointsConfig
from hardened.breaker import BreakerConfig
from hardened.retry import RetryConfig
from hardened.shutdown import ShutdownConfig
from tests.apps.drill_good import ECHO, SHED, build

# No body limit and no in-flight bound: the server reads whatever a client sends.
no_limits = build("no-limits", lifecycle=None)
# No deadline: a caller's budget is ignored and never reaches a dependency (nor does the
# shedder drop a request as late, whatever it queued for).
no_deadline = build("no-deadline", deadline=None, shed=replace(SHED, drop_late=False))
# No loop monitor: a blocked loop goes unnamed.
no_watchdog = build("no-watchdog", loop=None)
# A breaker that never opens and a retry budget that never runs out: a retry storm.
storm = build(
    "storm",
    echo=replace(
        ECHO,
        breaker=BreakerConfig(window=2.0, min_calls=100_000),
        retry=RetryConfig(
            base_delay=0.01,
            max_delay=0.01,
            retry_after_cap=0.01,
            budget_ratio=1.0,
            budget_min_per_second=1000,
        ),
    ),
)
# A drain shorter than the slow request: SIGTERM cuts the requests in flight.
short_drain = build("short-drain", shutdown=ShutdownConfig(drain_timeout=0.2))
# No RED metrics and no shedder: blind under junk traffic, collapsing under overload.
blind = build("blind", observe=None, shed=None, slos=())
# Served by stock uvicorn (no header timeout), its report on the public port: the slow-client
# timeouts the report claims are not enforced.
stock = build("stock", endpoints=EndpointsConfig(admin_on_public_port=True))
# A teardown that holds the loop past the grace period: the watchdog ends PID 1 with exit 1.
stuck_teardown = build(
    "stuck-teardown",
    shutdown=ShutdownConfig(
        grace_period=5.0, drain_timeout=1.0, teardown_timeout=1.0, teardown_step_timeout=1.0
    ),
)


class Ledger:
    """A component whose teardown blocks instead of awaiting."""


@stuck_teardown.components.provide(Ledger)
async def ledger() -> AsyncIterator[Ledger]:
    yield Ledger()
    time.sleep(10)  # noqa: ASYNC251 - the stuck teardown this service exists to show
