"""The idempotency mechanism: the layer in its slot, the store as a component with its
reaper, the gate, and the state.

Without a store it installs only the gate (every `Service` has it): a service with no unsafe
route passes, and unsafe routes must each be protected or marked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from hardened.errors import ConfigError
from hardened.gates import Installer
from hardened.idempotency._config import IdempotencyConfig
from hardened.idempotency._gate import IdempotencyGate
from hardened.idempotency._layer import IdempotencyLayer, ScopeOf
from hardened.idempotency._state import IdempotencyStats
from hardened.idempotency._store import IdempotencyStore

__all__ = ["Idempotency"]

logger = logging.getLogger("hardened.idempotency")
_REAP_ROUNDS = 10  # batches per reaper run at most


class Idempotency:
    """`Idempotency(store, scope=principal_of)`: the Idempotency-Key layer on the routes marked
    `@idempotent()`. `scope` returns the authenticated principal of a request (tenant and
    credential), or None; a keyed request without one is refused."""

    def __init__(
        self,
        store: IdempotencyStore | None = None,
        *,
        scope: ScopeOf | None = None,
        config: IdempotencyConfig | None = None,
    ) -> None:
        if store is not None and scope is None:
            raise ConfigError("a key store needs scope=: keys are scoped to the principal")
        self.store = store
        self.scope = scope
        self.config = config or IdempotencyConfig()
        self.stats = IdempotencyStats()
        self.layer: IdempotencyLayer | None = None

    def install(self, service: Installer) -> None:
        """Fill the idempotency slot, start the store with the components, register the gate."""
        config = self.config
        settings = {
            "header": config.header,
            "lease_s": config.lease,
            "heartbeat_s": round(config.lease / 3, 3),
            "retention_s": config.retention,
            "max_request_body": config.max_request_body,
            "max_stored_body": config.max_stored_body,
            "replayed_headers": sorted(config.replayed_headers),
            "scope": getattr(self.scope, "__qualname__", repr(self.scope)) if self.scope else None,
        }
        service.register_gate(IdempotencyGate(service, self.store, settings))
        if self.store is None or self.scope is None:
            service.track_state("idempotency", "layer", lambda: {"installed": False})
            return
        self.layer = IdempotencyLayer(
            config=config,
            store=self.store,
            scope_of=self.scope,
            routes_of=service.app,
            stats=self.stats,
        )
        service.add_layer(self.layer)
        service.components.register(type(self.store), self._running)
        service.track_state("idempotency", "layer", self.stats.state)

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[IdempotencyStore]:
        store = self.store
        assert store is not None
        await store.start()
        reaper = asyncio.get_running_loop().create_task(self._reap_forever(store))
        try:
            yield store
        finally:
            reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reaper

    async def _reap_forever(self, store: IdempotencyStore) -> None:
        while True:
            await self.reap_once(store)
            await asyncio.sleep(self.config.reap_interval)

    async def reap_once(self, store: IdempotencyStore) -> None:
        """Delete expired keys (bounded batches) and refresh the in-progress census."""
        config, stats = self.config, self.stats
        try:
            for _ in range(_REAP_ROUNDS):
                gone = await store.reap(batch=config.reap_batch)
                stats.reaped += gone
                if gone < config.reap_batch:
                    break
            stats.census = await store.census(lease=config.lease)
        except Exception as exc:
            stats.census_errors += 1
            logger.warning("idempotency reaper failed: %r", exc)
