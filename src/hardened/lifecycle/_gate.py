"""The lifecycle gate: signals and PID 1, body limit, backpressure, slow clients, keep-alive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hardened.gates import GATE_QUESTIONS, GateResult, Installer, Status, Tier
from hardened.lifecycle._config import BODY_LIMIT_ATTRIBUTE, LifecycleConfig
from hardened.lifecycle._process import ProcessFacts, inspect_process
from hardened.lifecycle._state import LifecycleStats, SlowClientStats
from hardened.routes import RouteOverrides

__all__ = ["LifecycleGate", "RunnerFacts"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerFacts:
    """What `hardened run` put in force, told to the gate when the server is built."""

    protocol: str
    keep_alive_timeout: float
    header_timeout: float
    body_timeout: float
    linger_timeout: float
    stats: SlowClientStats


def _signal_findings(facts: ProcessFacts, *, serving: bool) -> tuple[list[str], list[str]]:
    """Failures and caveats about who receives SIGTERM."""
    failures: list[str] = []
    caveats: list[str] = []
    if facts.is_pid1 and not facts.handles_sigterm:
        if serving:
            failures.append(
                "PID 1 without a SIGTERM handler: the kernel drops SIGTERM, SIGKILL follows"
            )
        else:
            caveats.append(
                "PID 1 with no SIGTERM handler yet (not serving): `hardened run` installs "
                "one at start; any other server must, or SIGTERM is dropped"
            )
    if facts.shell_is_pid1_parent:
        failures.append(
            f"PID 1 is a shell ({facts.pid1_name}) that does not forward SIGTERM; "
            "use exec, or tini/dumb-init as PID 1"
        )
    unknown_pid1 = not (facts.is_pid1 or facts.init_is_pid1 or facts.shell_is_pid1_parent)
    if unknown_pid1 and facts.ppid == 1:
        caveats.append(f"PID 1 is {facts.pid1_name!r}: make sure it forwards SIGTERM")
    if not serving and not facts.is_pid1:
        caveats.append("not serving: the SIGTERM handler is installed by `hardened run` at start")
    return failures, caveats


class LifecycleGate:
    """Answers: does the process get SIGTERM; are body limit, backpressure, timeouts in force?"""

    name = "lifecycle"

    def __init__(self, config: LifecycleConfig, service: Installer, stats: LifecycleStats) -> None:
        self.config = config
        self._service = service
        self._stats = stats
        self.runner: RunnerFacts | None = None

    def attach_runner(self, facts: RunnerFacts) -> None:
        """Record the runner's effective settings (called by `hardened run`)."""
        self.runner = facts

    def _serving(self) -> bool:
        return self._service.serving()

    def _slow_clients(self) -> tuple[dict[str, Any], str | None]:
        config, runner = self.config, self.runner
        if runner is not None:
            evidence: dict[str, Any] = {
                "enforced_by": f"hardened run ({runner.protocol})",
                "header_timeout_s": runner.header_timeout,
                "body_timeout_s": runner.body_timeout,
                "linger_timeout_s": runner.linger_timeout,
                "header_timeouts": runner.stats.header_timeouts,
                "body_timeouts": runner.stats.body_timeouts,
                "lingering_closes": runner.stats.lingered,
                "discarded_bytes": runner.stats.discarded_bytes,
                "header_limits": {
                    "max_line_bytes": config.header_limits.max_line_bytes,
                    "max_total_bytes": config.header_limits.max_total_bytes,
                    "max_fields": config.header_limits.max_fields,
                    "over": "431, Connection: close",
                    "ambiguous_framing": "400, Connection: close (CL with TE, obs-fold, bare LF)",
                },
                "refused_heads": runner.stats.refused_heads,
            }
            return evidence, None
        if config.slow_clients_handled_by:
            return {"enforced_by": f"declared proxy: {config.slow_clients_handled_by}"}, None
        evidence = {
            "enforced_by": None,
            "header_timeout_s": config.header_timeout,
            "body_timeout_s": config.body_timeout,
        }
        if self._serving():
            return evidence, (
                "served without hardened run's protocols and no proxy declared: no header or "
                "body timeout, a silent or header-trickling socket stays open forever"
            )
        evidence["enforced_by"] = "hardened run (when served by it)"
        return evidence, None

    def _edge_timeout(self) -> float | None:
        timeout = self._service.fact("deadline.default_timeout")
        return timeout if isinstance(timeout, float | int) else None

    def check(self, tier: Tier) -> GateResult:
        config, stats = self.config, self._stats
        facts: ProcessFacts = inspect_process()
        strict = tier.at_least(Tier.STANDARD)
        failures: list[str] = []
        warnings: list[str] = []
        caveats: list[str] = [
            "backpressure is a static per-process bound; latency under overload is the "
            "adaptive shedder's job (observe gate)",
        ]
        serving = self._serving()
        signal_failures, signal_caveats = _signal_findings(facts, serving=serving)
        failures.extend(signal_failures)
        caveats.extend(signal_caveats)
        slow, slow_problem = self._slow_clients()
        if slow_problem:
            failures.append(slow_problem)
        elif self.runner is None and not config.slow_clients_handled_by:
            caveats.append("header and body timeouts hold only under `hardened run`")
        keep_alive = self.runner.keep_alive_timeout if self.runner else config.keep_alive_timeout
        if keep_alive <= config.load_balancer_idle_timeout:
            warnings.append(
                f"keep-alive {keep_alive:g}s is not above the load balancer's idle timeout "
                f"{config.load_balancer_idle_timeout:g}s: expect intermittent 502s"
            )
        if facts.supervisor and facts.kubernetes:
            warnings.append(
                f"several workers under Kubernetes ({facts.supervisor}): the parent keeps the "
                "socket while workers drain, new connections are reset; run one process per pod"
            )
        elif facts.supervisor:
            caveats.append(f"running under a worker supervisor: {facts.supervisor}")
        edge_timeout = self._edge_timeout()
        if edge_timeout is None:
            warnings.append("no edge timeout: the deadline mechanism is off")
        routes = RouteOverrides(self._service.app, BODY_LIMIT_ATTRIBUTE).describe()
        evidence: dict[str, Any] = {
            "signals": facts.to_json(),
            "body_limit": {
                "default_bytes": config.max_body_bytes,
                "route_bytes": routes,
                "over_declared_length": "413 before reading, Connection: close",
                "refused_by_content_length": stats.rejected_declared,
                "stopped_while_streaming": stats.stopped,
            },
            "backpressure": {
                "max_in_flight": config.max_in_flight,
                "retry_after_s": config.retry_after,
                "in_flight": stats.in_flight,
                "peak_in_flight": stats.peak_in_flight,
                "rejected": stats.rejected_busy,
                "counts": "requests, not connections; probes exempt",
            },
            "slow_clients": slow,
            "keep_alive": {
                "timeout_s": keep_alive,
                "load_balancer_idle_timeout_s": config.load_balancer_idle_timeout,
            },
            "edge_timeout_s": edge_timeout,
            "workers": {"supervisor": facts.supervisor, "kubernetes": facts.kubernetes},
        }
        status = Status.PASS
        if warnings:
            status = Status.WARN
        if failures:
            status = Status.FAIL if strict else Status.WARN
        return GateResult(
            name=self.name,
            question=GATE_QUESTIONS[self.name],
            status=status,
            evidence=evidence,
            caveats=(*failures, *warnings, *caveats),
        )
