"""Explicit-wiring evidence: registered components, and outbound clients built outside them.

The scan looks at module globals only: the modules that hold the service or its application,
the modules of route endpoints, and any named in `DeadlineConfig.scan_modules`. A client made
inside a function, a closure or a class attribute is invisible to it (the gate says so). It
walks all of `sys.modules` (milliseconds, holding the GIL), so `WiringScan` runs it once the
service serves and keeps the answer until refreshed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hardened.gates import Installer

__all__ = [
    "OUTBOUND_TYPES",
    "DeadlineConsumer",
    "WiringScan",
    "consumes_deadline",
    "makes_calls",
    "module_globals",
    "outside_clients",
]

# (top-level package, class name) of the outbound clients and pools the scan recognises.
OUTBOUND_TYPES: frozenset[tuple[str, str]] = frozenset(
    {
        ("httpx", "AsyncClient"),
        ("httpx", "Client"),
        ("asyncpg", "Pool"),
        ("asyncpg", "Connection"),
        ("aiohttp", "ClientSession"),
        ("redis", "Redis"),
        ("requests", "Session"),
        ("urllib3", "PoolManager"),
        ("sqlalchemy", "AsyncEngine"),
        ("sqlalchemy", "Engine"),
    }
)


class DeadlineConsumer:
    """Marker base: a component whose calls are capped by `remaining()`.

    A component class says how with a `deadline_usage` string (e.g. "acquire timeout =
    min(1 s, remaining())"); any class with that attribute counts, no inheritance needed.
    """

    deadline_usage: str = ""


# What a provider's declaration (`provide(T, deadline=...)`) says, as gate evidence.
DECLARED_USAGE = {
    "hook": "sends the remaining budget downstream (declared by its provider)",
    "reads": "caps its calls with remaining() (declared by its provider)",
}


def _sends_budget(value: Any) -> bool:
    """True for an httpx client whose request hooks include `httpx_deadline_hook`."""
    hooks = getattr(value, "event_hooks", None)
    requests = hooks.get("request", ()) if isinstance(hooks, dict) else ()
    return any(getattr(hook, "__name__", "") == "httpx_deadline_hook" for hook in requests)


def consumes_deadline(
    kind: type[Any], value: Any = None, declared: str | None = None
) -> str | None:
    """How a component uses the budget: its provider's declaration, its `deadline_usage`
    attribute, or an httpx client built with `httpx_deadline_hook`."""
    if declared in DECLARED_USAGE:
        return DECLARED_USAGE[declared]
    for candidate in (value, kind):
        usage = getattr(candidate, "deadline_usage", None)
        if isinstance(usage, str) and usage:
            return usage
    if _sends_budget(value):
        return "sends the remaining budget downstream (httpx_deadline_hook)"
    return None


def makes_calls(kind: type[Any], value: Any = None, declared: str | None = None) -> bool:
    """False for a component that declares `outbound = False` or whose provider declared
    `deadline="none"`: it calls nothing per request, so it has no budget to read."""
    if declared == "none":
        return False
    return all(getattr(candidate, "outbound", True) is not False for candidate in (value, kind))


def _outbound_kind(value: object) -> str | None:
    for klass in type(value).__mro__:
        package = klass.__module__.partition(".")[0]
        if (package, klass.__name__) in OUTBOUND_TYPES:
            return f"{package}.{klass.__name__}"
    return None


def _endpoint_modules(routes: Iterable[Any]) -> Iterator[str]:
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        module = getattr(endpoint, "__module__", None)
        if isinstance(module, str):
            yield module
        yield from _endpoint_modules(getattr(route, "routes", None) or ())


def _modules_to_scan(service: Installer, extra: Iterable[str]) -> list[ModuleType]:
    anchors = {id(service), id(service.app)}
    names = set(extra) | set(_endpoint_modules(getattr(service.app, "routes", None) or ()))
    found: dict[str, ModuleType] = {}
    for name, module in list(sys.modules.items()):
        if module is None:
            continue
        if name in names:
            found[name] = module
            continue
        namespace = getattr(module, "__dict__", None)
        # identity by id(), compared in C: this pass runs over every module at each check
        if isinstance(namespace, dict) and not anchors.isdisjoint(map(id, namespace.values())):
            found[name] = module
    return [found[name] for name in sorted(found)]


def module_globals(service: Installer, extra_modules: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """`(module.attribute, value)` for every global of the scanned modules."""
    for module in _modules_to_scan(service, extra_modules):
        for attribute, value in list(vars(module).items()):
            yield f"{module.__name__}.{attribute}", value


def outside_clients(service: Installer, extra_modules: Iterable[str]) -> list[dict[str, str]]:
    """Outbound clients and pools in scanned module globals that no component holds."""
    registered = set()
    for kind in service.components.kinds():
        try:
            registered.add(id(service.components.get(kind)))
        except LookupError:
            continue
    flagged: list[dict[str, str]] = []
    for where, value in module_globals(service, extra_modules):
        client = _outbound_kind(value)
        if client is not None and id(value) not in registered:
            flagged.append({"where": where, "type": client})
    return flagged


class WiringScan:
    """`outside_clients`, computed once the service serves and kept until `refresh()`.

    Before start-up (`hardened check`) every call scans: modules may still be importing.
    """

    def __init__(self, service: Installer, extra_modules: Iterable[str]) -> None:
        self._service = service
        self._extra = tuple(extra_modules)
        self._cached: list[dict[str, str]] | None = None
        self.scans = 0

    @property
    def cached(self) -> bool:
        """True when the next `result()` will not scan."""
        return self._cached is not None

    def result(self) -> list[dict[str, str]]:
        """The clients found (a copy: callers may keep it)."""
        found = self._cached
        if found is None:
            found = outside_clients(self._service, self._extra)
            self.scans += 1
            if self._service.serving():
                self._cached = found
        return [dict(entry) for entry in found]

    def refresh(self) -> None:
        """Scan again at the next `result()`."""
        self._cached = None
