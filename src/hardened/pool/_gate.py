"""PoolGate: is every pool bounded, sized to its load, with an acquire timeout (gate 4)?

An unbounded pool, one without an acquire timeout, or one built outside the service fails at
the standard tier and above (warns at internal). A pool too small for its load, or a fleet
that can exhaust the database's connections, warns. A service with no pool passes, saying
what was looked for and what the scan cannot see.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hardened.gates import GATE_QUESTIONS, GateResult, Status, Tier
from hardened.pool._inventory import (
    LOOKED_FOR,
    held_pools,
    offload_pool,
    outside_pools,
)
from hardened.pool._sizing import fleet, littles_law, pods

if TYPE_CHECKING:
    from hardened.gates import Installer
    from hardened.pool._postgres import PostgresPool

__all__ = ["PoolGate"]

SCAN_CAVEAT = (
    "pools are found among the service's components (and one attribute inside them) and in "
    "the module globals of the service's, application's and endpoints' modules; a pool built "
    "inside a function, a closure or a class is invisible to the scan"
)
FLEET_CAVEAT = (
    "the fleet check counts this service's pods only: other services, migrations and consoles "
    "share max_connections, and an autoscaler may run more pods than the manifest declares"
)


class PoolGate:
    """Lists every pool with its bound and acquire timeout; checks the sizing arithmetic."""

    name = "pool"

    def __init__(self, pools: Iterable[PostgresPool], service: Installer) -> None:
        self._pools = pools
        self._service = service

    def _pods(self, pool: PostgresPool) -> tuple[int, str]:
        if pool.config.replicas is not None:
            return pool.config.replicas, "PoolConfig.replicas"
        try:
            manifest = self._service.fact("shutdown.manifest")
        except Exception as exc:  # an unreadable manifest is the shutdown gate's failure
            return 1, f"1 assumed: the manifest could not be read ({exc})"
        replicas = getattr(manifest, "replicas", None)
        if replicas is None:
            return 1, "1 assumed: no replicas setting and no manifest declaring them"
        count = pods(int(replicas), getattr(manifest, "max_surge", None))
        where = f"{getattr(manifest, 'path', '?')} ({getattr(manifest, 'workload', '?')})"
        return count, f"{where}: replicas {replicas} + rolling-update surge"

    def _postgres(self, pool: PostgresPool, now: float) -> tuple[dict[str, Any], list[str]]:
        config, stats = pool.config, pool.stats
        sizing, small = littles_law(config, stats, now)
        count, source = self._pods(pool)
        reserved = pool.reserved_connections or 0
        fleet_check, crowded = fleet(config.max_size, count, source, pool.max_connections, reserved)
        wait_p99 = stats.wait_quantile(0.99)
        entry = {
            "name": pool.name,
            "kind": "PostgresPool",
            "max_size": config.max_size,
            "min_size": config.min_size,
            "acquire_timeout_s": config.acquire_timeout,
            "reads_budget": True,
            "acquire_timeout_rule": "min(acquire_timeout, remaining budget)",
            "statement_timeout_rule": (
                f"min(command_timeout {config.command_timeout}s, remaining budget), "
                "cancelled on the server"
            ),
            "pgbouncer_transaction_mode": config.pgbouncer,
            "statement_cache_size": config.cache_size,
            "started": pool.started,
            "saturation": {
                **pool.state(),
                "peak_in_use": stats.peak_in_use,
                "wait_p99_le_s": wait_p99,
                "in_use_ratio": round(stats.in_use / config.max_size, 3),
            },
            "sizing": sizing,
            "fleet": fleet_check,
            "problems": [],
        }
        return entry, [f"pool {pool.name!r}: {p}" for p in (small, crowded) if p]

    def check(self, tier: Tier) -> GateResult:
        now = self._service.clock.monotonic()
        own = list(self._pools)
        entries, warnings = [], []
        for pool in own:
            entry, found = self._postgres(pool, now)
            entries.append(entry)
            warnings.extend(found)
        mine = {id(p) for p in own} | {id(p._pool) for p in own if p._pool is not None}
        entries.extend(held_pools(self._service, mine))
        registered = mine | set(self._registered())
        outside = outside_pools(self._service, registered)
        offload = offload_pool(self._service)
        evidence: dict[str, Any] = {
            "looked_for": list(LOOKED_FOR),
            "pools": entries,
            "outside_the_service": outside,
            "offload": offload,
        }
        if not entries and not outside:
            evidence["result"] = "no pool found"
        caveats = [SCAN_CAVEAT]
        if own:
            caveats.append(FLEET_CAVEAT)
        if any(p.config.pgbouncer for p in own):
            caveats.append(
                "behind PgBouncer, max_connections is the server's as PgBouncer forwards it; "
                "PgBouncer's own pool size is the limit the fleet really shares"
            )
        unread = [p.name for p in own if p.max_connections is None]
        if unread:
            caveats.append(
                f"max_connections not read for {unread}: it is read from PostgreSQL when a pool "
                "starts, so the fleet check waits for a serving instance (`/gates`)"
            )
        for pool in own:
            if pool.stats.acquire_timeouts or pool.stats.connect_errors:
                caveats.append(
                    f"pool {pool.name!r} refused {pool.stats.acquire_timeouts} acquires on "
                    f"timeout and {pool.stats.connect_errors} on connect errors since start"
                )
        unbudgeted = [e["name"] for e in entries if e.get("reads_budget") is False]
        if unbudgeted:
            caveats.append(f"pool waits that do not read the request budget: {unbudgeted}")
        problems = [
            f"{e['name']}: {problem}" for e in [*entries, *outside] for problem in e["problems"]
        ]
        status = Status.PASS
        if warnings or (unbudgeted and tier is Tier.CRITICAL):
            status = Status.WARN
        if problems:
            status = Status.FAIL if tier.at_least(Tier.STANDARD) else Status.WARN
        return GateResult(
            name=self.name,
            question=GATE_QUESTIONS[self.name],
            status=status,
            evidence=evidence,
            caveats=(*problems, *warnings, *caveats),
        )

    def _registered(self) -> Iterable[int]:
        components = self._service.components
        for kind in components.kinds():
            try:
                yield id(components.get(kind))
            except LookupError:
                continue
