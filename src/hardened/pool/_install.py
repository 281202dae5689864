"""Pools: the pool gate's mechanism and the service's named pools.

`Service` installs it by default, so the gate answers for every service (with "no pool found"
when there is none). Each `PostgresPool` joins it: the pools start with the components, in the
order they were installed, and stop in reverse. Handlers reach a pool by type (the first one
installed) or by name::

    db = component(request, PostgresPool)
    reports = component(request, Pools)["reports"]
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from hardened.errors import ConfigError
from hardened.pool._gate import PoolGate
from hardened.pool._postgres import PostgresPool
from hardened.pool._state import PoolCollector

if TYPE_CHECKING:
    from hardened.gates import Installer, StateFields

__all__ = ["POOLS_FACT", "Pools"]

logger = logging.getLogger("hardened.pool")

POOLS_FACT = "pool.registry"  # the service's `Pools`, for mechanisms that name a pool


class Pools:
    """The service's pools by name; the component that starts and stops them."""

    deadline_usage = PostgresPool.deadline_usage

    def __init__(self) -> None:
        self._pools: dict[str, PostgresPool] = {}

    def install(self, service: Installer) -> None:
        """Register the gate, the Prometheus families, and this registry as a fact."""
        service.publish_fact(POOLS_FACT, lambda: self)
        service.register_gate(PoolGate(self, service))
        service.metrics_registry.register(PoolCollector(self.__iter__))
        service.track_state("pools", "service", self.totals, gate="pool")

    @staticmethod
    def of(service: Installer) -> Pools:
        """The service's registry (installed on first use when the service has none)."""
        found = service.fact(POOLS_FACT)
        if isinstance(found, Pools):
            return found
        pools = Pools()
        pools.install(service)
        return pools

    def join(self, pool: PostgresPool, service: Installer) -> None:
        """Add `pool`: started with the components, tracked as mechanism state."""
        if pool.name in self._pools:
            raise ConfigError(f"the service already has a pool named {pool.name!r}")
        if any(existing is pool for existing in self._pools.values()):
            raise ConfigError(f"pool {pool.name!r} is installed twice")
        first = not self._pools
        self._pools[pool.name] = pool
        pool.bound.clock = service.clock
        pool.application_name = f"{service.service_name}/{pool.name}"
        if first:
            service.components.register(Pools, self.running)
            service.components.register_value(PostgresPool, pool)
        service.track_state("pool", pool.name, pool.state)

    def totals(self) -> StateFields:
        """Summed state of every pool (zeros when there is none)."""
        pools = list(self._pools.values())
        return {
            "pools": len(pools),
            "max_size": sum(p.stats.max_size for p in pools),
            "in_use": sum(p.stats.in_use for p in pools),
            "waiting": sum(p.stats.waiting for p in pools),
            "acquire_timeouts_total": sum(p.stats.acquire_timeouts for p in pools),
        }

    def __getitem__(self, name: str) -> PostgresPool:
        try:
            return self._pools[name]
        except KeyError:
            raise LookupError(f"no pool named {name!r}; pools: {sorted(self._pools)}") from None

    def __iter__(self) -> Iterator[PostgresPool]:
        return iter(list(self._pools.values()))

    def __len__(self) -> int:
        return len(self._pools)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Pools]:
        """Start every pool in install order; close them in reverse."""
        started: list[PostgresPool] = []
        try:
            for pool in self._pools.values():
                await pool.start()
                started.append(pool)
            yield self
        finally:
            for pool in reversed(started):
                try:
                    await pool.close()
                except Exception:
                    logger.exception("closing pool %r failed", pool.name)
