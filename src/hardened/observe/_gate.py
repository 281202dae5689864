"""The observe gate: RED present, SLOs declared with burn rates, a shedder on, state exported."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hardened.gates import GATE_NAMES, GATE_QUESTIONS, GateResult, Installer, Status, Tier
from hardened.observe._multiprocess import multiprocess_evidence
from hardened.state import MechanismStates

if TYPE_CHECKING:
    from hardened.observe._install import Observability

__all__ = ["PAGE_BURN_RATE", "ObserveGate"]

PAGE_BURN_RATE = 14.4  # the 1 h page threshold of the generated rules


class ObserveGate:
    """Answers gate 8 from the installed observability and the mechanism-state registry."""

    name = "observe"

    def __init__(self, service: Installer, observability: Observability) -> None:
        self._service = service
        self._obs = observability

    def _states(self) -> MechanismStates:
        states = self._service.fact("state.mechanisms")
        return states if isinstance(states, MechanismStates) else MechanismStates()

    def _red(self, fails: list[str], caveats: list[str]) -> dict[str, Any]:
        metrics = self._obs.metrics
        if metrics is None or self._obs.config is None or self._obs.routes is None:
            fails.append("RED metrics are off (observe=None)")
            return {"enabled": False}
        series = metrics.series()
        overflowed = {
            children.name: children.overflowed
            for children in (metrics.request_children, metrics.duration_children)
        }
        if any(overflowed.values()):
            caveats.append(
                f"series budget of {self._obs.config.series_budget} reached: "
                f"{overflowed} observations went to route=__overflow__"
            )
        return {
            "enabled": True,
            "metrics": [
                "http_server_request_duration_seconds",
                "http_server_requests_total",
                "http_server_active_requests",
            ],
            "route_label": "template",
            "routes": self._obs.routes.templates(),
            "buckets": list(metrics.buckets),
            "series_budget": self._obs.config.series_budget,
            "series": series,
            "overflowed": overflowed,
            "exemplars": self._obs.config.exemplars,
        }

    def _slos(self, tier: Tier, fails: list[str], warns: list[str]) -> list[dict[str, Any]]:
        metrics = self._obs.metrics
        if not self._obs.slos:
            (warns if tier is Tier.INTERNAL else fails).append("no SLO declared")
            return []
        now = self._service.clock.monotonic()
        documents = []
        for tracker in metrics.trackers if metrics else ():
            rates = tracker.burn_rates(now)
            hour = rates.get("1h")
            good, total = tracker.counts(now, 3600)
            enough = total - good >= tracker.slo.min_bad_requests  # the minimum-traffic guard
            if hour is not None and hour >= PAGE_BURN_RATE and enough:
                warns.append(f"SLO {tracker.slo.name} burns its budget {hour}x over 1h")
            documents.append(
                {
                    "name": tracker.slo.name,
                    "kind": tracker.slo.kind,
                    "objective": tracker.slo.objective,
                    "latency_seconds": tracker.slo.latency,
                    "routes": list(tracker.slo.routes) or "all",
                    "period_days": tracker.slo.period_days,
                    "burn_rates": rates,
                    "min_bad_requests": tracker.slo.min_bad_requests,
                }
            )
        return documents

    def _shed(self, tier: Tier, fails: list[str], warns: list[str]) -> dict[str, Any]:
        states = [m for m in self._states().snapshot() if m["kind"] == "shed"]
        if not states:
            (warns if tier is Tier.INTERNAL else fails).append("no load shedder (shed=None)")
            return {"enabled": False}
        return {"enabled": True, **states[0]["state"]}

    def _mechanisms(self, warns: list[str]) -> dict[str, Any]:
        mechanisms = self._states()
        exporting = mechanisms.gates_with_state()
        configured = self._service.fact("gates.configured") or ()
        silent = [
            name
            for name in GATE_NAMES
            if name != self.name and name in configured and name not in exporting
        ]
        if silent:
            warns.append(f"configured gates export no mechanism state: {silent}")
        snapshot = mechanisms.snapshot()
        return {
            "exported": [
                {"kind": m["kind"], "name": m["name"], "gate": m["gate"]} for m in snapshot
            ],
            "gates_without_state": silent,
            "read_errors": mechanisms.read_errors,
        }

    def check(self, tier: Tier) -> GateResult:
        fails: list[str] = []
        warns: list[str] = []
        caveats: list[str] = []
        evidence: dict[str, Any] = {"red": self._red(fails, caveats)}
        evidence["slos"] = self._slos(tier, fails, warns)
        evidence["shed"] = self._shed(tier, fails, warns)
        evidence["mechanisms"] = self._mechanisms(warns)
        multiprocess = multiprocess_evidence()
        evidence["multiprocess"] = multiprocess
        if multiprocess["mode"] == "multiprocess":
            caveats.append(
                "multiprocess mode: mechanism state, SLO burn rates, process and GC metrics are "
                "per worker and not merged; exemplars are dropped"
            )
            if multiprocess.get("dead_pid_files"):
                warns.append(
                    f"{multiprocess['dead_pid_files']} metric files of dead workers "
                    f"{multiprocess['dead_pids']} in {multiprocess['directory']}"
                )
        if self._obs.slos:
            caveats.append(
                "burn rates here are per process over at most 6 h; the fleet's budget comes from "
                "the rules of `hardened rules`"
            )
        status = Status.FAIL if fails else Status.WARN if warns else Status.PASS
        return GateResult(
            name=self.name,
            question=GATE_QUESTIONS[self.name],
            status=status,
            evidence=evidence,
            caveats=tuple(f"fail: {m}" for m in fails)
            + tuple(f"warn: {m}" for m in warns)
            + tuple(caveats),
        )
