"""Breaker drill: the dependency hangs, then fails; fast 503s, bounded attempts, recovery."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hardened.drill._deadline import first_dependency, require_safe
from hardened.drill._model import Drill, Outcome, Skip, measure
from hardened.drill._target import Target
from hardened.drill._wire import Answer

__all__ = ["DRILLS"]

FAST_S = 0.25
WORKERS = 10


def _limits(target: Target, name: str) -> dict[str, Any]:
    for dependency in target.evidence("breaker").get("dependencies", []):
        if dependency.get("name") == name:
            limits: dict[str, Any] = dependency
            return limits
    raise Skip(f"/gates lists no dependency {name!r}")


def _burst(target: Target, spec: dict[str, Any], count: int, timeout: float) -> list[Answer]:
    def one(_: int) -> Answer:
        try:
            return target.send(spec, timeout=timeout)
        except OSError:
            return Answer(0, {}, b"", timeout)

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(one, range(count)))


def _fast_refusals(answers: list[Answer]) -> list[Answer]:
    return [a for a in answers if a.status == 503 and "retry-after" in a.headers]


def outage(target: Target) -> Outcome:
    spec = target.declared("outbound")
    require_safe(target, spec, "outbound")
    name = first_dependency(target)
    limits = _limits(target, name)
    breaker = limits["breaker"]
    min_calls, open_s = int(breaker["min_calls"]), float(breaker["open_s"])
    total = float(limits["total_timeout_s"])
    failures: list[str] = []
    try:
        target.hook(f"dependency/{name}", {"mode": "hang"})
        hung = _burst(target, spec, WORKERS, total + 5.0)
        slowest = max(a.seconds for a in hung)
        if slowest > total + 1.0:
            failures.append(f"a hanging {name} held a request {slowest:.1f} s (total {total} s)")
        target.hook(f"dependency/{name}", {"mode": "fail"})
        requests = 3 * min_calls + 10
        failed = _burst(target, spec, requests, total + 5.0)
        attempts = int((target.hook_get(f"dependency/{name}").json() or {}).get("attempts", 0))
        refused = _fast_refusals(failed)
        fast = [a for a in refused if a.seconds <= FAST_S]
        if not fast:
            failures.append(
                f"{requests} requests to a failing {name}: no fast 503 + Retry-After "
                f"(statuses {sorted({a.status for a in failed})}): the breaker never opened"
            )
        budget = limits["retry"].get("budget", {})
        allowed = requests * (1 + float(budget.get("ratio", 0))) + float(
            budget.get("min_per_second", 0)
        ) * float(budget.get("window_s", 0))
        if attempts > allowed:
            failures.append(f"{attempts} attempts for {requests} requests: a retry storm")
        target.hook(f"dependency/{name}", {"mode": "pass"})
        recovered_after = _recover(target, spec, open_s, total)
        if recovered_after is None:
            failures.append(f"no 2xx within {2 * open_s + 5:.0f} s after {name} came back")
    finally:
        target.hook(f"dependency/{name}", {"mode": "pass"})
    measured = {
        "hang_slowest_s": round(slowest, 3),
        "requests_while_failing": requests,
        "attempts_while_failing": attempts,
        "attempts_allowed": round(allowed, 1),
        "fast_503": len(fast),
        "retry_after_s": fast[0].headers.get("retry-after") if fast else None,
        "recovered_after_s": recovered_after,
    }
    return measure(measured, failures, f"opened, {len(fast)} fast 503s, recovered")


def _recover(target: Target, spec: dict[str, Any], open_s: float, total: float) -> float | None:
    started = time.monotonic()
    deadline = started + 2 * open_s + 5.0
    while time.monotonic() < deadline:
        answer = target.send(spec, timeout=total + 5.0)
        if 200 <= answer.status < 300:
            return round(time.monotonic() - started, 2)
        time.sleep(0.2)
    return None


DRILLS = (
    Drill(
        gate="breaker",
        name="dependency_outage",
        did="make the outbound dependency hang, then fail, then come back (drill fault hook)",
        expected=(
            "hangs bounded by the total timeout; fast 503 + Retry-After once open; "
            "attempts within the retry budget; a 2xx again after the half-open probes"
        ),
        run=outage,
    ),
)
