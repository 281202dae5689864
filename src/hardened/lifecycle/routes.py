"""Per-route overrides: a decorator marks an endpoint, the edge finds the route before routing.

The edge layers run before Starlette's router, so they resolve an override by matching the
request against the (few) routes that carry one, found once by walking the application's
routes (Mounts included). With no override anywhere, the lookup costs nothing per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Scope

__all__ = ["RouteOverrides", "mark_endpoint"]

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
