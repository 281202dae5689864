"""The shutdown gate: does the drain fit the grace period; does it deregister before it drains?"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

from hardened.errors import ConfigError
from hardened.gates import GATE_QUESTIONS, GateResult, Status, Tier

if TYPE_CHECKING:
    from hardened.shutdown._manager import ShutdownManager

__all__ = ["ShutdownGate"]

_ALWAYS = (
    "work that blocks the event loop or ignores cancellation is ended only by the watchdog "
    "(exit 1), and its client gets no answer",
    "the sequence runs under `hardened run`; plain `uvicorn` (or `--workers`) keeps uvicorn's "
    "stock shutdown",
    "a request cut at the drain timeout before its response started is answered 503 "
    "(problem shutdown-interrupted, Retry-After, Connection: close) by the edge; its work may "
    "be partly done, so only idempotent requests are safe to retry",
)


class ShutdownGate:
    """Reports every term of the budget, the deregistration order and the last shutdown."""

    name = "shutdown"

    def __init__(self, manager: ShutdownManager) -> None:
        self._manager = manager

    def check(self, tier: Tier) -> GateResult:
        manager = self._manager
        try:
            budget = manager.budget()
        except ConfigError as exc:
            return self._result(
                Status.FAIL, {"configured": True, "error": str(exc)}, (f"fail: {exc}",)
            )
        fails: list[str] = []
        warns: list[str] = []
        if not budget.fits:
            terms = " + ".join(
                f"{name} {value:g}"
                for name, value in (
                    ("preStop", budget.prestop),
                    ("delay", budget.deregistration_delay),
                    ("drain", budget.drain),
                    ("teardown", budget.teardown),
                    ("margin", budget.margin),
                )
            )
            fails.append(
                f"fail: {terms} = {budget.total:g}s exceeds the grace period "
                f"{budget.grace_period:g}s ({budget.grace_source})"
            )
        deregisters = budget.prestop > 0 or budget.deregistration_delay > 0
        if budget.orchestrated and not deregisters:
            warns.append(
                "warn: no preStop sleep and no delay: the drain starts while load balancers "
                "still route here"
            )
        if budget.prestop > 0 and budget.deregistration_delay > 0:
            warns.append("warn: both a preStop sleep and an in-app delay: the delay is doubled")
        evidence: dict[str, Any] = {
            "configured": True,
            "budget": budget.terms(),
            "orchestrated": budget.orchestrated,
            "deregistration_before_drain": deregisters,
            "sequence": [
                "readiness 503 + Connection: close",
                f"serve {budget.deregistration_delay:g}s",
                "close listeners and idle connections",
                f"drain up to {budget.drain:g}s, then cancel",
                "finish or cancel background work",
                f"tear down in reverse ({budget.teardown_step:g}s each, "
                f"{budget.teardown:g}s total)",
                "report, exit 0",
            ],
            "watchdog": manager.config.watchdog,
            # False in `hardened check` (nothing is serving) and under a server other than
            # `hardened run`, where uvicorn's stock shutdown applies instead.
            "sequence_attached": manager.attached,
            "background_workers": manager.background_tasks.names(),
            "last_shutdown": manager.last_report(),
        }
        if manager.service is not None:
            managed = [c["type"] for c in manager.service.components.describe()]
            evidence["teardown_order"] = list(reversed(managed))
        if budget.manifest is not None:
            fails += self._check_manifest(budget.manifest, evidence)
        if not manager.config.watchdog:
            (fails if tier.at_least(Tier.CRITICAL) else warns).append(
                "watchdog disabled: a stuck drain ends in SIGKILL with no report"
            )
        caveats = [*fails, *warns, *_ALWAYS]
        if not any(importlib.util.find_spec(m) for m in ("websockets", "wsproto")):
            caveats.append("no WebSocket library is installed: uvicorn serves no WebSockets")
        if budget.manifest is None:
            unverified = (
                f"warn: the grace period ({budget.grace_period:g}s) is a setting, not read from "
                "the deploy manifest; configure manifest= so the gate checks the deployed value"
            )
            if tier.at_least(Tier.STANDARD):
                warns.append(unverified)
                caveats.insert(len(fails) + len(warns) - 1, unverified)
            else:
                caveats.append(unverified)
        status = Status.FAIL if fails else Status.WARN if warns else Status.PASS
        return self._result(status, evidence, tuple(caveats))

    def _check_manifest(self, manifest: Any, evidence: dict[str, Any]) -> list[str]:
        evidence["manifest"] = {
            "path": manifest.path,
            "workload": manifest.workload,
            "container": manifest.container,
            "prestop": manifest.prestop,
            "readiness_probe": manifest.readiness_path,
            "liveness_probe": manifest.liveness_path,
        }
        problems = []
        if manifest.prestop in ("exec", "httpGet"):
            problems.append(
                f"fail: the preStop hook ({manifest.prestop}) takes an unknown time; use "
                "`sleep` so the budget can count it"
            )
        service = self._manager.service
        probes = service.fact("endpoints.probes") if service is not None else None
        if probes is not None:
            readyz, livez = probes
            if manifest.readiness_path != readyz:
                problems.append(
                    f"fail: the readiness probe is {manifest.readiness_path!r}, not "
                    f"{readyz!r}: it will not see the drain begin"
                )
            if manifest.liveness_path not in (None, livez):
                problems.append(
                    f"fail: the liveness probe is {manifest.liveness_path!r}, not "
                    f"{livez!r}: a draining pod could be restarted"
                )
        return problems

    def _result(
        self, status: Status, evidence: dict[str, Any], caveats: tuple[str, ...]
    ) -> GateResult:
        return GateResult(
            name=self.name,
            question=GATE_QUESTIONS[self.name],
            status=status,
            evidence=evidence,
            caveats=caveats,
        )
