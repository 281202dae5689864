"""Pool drill: every connection checked out; the next request fails fast, then the pool recovers."""

from __future__ import annotations

import time
from typing import Any

from hardened.drill._declared import require_safe
from hardened.drill._model import Drill, Outcome, Skip, measure
from hardened.drill._target import Target
from hardened.drill._wire import Answer

__all__ = ["DRILLS"]

HOLD_S = 3.0
MARGIN_S = 0.5
BASELINE_TRIES = 5


def _baseline(target: Target, spec: dict[str, Any]) -> Answer:
    """The request's usual answer: sent again (at most 5 times) while the shedder refuses it,
    as after a loop that was just blocked; a shed 503 says nothing about the pool."""
    answer = target.send(spec, timeout=10.0)
    for _ in range(BASELINE_TRIES - 1):
        if answer.status != 503 or b"load-shed" not in answer.body:
            break
        time.sleep(0.2)
        answer = target.send(spec, timeout=10.0)
    return answer


def exhausted(target: Target) -> Outcome:
    spec = target.declared("database")
    require_safe(target, spec, "database")
    names = target.manifest().get("pools") or []
    if not names:
        raise Skip("the service declares no pool for drills (DrillConfig(pools=[...]))")
    before = _baseline(target, spec)
    held = target.hook(f"pool/{names[0]}", {"hold_s": HOLD_S}).json() or {}
    started = time.monotonic()
    answer = target.send(spec, timeout=HOLD_S + 10.0)
    acquire = float(held.get("acquire_timeout_s", 1.0))
    recovered: float | None = None
    while time.monotonic() - started < HOLD_S + 5.0:
        if target.send(spec, timeout=10.0).status == before.status:
            recovered = round(time.monotonic() - started, 2)
            break
        time.sleep(0.2)
    failures = []
    if before.status >= 500:
        failures.append(f"the declared database request failed before the drill ({before.status})")
    if answer.status != 503 or "retry-after" not in answer.headers:
        failures.append(
            f"with all {held.get('held')} connections held, the request got {answer.status} "
            f"after {answer.seconds:.2f} s, not a fast 503 + Retry-After"
        )
    elif answer.seconds > acquire + MARGIN_S:
        failures.append(f"503 only after {answer.seconds:.2f} s (acquire timeout {acquire} s)")
    if recovered is None:
        failures.append(
            f"not answered {before.status} again within {HOLD_S + 5:.0f} s of the connections "
            "coming back"
        )
    measured = {
        "held": held.get("held"),
        "max_size": held.get("max_size"),
        "acquire_timeout_s": acquire,
        "status": answer.status,
        "seconds": round(answer.seconds, 3),
        "recovered_after_s": recovered,
    }
    return measure(measured, failures, f"503 in {answer.seconds:.2f} s, recovered")


DRILLS = (
    Drill(
        gate="pool",
        name="pool_exhausted",
        did=f"check out every connection of the first declared pool for {HOLD_S:g} s",
        expected="the declared database request: 503 + Retry-After within the acquire "
        "timeout; its usual answer again once the connections are back",
        run=exhausted,
    ),
)
