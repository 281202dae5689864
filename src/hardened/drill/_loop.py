"""Loop drill: the service's declared hook blocks the loop; the gate must name its line."""

from __future__ import annotations

import time

from hardened.drill._model import Drill, Outcome, Skip, measure
from hardened.drill._target import Target

__all__ = ["DRILLS"]

BLOCK_S = 0.4
CALM_WAIT_S = 3.0


def _label(culprit: object) -> str:
    if isinstance(culprit, dict):
        return f"{culprit.get('file')}:{culprit.get('line')} {culprit.get('function')}"
    return str(culprit)


def _calm(target: Target) -> float | None:
    """Seconds until the shedder no longer counts the process overloaded (the block made it
    so): the next drill then meets the service as it was. None: not within 3 s."""
    started = time.monotonic()
    while time.monotonic() - started < CALM_WAIT_S:
        shed = target.evidence("observe").get("shed") or {}
        if not shed.get("overloaded"):
            return round(time.monotonic() - started, 2)
        time.sleep(0.05)
    return None


def blocked(target: Target) -> Outcome:
    declared = target.manifest().get("block_loop")
    if not declared:
        raise Skip("the service declares no block_loop hook (DrillConfig(block_loop=...))")
    before = int(target.evidence("loop").get("blocked_events_total", 0))
    answer = target.hook("block_loop", {"seconds": BLOCK_S})
    file, first = str(declared["file"]), int(declared["line"])
    events: list[dict[str, object]] = []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:  # the watchdog reports once the loop has recovered
        evidence = target.evidence("loop")
        if int(evidence.get("blocked_events_total", 0)) > before:
            events = evidence.get("recent_blocked_events", [])
            break
        time.sleep(0.1)
    calm_after = _calm(target)
    short = file.rsplit("/", 1)[-1]
    named = [event for event in events if file in str(event) or short in str(event)]
    failures = []
    if not events:
        failures.append(f"the loop was held {BLOCK_S} s and /gates reports no blocked event")
    elif not named:
        failures.append(f"blocked events name other code, not {file}: {events[-1]}")
    measured = {
        "blocked_s": (answer.json() or {}).get("blocked_s"),
        "events": len(events),
        "culprit": _label(named[-1].get("culprit")) if named else None,
        "declared": f"{file}:{first}",
        "shedder_calm_after_s": calm_after,
    }
    return measure(measured, failures, f"culprit {measured['culprit']}")


DRILLS = (
    Drill(
        gate="loop",
        name="blocked_loop",
        did="call the declared block_loop hook for 0.4 s on the event loop",
        expected="/gates loop evidence names the hook's file and line as the culprit",
        run=blocked,
    ),
)
