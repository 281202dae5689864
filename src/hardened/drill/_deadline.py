"""Deadline drills: a caller budget of a few ms, and the budget handed to a dependency."""

from __future__ import annotations

from hardened.drill._declared import first_dependency, require_safe, slow_request
from hardened.drill._model import Drill, Outcome, measure
from hardened.drill._target import Target

__all__ = ["DRILLS"]

TINY_BUDGET_S = 0.005
TINY_ANSWER_S = 0.5
CALLER_BUDGET_S = 2.5


def tiny_budget(target: Target) -> Outcome:
    slow = slow_request(target)
    require_safe(target, slow.spec, slow.role)
    slow.slow_down(target)
    try:
        answer = target.send(
            slow.spec, headers={"X-Request-Timeout": f"{TINY_BUDGET_S}"}, timeout=30.0
        )
        attempts = slow.attempts(target)
    finally:
        slow.restore(target)
    failures = []
    if answer.status != 504:
        failures.append(
            f"a {TINY_BUDGET_S * 1000:.0f} ms caller budget got {answer.status} after "
            f"{answer.seconds:.2f} s, not 504: the work ran past the caller's budget"
        )
    elif answer.seconds > TINY_ANSWER_S:
        failures.append(f"504 only after {answer.seconds:.2f} s: the work started anyway")
    measured: dict[str, float | int | str | None] = {
        "budget_s": TINY_BUDGET_S,
        "request": slow.role,
        "slow_dependency_s": slow.latency_s,
        "status": answer.status,
        "seconds": round(answer.seconds, 4),
        "dependency_attempts": attempts,
    }
    return measure(measured, failures, f"504 in {answer.seconds * 1000:.0f} ms")


def propagated(target: Target) -> Outcome:
    spec = target.declared("outbound")
    require_safe(target, spec, "outbound")
    name = first_dependency(target)
    target.hook(f"dependency/{name}", {"mode": "pass"})
    try:
        answer = target.send(
            spec, headers={"X-Request-Timeout": f"{CALLER_BUDGET_S}"}, timeout=30.0
        )
        seen = target.hook_get(f"dependency/{name}").json() or {}
    finally:
        target.hook(f"dependency/{name}", {"mode": "off"})
    budget, header = seen.get("budget_s"), seen.get("header")
    failures = []
    if not seen.get("attempts"):
        failures.append(f"the request ({answer.status}) never reached {name}")
    elif budget is None or header is None:
        failures.append(f"{name} was called with no budget: the caller's deadline was dropped")
    elif not 0 < float(budget) <= CALLER_BUDGET_S:
        failures.append(f"{name} saw a budget of {budget} s for a {CALLER_BUDGET_S} s caller")
    measured = {
        "caller_budget_s": CALLER_BUDGET_S,
        "dependency_budget_s": budget,
        "outbound_header": header,
        "status": answer.status,
    }
    return measure(measured, failures, f"{name} received {header} s of a {CALLER_BUDGET_S} s")


DRILLS = (
    Drill(
        gate="deadline",
        name="tiny_budget",
        did="send the declared slow request (or the outbound one, its dependency made slow) "
        "with X-Request-Timeout: 0.005",
        expected="504 within 0.5 s, before the work",
        run=tiny_budget,
        safe=True,
    ),
    Drill(
        gate="deadline",
        name="budget_propagated",
        did="send the declared outbound request with a 2.5 s budget, read what the dependency got",
        expected="the dependency's attempt carries a budget in (0, 2.5] s and the header",
        run=propagated,
        safe=True,
    ),
)
