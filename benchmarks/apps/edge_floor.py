"""A lower bound for the edge: the four stages' essential per-request work, hand-inlined.

Not a product: one closure around the trivial Starlette app that does what every request must
pay for at the edge and nothing else — one clock read at each end, the in-flight counters, a
response tracker, the request's budget in a ContextVar and its expiry entry in a FIFO, one
counter and one histogram bucket. No configuration, no route templates, no shed decision, no
header semantics. It answers "how close to bare can an edge in pure Python get?", so the
hardened stack's ratio can be read against a floor rather than against zero.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Awaitable
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from benchmarks.apps.edge import bare

_BUDGET: ContextVar[tuple[float, str] | None] = ContextVar("floor_budget", default=None)
_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf")]


class _Tracker:
    __slots__ = ("expires", "send", "state", "status", "task")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.status = 0
        self.state = 0
        self.expires = 0.0
        self.task: Any = None

    def __call__(self, message: Message) -> Awaitable[None]:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        return self.send(message)


def essential_edge(app: ASGIApp) -> ASGIApp:
    """`app` behind the hand-inlined essential work of the four edge stages."""
    counts: dict[int, int] = {}
    buckets = [0] * len(_BOUNDS)
    inflight = [0]
    expiry: deque[_Tracker] = deque()
    monotonic = time.monotonic

    async def edge(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        for _name, _value in scope["headers"]:
            pass  # the one header scan
        now = monotonic()
        inflight[0] += 1
        tracker = _Tracker(send)
        tracker.task = asyncio.current_task()
        tracker.expires = now + 10.0
        expiry.append(tracker)
        token = _BUDGET.set((now + 10.0, "service"))
        try:
            await app(scope, receive, tracker)
        finally:
            _BUDGET.reset(token)
            tracker.state = 1
            while expiry and expiry[0].state:
                expiry.popleft()
            inflight[0] -= 1
            counts[tracker.status] = counts.get(tracker.status, 0) + 1
            buckets[bisect_left(_BOUNDS, monotonic() - now)] += 1

    return edge


floor = essential_edge(bare)
