"""The fixed order of the request path and the contract of what fills its slots.

Outermost first::

    observe → shed → deadline → lifecycle → shutdown → idempotency → (errors) → application

A slot holds one `Layer`. A layer is either an edge `Stage` (plain methods the edge driver calls
inside its one frame) or an ASGI middleware (`wrap`). Gates fill slots through the install
interface; `hardened.stack.build_stack` assembles them in this order, whatever order they came in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol, runtime_checkable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hardened.clock import Clock
from hardened.errors import HardenedError

__all__ = ["MIDDLEWARE_ORDER", "Exchange", "Layer", "Middleware", "Refused", "Stage"]

MIDDLEWARE_ORDER: tuple[str, ...] = (
    "observe",  # RED timing of everything below, shed 503s included
    "shed",  # cheap rejection before the body is read
    "deadline",  # the request budget; 504 when spent
    "lifecycle",  # body limit, in-flight accounting, backpressure
    "shutdown",  # a request cut by the drain answered 503
    "idempotency",  # claim key → handler → store → replay on opted-in routes
)


@runtime_checkable
class Middleware(Protocol):
    """A layer that is an ASGI middleware of its own (e.g. idempotency, a user's layer)."""

    @property
    def slot(self) -> str:
        """The slot's name."""
        ...

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """Return `app` wrapped by this layer alone."""
        ...


class Refused(Exception):
    """Raised by a stage's `enter` to answer the request now, without running what is below.

    `answer` is (status, raw headers, body), rendered by the stage (often cached).
    """

    def __init__(self, answer: tuple[int, list[tuple[bytes, bytes]], bytes]) -> None:
        super().__init__(answer[0])
        self.answer = answer


class Exchange:
    """One request as the edge stages see it, and its response tracker.

    The driver builds one per request: `headers` holds the values of the header names the
    stages asked for (one scan; a repeated header's values joined with ``", "``), `started` and
    `ended` the driver's clock reads at each end, `status` the response status once it started
    (0 before). Calling it sends a message on, noting the status. A stage may replace
    `app_receive` / `app_send` (what the application is given; `app_send` None means the
    exchange itself) with wrappers of its own, and must not leave a cycle back to the exchange
    once the request is over.
    """

    __slots__ = (
        "app_receive",
        "app_send",
        "cancelled",
        "ended",
        "headers",
        "loop",
        "receive",
        "scope",
        "send",
        "started",
        "status",
    )

    def __init__(  # noqa: PLR0917 - built once per request: positional is cheapest
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Mapping[bytes, bytes],
        started: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        self.headers = headers
        self.started = started
        self.ended = started
        self.loop = loop
        self.status = 0
        self.cancelled = False
        self.app_receive = receive
        # What the application is given to send with; None: this exchange itself (no
        # reference to itself, so a request's objects are freed without the cyclic GC).
        self.app_send: Send | None = None

    def __call__(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        return self.send(message)


class Stage:
    """One gate's part of the edge: plain methods the driver calls inside its one frame.

    `enter` runs before the application, outermost stage first; it returns this request's
    state for the stage (handed back to `exit` and `fault`) or raises `Refused` / a
    `HardenedError` to answer now. `fault` is offered an exception escaping the application,
    innermost stage first, and may claim it by returning the error to answer with. `exit`
    runs after the response (or the refusal of a stage further in), innermost first.
    A stage that leaves `exit` or `fault` as inherited costs nothing for it.
    """

    slot: str = ""
    headers: tuple[bytes, ...] = ()  # header names (lower case) this stage reads
    clock: Clock | None = None  # a stage that reads the driver's time names its clock

    def enter(self, exchange: Exchange) -> Any:
        """Admit the request (returning its state for this stage) or refuse it."""
        del exchange

    def exit(self, exchange: Exchange, state: Any) -> None:
        """The request is over (answered, refused further in, or failed)."""
        del exchange, state

    def fault(self, exchange: Exchange, state: Any, error: BaseException) -> HardenedError | None:
        """The error to answer `error` with, when this stage owns it; None to pass it on."""
        del exchange, state, error
        return None


Layer = Stage | Middleware
"""What fills one slot: an edge stage, or a middleware of its own."""
