"""Breaker drill: the dependency fails, comes back, hangs, comes back (through its fault hook).

Judged against the gate's standard, not the service's own settings: fast 503s with
Retry-After once open, attempts within a 20 % retry budget (3 a second at least), hangs
bounded by the total timeout, a 2xx again once the dependency is back.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hardened.drill._declared import dependency_limits, first_dependency, require_safe
from hardened.drill._model import Drill, Outcome, measure
from hardened.drill._target import Target
from hardened.drill._wire import Answer

__all__ = ["DRILLS"]

FAST_S = 0.25
WORKERS = 10
MAX_REQUESTS = 200  # a breaker that needs more failures than this to open is no breaker
RETRY_RATIO, RETRIES_PER_SECOND = 0.2, 3  # the retry budget the gate asks for


def _burst(target: Target, spec: dict[str, Any], count: int, timeout: float) -> list[Answer]:
    def one(_: int) -> Answer:
        try:
            return target.send(spec, timeout=timeout)
        except OSError:
            return Answer(0, {}, b"", timeout)

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, range(count)))


def _fast(answers: list[Answer]) -> list[Answer]:
    """The answers refused by an open breaker: fast 503 + Retry-After, circuit-open problem."""
    return [
        a
        for a in answers
        if a.status == 503
        and "retry-after" in a.headers
        and a.seconds < FAST_S
        and b"circuit-open" in a.body
    ]


def _recover(target: Target, spec: dict[str, Any], open_s: float, total: float) -> float | None:
    """Seconds until the service answers 2xx again (None: not within 2 x open + 5 s)."""
    started = time.monotonic()
    while time.monotonic() - started < 2 * open_s + 5.0:
        if 200 <= target.send(spec, timeout=total + 5.0).status < 300:
            return round(time.monotonic() - started, 2)
        time.sleep(0.2)
    return None


def outage(target: Target) -> Outcome:
    spec = target.declared("outbound")
    require_safe(target, spec, "outbound")
    name = first_dependency(target)
    limits = dependency_limits(target, name)
    min_calls, open_s = int(limits["breaker"]["min_calls"]), float(limits["breaker"]["open_s"])
    total = float(limits["total_timeout_s"])
    window = float(limits["retry"].get("budget", {}).get("window_s", 10.0))
    hook = f"dependency/{name}"
    failures: list[str] = []
    requests = min(3 * min_calls + 10, MAX_REQUESTS)
    try:
        target.hook(hook, {"mode": "fail"})
        failing = _burst(target, spec, requests, total + 5.0)
        attempts = int((target.hook_get(hook).json() or {}).get("attempts", 0))
        target.hook(hook, {"mode": "pass"})
        after_failure = _recover(target, spec, open_s, total)
        target.hook(hook, {"mode": "hang"})
        hanging = _burst(target, spec, requests, total + 5.0)
        target.hook(hook, {"mode": "pass"})
        after_hang = _recover(target, spec, open_s, total)
    finally:
        target.hook(hook, {"mode": "off"})
    allowed = requests * (1 + RETRY_RATIO) + RETRIES_PER_SECOND * window
    slowest = max(a.seconds for a in hanging)
    for phase, answers in (("failing", failing), ("hanging", hanging)):
        if not _fast(answers):
            statuses = sorted({a.status for a in answers})
            failures.append(
                f"{requests} requests to a {phase} {name}: no fast circuit-open 503 with "
                f"Retry-After (statuses {statuses}): the breaker never opened"
            )
    if attempts > allowed:
        failures.append(f"{attempts} attempts for {requests} requests: a retry storm")
    if slowest > total + 1.0:
        failures.append(f"a hanging {name} held a request {slowest:.1f} s (total {total} s)")
    if after_failure is None or after_hang is None:
        failures.append(f"no 2xx within {2 * open_s + 5:.0f} s of {name} coming back")
    fast = _fast(failing)
    measured = {
        "requests_per_phase": requests,
        "attempts_while_failing": attempts,
        "attempts_allowed": round(allowed, 1),
        "fast_503_failing": len(fast),
        "fast_503_hanging": len(_fast(hanging)),
        "retry_after_s": fast[0].headers.get("retry-after") if fast else None,
        "hang_slowest_s": round(slowest, 3),
        "recovered_after_failure_s": after_failure,
        "recovered_after_hang_s": after_hang,
    }
    return measure(measured, failures, f"opened twice, {attempts} attempts, recovered twice")


DRILLS = (
    Drill(
        gate="breaker",
        name="dependency_outage",
        did="make the outbound dependency fail, recover, hang, recover (its drill fault hook)",
        expected=(
            "fast 503 + Retry-After once open; attempts within 120 % of requests + 3/s; "
            "hangs bounded by the total timeout; a 2xx again after the half-open probes"
        ),
        run=outage,
    ),
)
