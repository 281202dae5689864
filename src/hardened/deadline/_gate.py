"""The deadline gate: the budget in force, its sources, who consumes it, and explicit wiring."""

from __future__ import annotations

import importlib
from typing import Any

from hardened.deadline._config import ROUTE_TIMEOUT_ATTRIBUTE, DeadlineConfig
from hardened.deadline._headers import GRPC_TIMEOUT_HEADER, REQUEST_TIMEOUT_HEADER
from hardened.deadline._stage import DeadlineStats
from hardened.gates import GATE_QUESTIONS, GateResult, Installer, Status, Tier
from hardened.routes import RouteOverrides
from hardened.wiring import WiringScan, consumes_deadline, makes_calls

__all__ = ["DeadlineGate"]

_SCAN_CAVEAT = (
    "the wiring scan sees module globals of the service's, application's and endpoints' "
    "modules only; a client built inside a function, closure or class is invisible to it"
)
_STREAM_CAVEAT = (
    "the budget is enforced until the response starts; a streaming body is not cut, and time "
    "spent before this process saw the request (proxy, kernel queue) is not counted"
)


class DeadlineGate:
    """Answers: is the timeout budget set once and propagated; is the wiring explicit?"""

    name = "deadline"

    def __init__(self, config: DeadlineConfig, service: Installer, stats: DeadlineStats) -> None:
        self._config = config
        self._service = service
        self._stats = stats
        self._wiring = WiringScan(service, config.scan_modules)

    @property
    def default_timeout(self) -> float:
        """The service's budget per request."""
        return self._config.default_timeout

    def _components(self) -> list[dict[str, Any]]:
        components = self._service.components
        described = components.describe()
        for entry, kind in zip(described, components.kinds(), strict=True):
            try:
                value = components.get(kind)
            except LookupError:
                value = None
            declared = components.declared_deadline(kind)
            entry["deadline_declared"] = declared
            entry["consumes_deadline"] = consumes_deadline(kind, value, declared)
            entry["outbound"] = makes_calls(kind, value, declared)
        return described

    def _scan(self) -> list[dict[str, str]]:
        if not self._wiring.cached:
            for name in self._config.scan_modules:
                importlib.import_module(name)
        return self._wiring.result()

    def refresh(self) -> None:
        """Scan the modules again at the next check (`/gates?refresh=1`)."""
        self._wiring.refresh()

    def check(self, tier: Tier) -> GateResult:
        config, stats = self._config, self._stats
        overrides = RouteOverrides(self._service.app, ROUTE_TIMEOUT_ATTRIBUTE).describe()
        components = self._components()
        outside = self._scan()
        evidence: dict[str, Any] = {
            "default_timeout_s": config.default_timeout,
            "route_timeouts_s": overrides,
            "inbound_headers": (
                [REQUEST_TIMEOUT_HEADER, GRPC_TIMEOUT_HEADER] if config.accept_inbound else []
            ),
            "outbound_header": REQUEST_TIMEOUT_HEADER,
            "rule": "route timeout or service default, lowered by the inbound header",
            "edge_answer": {
                "spent": 504,
                "spent_waiting_on_the_clients_body": 408,
                "arrived_late": "504, route __caller__, in no SLO",
            },
            "requests_by_source": dict(stats.by_source),
            "expired": stats.expired,
            "refused_late": stats.refused_late,
            "malformed_headers": stats.malformed_header,
            "components": components,
            "outside_clients": outside,
            "wiring_scan": {
                "scans": self._wiring.scans,
                "cached": self._wiring.cached,
                "refresh": "GET /gates?refresh=1",
            },
        }
        caveats = [_STREAM_CAVEAT, _SCAN_CAVEAT]
        status = Status.PASS
        idle = [c["type"] for c in components if c["outbound"] and not c["consumes_deadline"]]
        if idle:
            caveats.append(f"registered components that do not read the budget: {idle}")
            if tier.at_least(Tier.STANDARD):
                status = Status.WARN
        if outside:
            where = [client["where"] for client in outside]
            caveats.append(f"outbound clients built outside the Service: {where}")
            status = Status.FAIL if tier.at_least(Tier.STANDARD) else Status.WARN
        if not config.accept_inbound:
            caveats.append("inbound budgets are ignored: callers' deadlines do not propagate")
        return GateResult(
            name=self.name,
            question=GATE_QUESTIONS[self.name],
            status=status,
            evidence=evidence,
            caveats=tuple(caveats),
        )
