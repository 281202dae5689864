"""The shed decision taken by the server when a request's headers are complete (`hardened run`).

Inside the application, a request is decided only once its task first runs: under CPU
overload that is one more turn of the loop after the server parsed its headers (about 10 ms at
p50 at 3x load, on top of the wait in the socket buffer), and a refused request waits it too.
The server's protocol calls `EarlyRefusal` at headers-complete, before it creates the task:

- calm (the common case): None at once; the request goes on and the `shed` stage decides it
  as it does without this server;
- otherwise the same decision as the stage (priority by route, a claim only from a trusted
  caller, the caller's budget, the accept-queue wait): a refusal is counted and rendered as the
  stage's is (503 or 504 problem+json, Retry-After, `Connection: close` when there is a body)
  and counted in RED as the observe stage counts it.

An admitted request is decided again by the stage when its task first runs (with the claims
read here, `EARLY_CLAIMS`, so a claim is counted once), as CoDel decides at dequeue: every
request that arrived during one turn of the loop is decided here on the same queue-delay
reading, so admitting here alone admits a whole batch into a queue none of them saw grow
(measured at 3x load: admitted p99 131 ms instead of 77-80 ms). Refusing early never adds to
the queue, so that half is safe to take here.

Probes never reach the shedder: `/livez` and `/readyz` are answered before the stack, so they
pass here too, as do the shedder's own `exempt_paths`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection

from starlette.types import Scope

from hardened.clock import Clock
from hardened.shed._stage import ARRIVED, EARLY_CLAIMS, Shedder

__all__ = ["Answer", "EarlyRefusal", "Recorder"]

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
"""(status, raw headers, body): what the server writes for a refused request."""

Recorder = Callable[[Scope, int, float], None]
"""Counts a request answered before the stack ran: (scope, status, duration in seconds)."""


class EarlyRefusal:
    """`early_refusal(scope) -> Answer | None`, what the server calls at headers-complete.

    `scope` is the request's ASGI scope as the application will see it (`client` after the
    server's proxy headers, `hardened.arrived` when the server stamped it).
    """

    __slots__ = ("_beat", "_calm", "_monitor", "_now", "_passes", "_record", "_target", "shedder")

    def __init__(
        self,
        shedder: Shedder,
        *,
        passes: Collection[str] = (),
        record: Recorder | None = None,
        clock: Clock,
    ) -> None:
        self.shedder = shedder
        self._passes = frozenset(passes)  # answered before the stack: never decided here
        self._record = record
        self._now = clock.monotonic
        self._monitor = shedder.monitor
        self._beat = shedder.monitor.heartbeat  # its `loop`: None while paused
        self._calm = shedder.calm
        self._target = shedder.config.queue_delay_target

    def __call__(self, scope: Scope) -> Answer | None:
        loop = asyncio.get_running_loop()
        if self._beat.loop is not loop:
            self._monitor.ensure_running(loop)
        now = loop.time()
        arrived = scope.get(ARRIVED)
        if (arrived is None or now - arrived <= self._target) and self._calm(now):
            return None  # the stage decides it, as without this server
        shedder = self.shedder
        started = self._now()
        path = scope["path"]
        root = scope.get("root_path")
        if self._passes and (path[len(root) :] if root and path.startswith(root) else path) in (
            self._passes
        ):
            return None
        exempt = shedder.config.exempt_paths
        if exempt and path.startswith(exempt):
            return None
        wanted = shedder.headers
        found: dict[bytes, bytes] = {}  # the edge driver's one scan: repeated values joined
        for name, value in scope["headers"]:
            if name in wanted:
                found[name] = found[name] + b", " + value if name in found else value
        priority: bytes | None = None
        caller: float | None = None
        if found:
            priority, caller = scope[EARLY_CLAIMS] = shedder.claims(scope, found)
        refusal = shedder.check(loop, path, priority, caller, arrived)
        if refusal is None:
            return None  # decided again when its task runs (see the module docstring)
        answer = shedder.refusal(scope, *refusal)
        shedder.rejected_early_total += 1
        if self._record is not None:
            self._record(scope, answer[0], self._now() - started)
        return answer
