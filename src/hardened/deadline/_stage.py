"""The deadline stage: set the request's budget once, refuse late arrivals, answer 504 when spent.

Budget = the route's own timeout or the service default, lowered by an inbound
`X-Request-Timeout` / `grpc-timeout`. The application runs under that deadline until its
response starts (then it is released: the status is out); expiry cancels the handler's task
and the stage answers 504 — or 408 when the application was waiting on the client's body then
(`hardened.faults.expiry_error`: the budget stays the bound, the answer names who was slow).
Requests on the service budget share one loop timer (`_expiry`); a
route's or caller's budget gets a loop timer of its own (cheaper than `asyncio.timeout`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextvars import Token
from typing import Any, Literal

from starlette.types import ASGIApp

from hardened.clock import Clock, SystemClock
from hardened.deadline._budget import _CURRENT, Budget, new_budget
from hardened.deadline._config import ROUTE_TIMEOUT_ATTRIBUTE, DeadlineConfig
from hardened.deadline._expiry import EXPIRED, FINISHED, LIVE, Expiry, ExpiryQueue, expire
from hardened.deadline._headers import CALLER_BUDGET_HEADERS, caller_budget
from hardened.errors import DeadlineExceeded, HardenedError
from hardened.faults import BodyWait, ClientFault, expiry_error, note_fault
from hardened.routes import RouteOverrides
from hardened.stages import Exchange, Stage

__all__ = ["DeadlineStage", "DeadlineStats", "task_lookup"]

_BODY_HEADERS = (b"content-length", b"transfer-encoding")  # a request that has a body


class DeadlineStats:
    """Counters the gate and the metrics read (plain integers: nothing allocated per request)."""

    __slots__ = ("by_source", "expired", "malformed_header", "refused_late")

    def __init__(self) -> None:
        self.by_source = {"service": 0, "route": 0, "header": 0}
        self.expired = 0
        self.refused_late = 0
        self.malformed_header = 0


def task_lookup(loop: asyncio.AbstractEventLoop) -> Callable[..., asyncio.Task[Any] | None]:
    """`asyncio.current_task(loop)` without its Python frame, where the interpreter keeps the
    table that function reads (CPython 3.11 to 3.13); checked once, else the public function."""
    table = getattr(asyncio.tasks, "_current_tasks", None)
    current = asyncio.current_task(loop)
    if isinstance(table, dict) and current is not None and table.get(loop) is current:
        lookup: Callable[..., asyncio.Task[Any] | None] = table.get
        return lookup
    return asyncio.current_task


class _Budgeted(Expiry):
    """One request's deadline state: its expiry entry, budget token, source and timer."""

    __slots__ = ("body", "handle", "source", "timeout", "token")

    body: BodyWait | None
    handle: asyncio.TimerHandle | None
    source: str
    timeout: float
    token: Token[Budget | None]


# `_Budgeted` has no `__init__`: `DeadlineStage.enter` builds it with this and sets every slot
# in its own frame (one frame fewer per request).
_new_state = object.__new__


class DeadlineStage(Stage):
    """Fills the `deadline` slot of the fixed order."""

    slot = "deadline"

    def __init__(
        self, config: DeadlineConfig, clock: Clock, stats: DeadlineStats, app: ASGIApp
    ) -> None:
        self.clock = clock
        self.stats = stats
        inbound = CALLER_BUDGET_HEADERS if config.accept_inbound else ()
        self.headers = inbound + _BODY_HEADERS
        self._routes_of = app  # where `@route_timeout` marks are looked up
        self._default = config.default_timeout
        self._expiry = ExpiryQueue(config.default_timeout)
        self._real_time = isinstance(clock, SystemClock)
        # `@route_timeout` marks, found at the first request (the routes are final then);
        # False when no route has one.
        self._timeouts: RouteOverrides | Literal[False] | None = None
        self._inbound = config.accept_inbound
        self._by_source = stats.by_source
        self._task_of: Callable[..., asyncio.Task[Any] | None] = self._first_task

    def enter(self, exchange: Exchange) -> _Budgeted:
        timeout = self._default
        source = "service"
        overrides = self._timeouts
        if overrides is None:
            overrides = self._route_timeouts()
        if overrides is not False:
            route_value = overrides.lookup(exchange.scope)
            if route_value is not None:
                timeout, source = route_value, "route"
        headers = exchange.headers
        if headers and self._inbound:
            timeout, source = self._caller_lowers(exchange, timeout, source)
        self._by_source[source] += 1
        loop = exchange.loop
        task = self._task_of(loop)
        now = exchange.started
        state = _new_state(_Budgeted)
        state.exchange = exchange
        state.task = task  # type: ignore[assignment] # queued only when there is one
        state.expires = (now if self._real_time else time.monotonic()) + timeout
        state.state = LIVE
        state.source = source
        state.timeout = timeout
        state.handle = None
        state.body = None
        if headers and (_BODY_HEADERS[0] in headers or _BODY_HEADERS[1] in headers):
            state.body = exchange.app_receive = BodyWait(exchange.app_receive)
        if task is not None:  # ASGI servers run each request in a task
            if source == "service":
                expiry = self._expiry
                queue = expiry.queue
                if (
                    loop is expiry.loop
                    and expiry.timer is not None
                    and len(queue) < expiry.compact_at
                ):
                    queue.append(state)  # `ExpiryQueue.add`'s common case, without its frame
                else:
                    expiry.add(loop, state)
            else:
                state.handle = loop.call_later(timeout, expire, state)
        state.token = _CURRENT.set(new_budget(Budget, (now + timeout, source, self.clock)))
        return state

    def exit(self, exchange: Exchange, state: _Budgeted) -> None:
        _CURRENT.reset(state.token)
        if state.task is not None:
            if state.handle is None:  # `ExpiryQueue.finish`, without its frame
                if state.state == LIVE:
                    state.state = FINISHED
                queue = self._expiry.queue
                while queue and queue[0].state:
                    queue.popleft()
            else:
                state.handle.cancel()
                state.handle = None  # the timer refers back to the state: break the cycle

    def fault(
        self, exchange: Exchange, state: _Budgeted, error: BaseException
    ) -> HardenedError | None:
        if state.state != EXPIRED or not isinstance(error, asyncio.CancelledError):
            return None
        state.task.uncancel()
        self.stats.expired += 1
        return expiry_error(exchange.scope, state.source, state.timeout, state.body)

    def _caller_lowers(self, exchange: Exchange, timeout: float, source: str) -> tuple[float, str]:
        """The budget once the caller's timeout headers had their say: the nearer wins; a
        spent one is refused (504: the caller's, not the service's)."""
        caller, malformed = caller_budget(exchange.headers)
        self.stats.malformed_header += malformed
        if caller is None:
            return timeout, source
        if caller <= 0:
            note_fault(exchange.scope, ClientFault.BUDGET)
            self.stats.refused_late += 1
            raise DeadlineExceeded("the request arrived with its budget already spent")
        return (caller, "header") if caller < timeout else (timeout, source)

    def _route_timeouts(self) -> RouteOverrides | Literal[False]:
        found = RouteOverrides(self._routes_of, ROUTE_TIMEOUT_ATTRIBUTE)
        self._timeouts = found if found else False
        return self._timeouts

    def _first_task(self, loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any] | None:
        """The first request's task lookup, which picks the lookup for the rest."""
        self._task_of = task_lookup(loop)
        return self._task_of(loop)
