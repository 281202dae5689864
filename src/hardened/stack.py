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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hardened.clock import SystemClock
from hardened.errors import ConfigError, HardenedError
from hardened.problems import send_error, send_problem
from hardened.stages import MIDDLEWARE_ORDER, Exchange, Layer, Refused, Stage

__all__ = ["EdgeDriver", "ErrorMapping", "build_stack"]

_NO_HEADERS: Mapping[bytes, bytes] = {}


def _overrides(stage: Stage, method: str) -> bool:
    return getattr(type(stage), method) is not getattr(Stage, method)


class EdgeDriver:
    """Pure ASGI: `stages` (outermost first) around `app`, in one frame.

    The frame is written once per driver, at assembly, from the stages it holds: one line per
    stage's `enter`, one guarded line per `exit` (a stage that leaves a method as inherited gets
    no line). Per request that costs the stages' own calls and nothing else: no loop over the
    stages, no list of their states.
    """

    def __init__(self, app: ASGIApp, stages: Sequence[Stage], *, map_errors: bool) -> None:
        self.app = app
        self.stages = tuple(stages)
        self._map_errors = map_errors
        self._fault = tuple(s.fault if _overrides(s, "fault") else None for s in self.stages)
        clocks = {id(s.clock): s.clock for s in self.stages if s.clock is not None}
        if len(clocks) > 1:
            raise ConfigError("the edge stages must share one clock")
        clock = next(iter(clocks.values()), None) or SystemClock()
        # The system clock's method is time.monotonic itself: call the C function directly.
        now = time.monotonic if isinstance(clock, SystemClock) else clock.monotonic
        self._now = now
        # This driver's own class, whose `__call__` is the frame written for its stages.
        self.__class__ = type("EdgeDriver", (EdgeDriver,), {"__call__": _frame(self, now)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Replaced at construction by the frame written for the stages."""
        raise NotImplementedError

    async def settle(
        self, exchange: Exchange, states: tuple[Any, ...], error: BaseException
    ) -> None:
        """Answer what interrupted the request (a stage's refusal, an error escaping the
        application), or re-raise it. `states` are those of the stages that entered."""
        if isinstance(error, Refused):
            await send_problem(exchange, *error.answer)
            return
        if isinstance(error, HardenedError) and len(states) < len(self.stages):
            await send_error(exchange.scope, exchange.receive, exchange, error)  # refused
            return
        claimed: HardenedError | None = None
        for index in range(len(states) - 1, -1, -1):
            fault = self._fault[index]
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


def _frame(driver: EdgeDriver, now: Callable[[], float]) -> Callable[..., Awaitable[None]]:
    """The driver's one frame, written for its stages (see `EdgeDriver`)."""
    stages = driver.stages
    names: dict[str, Any] = {
        "Exchange": Exchange,
        "new": object.__new__,
        "NO_HEADERS": _NO_HEADERS,
        "wanted": frozenset(name for stage in stages for name in stage.headers),
        "now": now,
        "running_loop": asyncio.get_running_loop,
        "app": driver.app,
        "settle": driver.settle,
    }
    slots = [f"s{index}" for index in range(len(stages))]
    body = [
        "async def frame(self, scope, receive, send):",
        "    if scope['type'] != 'http':",
        "        await app(scope, receive, send)",
        "        return",
        "    found = None",  # the one header scan (a repeated header's values joined)
        "    for name, value in scope['headers']:",
        "        if name in wanted:",
        "            if found is None:",
        "                found = {name: value}",
        "            elif name in found:",
        "                found[name] += b', ' + value",
        "            else:",
        "                found[name] = value",
        # The exchange, built here rather than by its __init__: one frame fewer per request.
        "    exchange = new(Exchange)",
        "    exchange.scope = scope",
        "    exchange.receive = exchange.app_receive = receive",
        "    exchange.send = send",
        "    exchange.app_send = None",
        "    exchange.headers = found or NO_HEADERS",
        "    exchange.started = exchange.ended = now()",
        "    exchange.loop = running_loop()",
        "    exchange.status = 0",
        "    exchange.cancelled = False",
        f"    {' = '.join([*slots, 'None'])}" if slots else "    pass",
        "    entered = 0",
        "    try:",
    ]
    for index, stage in enumerate(stages):
        if _overrides(stage, "enter"):
            names[f"enter{index}"] = stage.enter
            body.append(f"        s{index} = enter{index}(exchange)")
        body.append(f"        entered = {index + 1}")
    body += [
        "        await app(scope, exchange.app_receive, exchange.app_send or exchange)",
        "    except BaseException as error:",
        f"        await settle(exchange, ({', '.join(slots)}{',' if slots else ''})[:entered],"
        " error)",
        "    finally:",
        "        exchange.ended = now()",
    ]
    for index in reversed(range(len(stages))):
        if _overrides(stages[index], "exit"):
            names[f"exit{index}"] = stages[index].exit
            body.append(f"        if entered > {index}: exit{index}(exchange, s{index})")
    exec("\n".join(body), names)  # noqa: S102 - our own template, no outside input
    frame: Callable[..., Awaitable[None]] = names["frame"]
    return frame


class _Started:
    """A `send` that notes whether the response started."""

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    def __call__(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            self.started = True
        return self.send(message)


class ErrorMapping:
    """Innermost piece: a `HardenedError` escaping the app becomes its one HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracker = _Started(send)
        try:
            await self.app(scope, receive, tracker)
        except HardenedError as error:
            if tracker.started:
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
