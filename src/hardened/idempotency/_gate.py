"""The idempotency gate: is every retried write idempotent?

Inbound: every route with an unsafe method is protected by the layer or marked
`@not_idempotent(reason)`; the key store is durable at tier critical. Outbound: retries of
unsafe calls carry an idempotency key (the ``breaker.dependencies`` fact: per dependency, its
retry policy). A service with no unsafe route and no dependency passes.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from starlette.routing import Host, Mount

from hardened.gates import GATE_QUESTIONS, GateResult, Installer, Status, Tier
from hardened.idempotency._config import IDEMPOTENCY_ATTRIBUTE, Exempt, Protected
from hardened.idempotency._store import IdempotencyStore

__all__ = ["DEPENDENCIES_FACT", "IdempotencyGate", "unsafe_routes"]

DEPENDENCIES_FACT = "breaker.dependencies"
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def _methods(route: Any, endpoint: Any) -> list[str]:
    methods = getattr(route, "methods", None)
    if methods is not None:
        return [m for m in UNSAFE if m in methods]
    if inspect.isclass(endpoint):  # an HTTPEndpoint: the methods it defines
        return [m for m in UNSAFE if hasattr(endpoint, m.lower())]
    return ["*"]  # an ASGI app answering any method


def unsafe_routes(routes: Iterable[Any], prefix: str = "") -> list[tuple[str, list[str], Any]]:
    """(template, unsafe methods, mark) for every route that takes an unsafe method."""
    found: list[tuple[str, list[str], Any]] = []
    for route in routes:
        if isinstance(route, Mount | Host):
            inner = prefix + route.path if isinstance(route, Mount) else prefix
            found += unsafe_routes(route.routes, inner)
            continue
        endpoint = getattr(route, "endpoint", None)
        path = getattr(route, "path", None)
        if endpoint is None or not isinstance(path, str):
            continue
        methods = _methods(route, endpoint)
        if methods:
            found.append((prefix + path, methods, getattr(endpoint, IDEMPOTENCY_ATTRIBUTE, None)))
    return found


def _retries(dependencies: Any, fails: list[str]) -> list[dict[str, Any]]:
    evidence: list[dict[str, Any]] = []
    for dependency in dependencies or ():
        methods = sorted(dependency.get("retry_methods", ()))
        unsafe = [m for m in methods if m in ("POST", "PATCH", "CONNECT")]
        keyed = dependency.get("unsafe_retry") == "with_key"
        evidence.append(
            {
                "name": dependency.get("name"),
                "attempts": dependency.get("attempts"),
                "jitter": dependency.get("jitter"),
                "budget": dependency.get("budget"),
                "retried_methods": methods,
                "unsafe_calls_retried": "only with an idempotency key" if keyed else "never",
                "key_header": dependency.get("idempotency_header"),
            }
        )
        if unsafe:
            fails.append(f"dependency {dependency.get('name')!r} retries {unsafe} without a key")
    return evidence


class IdempotencyGate:
    """Answers the idempotency question for one service."""

    name = "idempotency"

    def __init__(
        self, service: Installer, store: IdempotencyStore | None, settings: dict[str, Any]
    ) -> None:
        self._service = service
        self._store = store
        self._settings = settings

    def check(self, tier: Tier) -> GateResult:
        fails: list[str] = []
        warns: list[str] = []
        caveats: list[str] = []
        routes = unsafe_routes(getattr(self._service.app, "routes", None) or ())
        protected = {t: m for t, m, mark in routes if isinstance(mark, Protected)}
        marked = {t: mark.reason for t, _, mark in routes if isinstance(mark, Exempt)}
        bare = {t: m for t, m, mark in routes if not isinstance(mark, Protected | Exempt)}
        if bare:
            message = f"unsafe routes neither @idempotent nor marked @not_idempotent: {bare}"
            (warns if tier is Tier.INTERNAL else fails).append(message)
        store: dict[str, Any] | None = None
        if self._store is not None:
            store = {"type": self._store.kind, "durable": self._store.durable}
            table = getattr(self._store, "table", None)
            if table:
                store["table"] = table
            if not self._store.durable:
                message = (
                    "the key store is in process memory: keys are lost on restart and not "
                    "shared by replicas"
                )
                (fails if tier is Tier.CRITICAL else caveats).append(message)
        elif protected:
            fails.append(
                "routes are marked @idempotent but no store is installed: add "
                "Idempotency(store, scope=...) to the service's mechanisms"
            )
        retries = _retries(self._service.fact(DEPENDENCIES_FACT), fails)
        if not routes and not retries:
            caveats.append("no unsafe route and no outbound dependency: nothing to protect")
        evidence: dict[str, Any] = {
            "layer": self._store is not None,
            "routes": {
                "protected": protected,
                "unprotected": bare,
                "marked_not_idempotent": marked,
            },
            "store": store,
            **self._settings,
            "outbound_retries": retries,
        }
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
