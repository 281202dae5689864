"""Every pool the service holds, whatever its type: what the pool gate lists.

* its `PostgresPool`s (described by the gate itself, with state and sizing);
* pools registered as components, or held one attribute deep by a component (a client
  wrapper): asyncpg `Pool`s and httpx clients, with their bound and acquire (pool) timeout;
* pools in the module globals the wiring scan reads (`hardened.wiring`), outside the service;
* the offload thread pool, from the loop mechanism's `loop.offload` fact.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from hardened.deadline import httpx_deadline_hook
from hardened.wiring import module_globals

if TYPE_CHECKING:
    from hardened.gates import Installer

__all__ = ["LOOKED_FOR", "describe", "held_pools", "offload_pool", "outside_pools"]

LOOKED_FOR = (
    "hardened PostgresPool",
    "asyncpg.Pool",
    "httpx.AsyncClient / httpx.Client connection pools",
    "the offload() thread pool",
)
_KINDS = {
    ("asyncpg", "Pool"): "asyncpg",
    ("httpx", "AsyncClient"): "httpx",
    ("httpx", "Client"): "httpx",
}


def _kind(value: object, *, of_type: bool = False) -> str | None:
    for klass in (value if of_type and isinstance(value, type) else type(value)).__mro__:
        kind = _KINDS.get((klass.__module__.partition(".")[0], klass.__name__))
        if kind is not None:
            return kind
    return None


def _attributes(value: object) -> Iterator[tuple[str, Any]]:
    namespace = getattr(value, "__dict__", None)
    if isinstance(namespace, dict):
        yield from list(namespace.items())
    for klass in type(value).__mro__:
        for slot in getattr(klass, "__slots__", ()):
            if isinstance(slot, str) and hasattr(value, slot):
                yield slot, getattr(value, slot)


def describe(where: str, value: Any) -> dict[str, Any]:
    """One foreign pool's bound, acquire timeout and whether that timeout reads the budget."""
    problems: list[str] = []
    if _kind(value) == "asyncpg":
        entry: dict[str, Any] = {
            "name": where,
            "kind": "asyncpg.Pool",
            "max_size": value.get_max_size(),
            "acquire_timeout_s": None,
            "reads_budget": False,
            "note": "asyncpg's acquire waits forever unless every call passes timeout=",
        }
        problems.append("no acquire timeout: a saturated pool parks every request")
    else:
        transport = getattr(value, "_transport", None)
        pool = getattr(transport, "_pool", None)
        max_connections = getattr(pool, "_max_connections", None) if pool is not None else None
        if isinstance(max_connections, int) and max_connections >= sys.maxsize:
            max_connections = None  # httpcore's stand-in for Limits(max_connections=None)
        timeout = getattr(getattr(value, "timeout", None), "pool", None)
        hooks = getattr(value, "event_hooks", {}).get("request", [])
        entry = {
            "name": where,
            "kind": f"httpx.{type(value).__name__}",
            "max_size": max_connections,
            "max_keepalive": getattr(pool, "_max_keepalive_connections", None),
            "acquire_timeout_s": timeout,
            "reads_budget": httpx_deadline_hook in hooks,
        }
        if pool is None:
            entry["note"] = "a custom transport: its pool limits are not visible"
        elif max_connections is None:
            problems.append("unbounded: Limits(max_connections=None)")
        if timeout is None:
            problems.append("no pool timeout: Timeout(pool=None) waits forever")
    entry["problems"] = problems
    return entry


def _unstarted_asyncpg(where: str) -> dict[str, Any]:
    return {
        "name": where,
        "kind": "asyncpg.Pool",
        "max_size": "set in its factory (seen once started)",
        "acquire_timeout_s": None,
        "reads_budget": False,
        "problems": ["no acquire timeout: a saturated pool parks every request"],
    }


def held_pools(service: Installer, own: set[int]) -> list[dict[str, Any]]:
    """Foreign pools registered as components, or held by one (one attribute deep)."""
    found: list[dict[str, Any]] = []
    seen = set(own)
    for kind in service.components.kinds():
        label = f"component {kind.__qualname__}"
        try:
            value = service.components.get(kind)
        except LookupError:  # registered by a factory, not started: its type still tells
            if _kind(kind, of_type=True) == "asyncpg":
                found.append(_unstarted_asyncpg(label))
            continue
        candidates = [(label, value), *((f"{label}.{n}", v) for n, v in _attributes(value))]
        for where, candidate in candidates:
            if id(candidate) not in seen and _kind(candidate) is not None:
                seen.add(id(candidate))
                found.append(describe(where, candidate))
    return found


def outside_pools(service: Installer, registered: set[int]) -> list[dict[str, Any]]:
    """Pools in scanned module globals that the service does not hold."""
    from hardened.pool._postgres import PostgresPool

    found: list[dict[str, Any]] = []
    for where, value in module_globals(service, ()):
        if id(value) in registered:
            continue
        if isinstance(value, PostgresPool):
            found.append(
                {
                    "name": where,
                    "kind": "PostgresPool",
                    "max_size": value.config.max_size,
                    "problems": ["not installed on the service: never started, not metered"],
                }
            )
        elif _kind(value) is not None:
            entry = describe(where, value)
            entry["problems"].insert(0, "built outside the service: not metered, not sized")
            found.append(entry)
    return found


def offload_pool(service: Installer) -> dict[str, Any] | None:
    """The offload thread pool, from the loop mechanism's published fact."""
    offloader = service.fact("loop.offload")
    if offloader is None:
        return None
    return {
        "name": "offload",
        "kind": "thread pool",
        "max_size": getattr(offloader, "max_workers", None),
        "busy": getattr(offloader, "busy", None),
        "acquire_timeout_s": "min(timeout, remaining())",
        "reads_budget": True,
        "wait": getattr(offloader, "deadline_usage", None),
    }
