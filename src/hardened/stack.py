"""The edge driver, and the one function that assembles the request path in the fixed order.

Neighbouring edge `Stage`s (see `hardened.stages`) run inside one `EdgeDriver` frame: one scan
of the headers for every name the stages asked for, one clock read at each end, one response
tracker (the `Exchange`). The driver knows nothing of what a stage means: it calls `enter`
outermost first, then the application, then offers an escaping exception to each stage's
`fault` innermost first, and finally `exit` innermost first. The order comes from
`MIDDLEWARE_ORDER` alone. A `Middleware` layer is its own ASGI app in its slot's place; the
innermost piece maps a `HardenedError` escaping the application to its problem+json answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from hardened.clock import SystemClock
from hardened.errors import ConfigError, HardenedError
from hardened.problems import send_error, send_problem
from hardened.stages import MIDDLEWARE_ORDER, Exchange, Layer, Refused, Stage

__all__ = ["EdgeDriver", "ErrorMapping", "build_stack"]

_NO_HEADERS: Mapping[bytes, bytes] = {}


def _scan(headers: list[tuple[bytes, bytes]], wanted: frozenset[bytes]) -> Mapping[bytes, bytes]:
    """The values of the `wanted` header names (a repeated one's values joined by commas)."""
    found: dict[bytes, bytes] | None = None
    for name, value in headers:
        if name in wanted:
            if found is None:
                found = {name: value}
            elif name in found:
                found[name] += b", " + value
            else:
                found[name] = value
    return found or _NO_HEADERS


def _overrides(stage: Stage, method: str) -> bool:
    return getattr(type(stage), method) is not getattr(Stage, method)


class EdgeDriver:
    """Pure ASGI: `stages` (outermost first) around `app`, in one frame."""

    def __init__(self, app: ASGIApp, stages: Sequence[Stage], *, map_errors: bool) -> None:
        self.app = app
        self.stages = tuple(stages)
        self._map_errors = map_errors
        self._enter = tuple(stage.enter for stage in self.stages)
        self._exit = tuple(s.exit if _overrides(s, "exit") else None for s in self.stages)
        self._fault = tuple(s.fault if _overrides(s, "fault") else None for s in self.stages)
        self._wanted = frozenset(name for stage in self.stages for name in stage.headers)
        clocks = {id(s.clock): s.clock for s in self.stages if s.clock is not None}
        if len(clocks) > 1:
            raise ConfigError("the edge stages must share one clock")
        clock = next(iter(clocks.values()), None) or SystemClock()
        # The system clock's method is time.monotonic itself: call the C function directly.
        self._now = time.monotonic if isinstance(clock, SystemClock) else clock.monotonic

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = Exchange(
            scope,
            receive,
            send,
            _scan(scope["headers"], self._wanted),
            self._now(),
            asyncio.get_running_loop(),
        )
        states: list[Any] = []
        try:
            for enter in self._enter:
                states.append(enter(exchange))
            await self.app(scope, exchange.app_receive, exchange.app_send)
        except Refused as refused:
            await send_problem(exchange, *refused.answer)
        except HardenedError as error:
            if len(states) < len(self._enter):  # refused by a stage's enter
                await send_error(scope, receive, exchange, error)
            else:
                await self._answer(exchange, states, error)
        except BaseException as error:
            await self._answer(exchange, states, error)
        finally:
            exchange.ended = self._now()
            exits = self._exit
            for index in range(len(states) - 1, -1, -1):
                leave = exits[index]
                if leave is not None:
                    leave(exchange, states[index])

    async def _answer(self, exchange: Exchange, states: list[Any], error: BaseException) -> None:
        """Answer an exception that escaped the application, or re-raise it."""
        faults = self._fault
        claimed: HardenedError | None = None
        for index in range(len(states) - 1, -1, -1):
            fault = faults[index]
            if fault is not None:
                claimed = fault(exchange, states[index], error)
                if claimed is not None:
                    break
        if claimed is None:
            if not (self._map_errors and isinstance(error, HardenedError)):
                exchange.cancelled = isinstance(error, asyncio.CancelledError)
                raise error
            claimed = error
        if exchange.status:  # the answer has started: the error can only end the stream
            if claimed is error:
                raise error
            raise claimed from None
        await send_error(exchange.scope, exchange.receive, exchange, claimed)


class ErrorMapping:
    """Innermost piece: a `HardenedError` escaping the app becomes its one HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = Exchange(scope, receive, send, _NO_HEADERS, 0.0, asyncio.get_running_loop())
        try:
            await self.app(scope, receive, exchange)
        except HardenedError as error:
            if exchange.status:
                raise
            await send_error(scope, receive, send, error)


def build_stack(app: ASGIApp, layers: Mapping[str, Layer]) -> ASGIApp:
    """Wrap `app` with `layers` in the fixed order, whatever order they were given in.

    Neighbouring stages run in one `EdgeDriver`; a middleware layer is its own ASGI app in its
    slot's place. Errors are mapped once, right above the application.
    """
    unknown = sorted(set(layers) - set(MIDDLEWARE_ORDER))
    if unknown:
        raise ConfigError(f"unknown middleware slots {unknown}; slots are {MIDDLEWARE_ORDER}")
    wrapped: ASGIApp = app
    errors_mapped = False
    run: list[Stage] = []  # innermost first, waiting to be driven together

    def drive() -> None:
        nonlocal wrapped, errors_mapped
        if run:
            wrapped = EdgeDriver(wrapped, run[::-1], map_errors=not errors_mapped)
            errors_mapped = True
            run.clear()

    for slot in reversed(MIDDLEWARE_ORDER):
        layer = layers.get(slot)
        if layer is None:
            continue
        if isinstance(layer, Stage):
            run.append(layer)
            continue
        drive()
        if not errors_mapped:
            wrapped, errors_mapped = ErrorMapping(wrapped), True
        wrapped = layer.wrap(wrapped)
    drive()
    return wrapped if errors_mapped else ErrorMapping(wrapped)
