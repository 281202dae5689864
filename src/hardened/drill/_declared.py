"""What the drills read from a service's declarations: its requests, its dependencies and their
limits, and a slow request made from a dependency's fault hook when none is declared."""

from __future__ import annotations

import time
from typing import Any

from hardened.drill._model import Skip
from hardened.drill._target import Target

__all__ = [
    "SlowRequest",
    "dependency_limits",
    "first_dependency",
    "require_safe",
    "slow_request",
]

MAX_SLOW_S = 1.0  # a slow request takes about a second
SLOW_SHARE = 0.8  # of the attempt timeout: slow, never cut by it
IN_FLIGHT_WAIT_S = 10.0


def require_safe(target: Target, spec: dict[str, Any], role: str) -> None:
    """Skip a declared request that is not marked safe when only safe drills may run."""
    if target.safe_only and not spec.get("safe"):
        raise Skip(f"the {role!r} request is not declared safe; --allow this drill to send it")


def first_dependency(target: Target) -> str:
    """The dependency the declared `outbound` request calls (the first one declared)."""
    manifest = target.manifest()
    names = manifest.get("dependencies") or []
    if not names:
        missing = ", ".join(manifest.get("unresolved") or ())
        raise Skip(
            f"DrillConfig names {missing}, which the service does not have"
            if missing
            else "the service declares no dependency for drills (DrillConfig(dependencies=))"
        )
    return str(names[0])


def dependency_limits(target: Target, name: str) -> dict[str, Any]:
    """The dependency's timeouts, breaker and retry settings as `/gates` reports them."""
    for dependency in target.evidence("breaker").get("dependencies", []):
        if dependency.get("name") == name:
            limits: dict[str, Any] = dependency
            return limits
    raise Skip(f"/gates lists no dependency {name!r}")


class SlowRequest:
    """A request that takes about a second: the declared `slow` one, or else the declared
    `outbound` one while its dependency's attempts are made slow (`POST /drill/dependency`)."""

    def __init__(self, spec: dict[str, Any], role: str, dependency: str | None) -> None:
        self.spec = spec
        self.role = role
        self.dependency = dependency
        self.latency_s: float | None = None

    def slow_down(self, target: Target) -> None:
        """Make the dependency slow on `target` (nothing to do for a declared slow request)."""
        if self.dependency is None:
            return
        if target.safe_only:  # every caller of the dependency would wait too
            raise Skip(
                f"a slow {self.dependency} delays every request that calls it; declare a "
                "safe 'slow' request or --allow this drill"
            )
        limits = dependency_limits(target, self.dependency)
        self.latency_s = round(min(MAX_SLOW_S, SLOW_SHARE * float(limits["attempt_timeout_s"])), 3)
        payload = {"mode": "slow", "latency_s": self.latency_s}
        target.hook(f"dependency/{self.dependency}", payload)

    def restore(self, target: Target) -> None:
        """Detach the fault again."""
        if self.dependency is not None:
            target.hook(f"dependency/{self.dependency}", {"mode": "off"})

    def attempts(self, target: Target) -> int | None:
        """Attempts the dependency saw since `slow_down` (None for a declared slow request)."""
        if self.dependency is None:
            return None
        seen = target.hook_get(f"dependency/{self.dependency}").json() or {}
        return int(seen.get("attempts", 0))

    def wait_in_flight(self, target: Target, count: int, settle: float) -> int | None:
        """Wait until `count` requests wait on the slow dependency (at most 10 s), or `settle`
        seconds for a declared slow request; how many were seen waiting (None: not known)."""
        if self.dependency is None:
            time.sleep(settle)
            return None
        waiting = 0
        deadline = time.monotonic() + IN_FLIGHT_WAIT_S
        while time.monotonic() < deadline:
            seen = target.hook_get(f"dependency/{self.dependency}").json() or {}
            waiting = int(seen.get("waiting", 0))
            if waiting >= count:
                break
            time.sleep(0.02)
        return waiting


def slow_request(target: Target) -> SlowRequest:
    """The declared `slow` request, or the `outbound` one with its dependency to slow down."""
    requests = target.manifest().get("requests", {})
    if isinstance(requests.get("slow"), dict):
        return SlowRequest(requests["slow"], "slow", None)
    if isinstance(requests.get("outbound"), dict) and target.manifest().get("dependencies"):
        return SlowRequest(requests["outbound"], "outbound", first_dependency(target))
    raise Skip(
        "the service declares no 'slow' request (DrillConfig(slow=...)) and no 'outbound' "
        "request with a dependency to slow down (DrillConfig(outbound=..., dependencies=...))"
    )
