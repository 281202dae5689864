"""Deadline drills: a caller budget of a few ms, and the budget handed to a dependency."""

from __future__ import annotations

from typing import Any

from hardened.drill._model import Drill, Outcome, Skip, measure
from hardened.drill._target import Target

__all__ = ["DRILLS", "first_dependency", "require_safe"]

TINY_BUDGET_S = 0.005
CALLER_BUDGET_S = 2.5


def require_safe(target: Target, spec: dict[str, Any], role: str) -> None:
    """Skip a declared request that is not marked safe when only safe drills may run."""
    if target.safe_only and not spec.get("safe"):
        raise Skip(f"the {role!r} request is not declared safe; --allow this drill to send it")


def first_dependency(target: Target) -> str:
    """The dependency the declared `outbound` request calls (the first one declared)."""
    names = target.manifest().get("dependencies") or []
    if not names:
        raise Skip("the service declares no dependency for drills (DrillConfig(dependencies=))")
    return str(names[0])


def tiny_budget(target: Target) -> Outcome:
    spec = target.declared("slow")
    require_safe(target, spec, "slow")
    answer = target.send(spec, headers={"X-Request-Timeout": f"{TINY_BUDGET_S}"}, timeout=30.0)
    failures = []
    if answer.status != 504:
        failures.append(
            f"a {TINY_BUDGET_S * 1000:.0f} ms caller budget got {answer.status} after "
            f"{answer.seconds:.2f} s, not 504: the work ran past the caller's budget"
        )
    elif answer.seconds > 0.5:
        failures.append(f"504 only after {answer.seconds:.2f} s: the work started anyway")
    measured = {
        "budget_s": TINY_BUDGET_S,
        "status": answer.status,
        "seconds": round(answer.seconds, 4),
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
        did="send the declared slow request with X-Request-Timeout: 0.005",
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
