"""The one route walker: route facts every gate reads from the application's route tree.

Two views of one tree (Mounts, Hosts and FastAPI's lazily included routers walked alike):

* `RouteOverrides`: per-route marks (`@route_timeout`, `@body_limit`) put on endpoints with
  `mark_endpoint`. Edge stages run before Starlette's router, so they resolve a mark by matching
  the request against the (few) routes that carry one; with none anywhere, a lookup costs nothing.
* `RouteTemplates`: the matched route's full template for metric labels (Mounts included), never
  the raw path. Starlette records the matched route in ``scope["route"]``; a table built once maps
  each route object to its template, so a request costs one dict lookup. Nothing matched (404
  floods, CORS preflights answered by middleware, ``redirect_slashes`` 307s) is ``__unmatched__``;
  a request answered before routing (a 413 for its declared length, a busy 503) carries the
  route it would have reached, and one whose caller's own budget was spent ``__caller__``.
  A router that does not record the route (FastAPI's for plain routes such as ``/docs``) is
  matched by the endpoint it selected. Labels drop path converters (``/orders/{order_id}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from starlette.routing import BaseRoute, Host, Match, Mount, compile_path
from starlette.types import ASGIApp, Scope

from hardened.faults import CALLER, CLIENT_FAULT, ClientFault

__all__ = [
    "CALLER",
    "OVERFLOW",
    "SHED",
    "STANDARD_METHODS",
    "UNMATCHED",
    "RouteOverrides",
    "RouteTemplates",
    "mark_endpoint",
    "method_label",
    "route_label",
]

F = TypeVar("F", bound=Callable[..., Any])


def mark_endpoint(attribute: str, value: object) -> Callable[[F], F]:
    """A decorator that stores `value` on an endpoint under `attribute`."""

    def decorate(endpoint: F) -> F:
        setattr(endpoint, attribute, value)
        return endpoint

    return decorate


class _Node:
    __slots__ = ("children", "route", "value")

    def __init__(self, route: BaseRoute, value: Any, children: list[_Node]) -> None:
        self.route = route
        self.value = value
        self.children = children


def _collect(routes: Iterable[BaseRoute], attribute: str) -> list[_Node]:
    nodes: list[_Node] = []
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        value = getattr(endpoint, attribute, None) if endpoint is not None else None
        if value is not None:
            nodes.append(_Node(route, value, []))
            continue
        sub_routes = getattr(route, "routes", None)
        if sub_routes:
            children = _collect(sub_routes, attribute)
            if children:
                nodes.append(_Node(route, None, children))
    return nodes


def _lookup(nodes: list[_Node], scope: Scope) -> Any:
    for node in nodes:
        match, child_scope = node.route.matches(scope)
        if match is not Match.FULL:
            continue
        if not node.children:
            return node.value
        found = _lookup(node.children, {**scope, **child_scope})
        if found is not None:
            return found
    return None


class RouteOverrides:
    """The routes of an application whose endpoint carries `attribute`, matched on demand."""

    __slots__ = ("_nodes", "attribute")

    def __init__(self, app: ASGIApp, attribute: str) -> None:
        self.attribute = attribute
        routes = getattr(app, "routes", None) or ()
        self._nodes = _collect(routes, attribute)

    def __bool__(self) -> bool:
        return bool(self._nodes)

    def lookup(self, scope: Scope) -> Any:
        """The override of the route that `scope` matches, or None."""
        return _lookup(self._nodes, scope)

    def describe(self) -> dict[str, Any]:
        """Route path → override value, for the gate report."""
        found: dict[str, Any] = {}

        def walk(nodes: list[_Node], prefix: str) -> None:
            for node in nodes:
                path = prefix + str(getattr(node.route, "path", "?"))
                if node.children:
                    walk(node.children, path)
                else:
                    found[path] = node.value

        walk(self._nodes, "")
        return found


UNMATCHED = "__unmatched__"
OVERFLOW = "__overflow__"
SHED = "__shed__"  # refused by the shedder before routing
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
_MAX_REBUILDS = 8
_CONVERTER = re.compile(r"\{([^{}:]+):[^{}]*\}")


def route_label(template: str) -> str:
    """A route template as a label: path converters dropped (`{id:int}` → `{id}`)."""
    return _CONVERTER.sub(r"{\1}", template) if ":" in template else template


def method_label(method: str) -> str:
    """The method label: a standard verb as sent (methods are case-sensitive), else `_OTHER`."""
    return method if method in STANDARD_METHODS else "_OTHER"


def _walk_included(included: Any, prefix: str, out: list[tuple[Any, str]]) -> None:
    """FastAPI >= 0.16x keeps `include_router` lazy: each effective route knows its full path
    while ``scope["route"]`` is the router's own route object (without the prefix)."""
    candidates = list(included.effective_candidates())
    low = getattr(included, "effective_low_priority_routes", None)
    candidates += list(low()) if callable(low) else []
    for candidate in candidates:
        if hasattr(candidate, "effective_candidates"):
            _walk_included(candidate, prefix, out)
            continue
        original, path = getattr(candidate, "original_route", None), getattr(candidate, "path", "")
        if original is None or not isinstance(path, str) or not path:
            continue
        if isinstance(original, Mount):
            out.append((original, prefix + path + "/{path:path}"))
            _walk(original.routes, prefix + path, out)
        else:
            out.append((original, prefix + path))


def _matching(routes: Iterable[Any], scope: Scope) -> tuple[Any, Scope] | None:
    """The innermost route that fully matches `scope` (Starlette's own matching), if any."""
    for route in routes:
        match, child = route.matches(scope)
        if match is not Match.FULL:
            continue
        inner = getattr(route, "routes", None)
        if isinstance(route, Mount | Host) and inner is not None:
            found = _matching(inner, {**scope, **child})
            return found if found is not None else (route, {**scope, **child})
        return route, {**scope, **child}
    return None


def _walk(routes: Iterable[Any], prefix: str, out: list[tuple[Any, str]]) -> None:
    for route in routes:
        if hasattr(route, "effective_candidates"):
            _walk_included(route, prefix, out)
        elif isinstance(route, Mount):
            template = prefix + route.path
            out.append((route, template + "/{path:path}"))
            _walk(route.routes, template, out)
        elif isinstance(route, Host):
            _walk(route.routes, prefix, out)
        else:
            path = getattr(route, "path", None)
            if isinstance(path, str):
                out.append((route, prefix + path))


class RouteTemplates:
    """Maps the matched route object of a request to its full template."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._table: dict[int, list[tuple[str, re.Pattern[str]]]] = {}
        # id(route) → label of the routes mounted once: nearly every request's answer, read
        # directly by the observe stage (`template` is the whole answer).
        self.single: dict[int, str] = {}
        self._endpoints: dict[int, str] = {}  # endpoint id → label, where one route has it
        self._keep: list[Any] = []  # holds the route objects so their ids stay unique
        self._rebuilds = 0
        self._built = False

    def templates(self) -> list[str]:
        """Every template the application can match (for the gate and the series bound)."""
        self._ensure()
        return sorted({route_label(t) for entries in self._table.values() for t, _ in entries})

    def _ensure(self) -> None:
        if not self._built:
            self._build()

    def _build(self) -> None:
        pairs: list[tuple[Any, str]] = []
        _walk(getattr(self._app, "routes", ()) or (), "", pairs)
        table: dict[int, list[tuple[str, re.Pattern[str]]]] = {}
        for route, template in pairs:
            table.setdefault(id(route), []).append((template, compile_path(template)[0]))
        self._table = table
        self.single = {
            key: route_label(entries[0][0]) for key, entries in table.items() if len(entries) == 1
        }
        endpoints: dict[int, list[str]] = {}
        for route, template in pairs:
            endpoint = getattr(route, "endpoint", None)
            if endpoint is not None and not isinstance(route, Mount):
                endpoints.setdefault(id(endpoint), []).append(route_label(template))
        self._endpoints = {key: found[0] for key, found in endpoints.items() if len(found) == 1}
        self._keep = [route for route, _ in pairs] + [
            getattr(r, "endpoint", None) for r, _ in pairs
        ]
        self._built = True

    def template(self, scope: Scope) -> str:
        """The label for the request whose routing filled `scope`."""
        route = scope.get("route")
        single = self.single.get(id(route))  # routes mounted once: nearly every request
        return single if single is not None else self._template(scope, route)

    def _unrouted(self, scope: Scope) -> str:
        endpoint = scope.get("endpoint")
        if endpoint is not None:  # a router that records the endpoint only (FastAPI's)
            self._ensure()
            label = self._endpoints.get(id(endpoint))
            if label is not None:
                return label
        if scope.get(CLIENT_FAULT) == ClientFault.BUDGET:
            return CALLER  # the caller's own budget was spent
        if "hardened.shed" in scope:
            return SHED
        if scope.get("type") != "http" or "path" not in scope:
            return UNMATCHED
        found = _matching(getattr(self._app, "routes", None) or (), scope)  # answered unrouted
        if found is None:
            return UNMATCHED
        route, matched = found
        self._ensure()
        return self._template(matched, route) if id(route) in self._table else UNMATCHED

    def _template(self, scope: Scope, route: Any) -> str:
        if route is None:
            return self._unrouted(scope)
        entries = self._table.get(id(route))
        if entries is None:
            if self._rebuilds >= _MAX_REBUILDS:
                return UNMATCHED
            self._rebuilds += 1  # routes added after the first request: look again, boundedly
            self._build()
            entries = self._table.get(id(route))
            if entries is None:
                return UNMATCHED
        if len(entries) == 1:
            return route_label(entries[0][0])
        path = scope["path"]  # one route object mounted under several prefixes
        root = scope.get("app_root_path", "")
        route_path = path[len(root) :] if root and path.startswith(root) else path
        for template, regex in entries:
            if regex.match(route_path):
                return route_label(template)
        return route_label(entries[0][0])
