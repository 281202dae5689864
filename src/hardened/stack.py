"""The fixed middleware order of the request path, and the one function that builds it.

Outermost first (DESIGN.md, "The data path")::

    observe → shed → deadline → lifecycle → idempotency → errors → application

A `Layer` fills one named slot; a slot left empty is a pass-through and the gate that owns it
reports `fail: not configured`. Users who assemble the pieces by hand call `build_stack` and get
the same order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hardened.errors import ConfigError, HardenedError
from hardened.problems import send_error
from hardened.stages import MIDDLEWARE_ORDER, Layer

__all__ = [
    "MIDDLEWARE_ORDER",
    "EdgeStage",
    "ErrorMapping",
    "Layer",
    "ResponseStatus",
    "build_stack",
    "track",
]


class EdgeStage:
    """Base of the default layers of the four outer slots: `build_stack` fuses neighbouring
    stages into one `hardened._edge.FusedEdge`; wrapped alone, a stage is a FusedEdge of one."""

    slot: str

    def wrap(self, app: ASGIApp) -> ASGIApp:
        from hardened._edge import FusedEdge

        stage: dict[str, Any] = {self.slot: self}
        return FusedEdge(app, **stage)


class ResponseStatus:
    """A `send` that remembers the response's status; one per request, shared by the layers.

    Each layer that must know whether (and how) the response started calls `track(send)`: the
    outermost one wraps `send` once, the layers below find the same object and wrap nothing
    more. It is not a coroutine of its own: a call returns the wrapped `send`'s awaitable, so
    a response message costs one Python call, not one more coroutine.
    """

    __slots__ = ("send", "status")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 0  # 0 until the response starts

    def __call__(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        return self.send(message)


def track(send: Send) -> ResponseStatus:
    """`send` itself when it already tracks the response (an outer layer wrapped it), else a
    new tracker around it. Only the `send` a layer received is reused, never one from the
    scope: a layer in between that rewrites or buffers messages gets its own tracker."""
    return send if type(send) is ResponseStatus else ResponseStatus(send)


class ErrorMapping:
    """Innermost layer: a `HardenedError` escaping the app becomes its one HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracker = track(send)
        try:
            await self.app(scope, receive, tracker)
        except HardenedError as error:
            if tracker.status:
                raise
            await send_error(scope, receive, send, error)


def build_stack(app: ASGIApp, layers: Mapping[str, Layer]) -> ASGIApp:
    """Wrap `app` with `layers` in the fixed order, whatever order they were given in.

    Neighbouring default layers of the outer slots (`EdgeStage`s) run as one
    `FusedEdge` coroutine; any other layer is its own middleware, in its slot's place.
    """
    from hardened._edge import FusedEdge

    unknown = sorted(set(layers) - set(MIDDLEWARE_ORDER))
    if unknown:
        raise ConfigError(f"unknown middleware slots {unknown}; slots are {MIDDLEWARE_ORDER}")
    wrapped: ASGIApp = app
    errors_mapped = False  # ErrorMapping sits right above the application, placed once
    run: dict[str, Any] = {}  # slot → edge stage, innermost first, waiting to be fused

    def fuse() -> None:
        nonlocal wrapped, errors_mapped
        if run:
            wrapped = FusedEdge(wrapped, **run, map_errors=not errors_mapped)
            errors_mapped = True
            run.clear()

    for slot in reversed(MIDDLEWARE_ORDER):
        layer = layers.get(slot)
        if layer is None:
            continue
        if isinstance(layer, EdgeStage):
            run[slot] = layer
            continue
        fuse()
        if not errors_mapped:
            wrapped, errors_mapped = ErrorMapping(wrapped), True
        wrapped = layer.wrap(wrapped)
    fuse()
    return wrapped if errors_mapped else ErrorMapping(wrapped)
