"""In-process cost of one ASGI request: the app called directly, no sockets, no server.

A cross-check for the server-CPU figure: with the network and uvicorn out of the picture, what is
left is the middleware stack and the handler, measured in this thread's CPU time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Message

__all__ = ["asgi_cpu_us_per_call", "call_once", "interleaved_costs"]


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def call_once(app: ASGIApp, path: str = "/") -> tuple[int, bytes]:
    """Call `app` for one GET; the status and body it sent."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(_scope(path), receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


async def _loop(app: ASGIApp, calls: int, path: str) -> float:
    for _ in range(min(calls, 200)):  # warm-up: lazy stack build, caches
        await call_once(app, path)
    start = time.thread_time()
    refused = 0
    for call in range(calls):
        status, _ = await call_once(app, path)
        refused += status != 200
        if call % 10 == 9:
            # Let the loop turn: a batch that never yields looks like a blocked loop to the
            # load shedder, which would then answer cheap 503s instead of running the stack.
            await asyncio.sleep(0)
    cost = (time.thread_time() - start) / calls * 1e6
    if refused:
        raise RuntimeError(f"{refused} of {calls} in-process calls were not answered 200")
    return cost


def _batch(app: ASGIApp, calls: int, path: str, attempts: int = 3) -> float:
    """One batch's CPU µs per call; a batch that met refusals is run again (at most `attempts`
    in all): on a shared machine a stretch without the CPU reads as queue delay to the shedder,
    whose cheap 503s are not the stack under measurement."""
    for attempt in range(attempts):
        try:
            return asyncio.run(_loop(app, calls, path))
        except RuntimeError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def asgi_cpu_us_per_call(app: ASGIApp, calls: int, path: str = "/", repeats: int = 5) -> float:
    """CPU µs per direct ASGI call of `app`: the best of `repeats` batches of `calls` calls.

    The best batch, as `timeit` reports: a shared machine only ever adds time to a batch.
    """
    if calls <= 0 or repeats <= 0:
        raise ValueError("calls and repeats must be positive")
    return min(_batch(app, calls, path) for _ in range(repeats))


def interleaved_costs(
    apps: Mapping[str, ASGIApp], calls: int, repeats: int = 5, path: str = "/"
) -> dict[str, float]:
    """Best-of-`repeats` CPU µs per call for each app, batches alternating between the apps.

    Alternating A, B, A, B… puts each app's batches in the same moments of a noisy machine.
    """
    if calls <= 0 or repeats <= 0:
        raise ValueError("calls and repeats must be positive")
    best = {label: float("inf") for label in apps}
    for _ in range(repeats):
        for label, app in apps.items():
            best[label] = min(best[label], _batch(app, calls, path))
    return best
