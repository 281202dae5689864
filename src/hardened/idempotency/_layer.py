"""The idempotency layer: validate, claim, run the handler once, store, replay.

It sits in the `idempotency` slot, inside the edge stages and right above the error mapping,
so a replay, a 409 or a 422 never reaches the handler. Only unsafe methods of routes marked
`@idempotent()` are touched; everything else passes through after one route lookup (none at
all when no route is marked). The response of a claimed request is held until it is stored,
so a crash after the completion still leaves the client a replay.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple

from starlette.requests import HTTPConnection
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hardened.errors import (
    BodyTooLarge,
    HardenedError,
    IdempotencyKeyInFlight,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
)
from hardened.idempotency._config import IDEMPOTENCY_ATTRIBUTE, IdempotencyConfig, Protected
from hardened.idempotency._context import SCOPE_KEY, IdempotencyContext
from hardened.idempotency._fingerprint import fingerprint
from hardened.idempotency._key import (
    IdempotencyPrincipalMissing,
    IdempotencyStoreUnavailable,
    read_key,
)
from hardened.idempotency._respond import Capture, Heartbeat, replay
from hardened.idempotency._state import IdempotencyStats
from hardened.idempotency._store import (
    ClaimRequest,
    IdempotencyStore,
    InFlight,
    Mismatch,
    Replay,
    Ticket,
)
from hardened.problems import send_error
from hardened.routes import RouteOverrides

__all__ = ["SAFE_METHODS", "IdempotencyLayer", "ScopeOf"]

logger = logging.getLogger("hardened.idempotency")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_PASS = object()


class _Claimed(NamedTuple):
    ticket: Ticket
    body: bytes
    connection: Any  # held for the handler in transaction mode, else None


ScopeOf = Callable[[HTTPConnection], str | Awaitable[str | None] | None]


class IdempotencyLayer:
    """The `Middleware` in the idempotency slot."""

    slot = "idempotency"

    def __init__(
        self,
        *,
        config: IdempotencyConfig,
        store: IdempotencyStore,
        scope_of: ScopeOf,
        routes_of: ASGIApp,
        stats: IdempotencyStats,
    ) -> None:
        self.config = config
        self.store = store
        self.scope_of = scope_of
        self.stats = stats
        self.routes = RouteOverrides(routes_of, IDEMPOTENCY_ATTRIBUTE)
        self._templates = [
            (compile_path(template)[0], template, policy)
            for template, policy in self.routes.describe().items()
        ]
        self._tasks: set[asyncio.Task[None]] = set()

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """`app` behind this layer."""
        if not self.routes:
            return app  # no route opted in: nothing to do on any request

        async def layer(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
                await app(scope, receive, send)
                return
            policy = self.routes.lookup(scope)
            if not isinstance(policy, Protected):
                await app(scope, receive, send)
                return
            held: list[AbstractAsyncContextManager[Any]] = []  # the transaction mode's checkout
            try:
                try:
                    admitted = await self._admit(policy, scope, receive, send, held)
                except HardenedError as error:
                    await send_error(scope, receive, send, error)
                else:
                    if admitted is _PASS:
                        await app(scope, receive, send)
                    elif isinstance(admitted, _Claimed):
                        await self._execute(app, admitted, scope, receive, send)
            except BaseException as exc:
                if held:
                    await held[0].__aexit__(type(exc), exc, exc.__traceback__)
                raise
            if held:
                await held[0].__aexit__(None, None, None)

        return layer

    def _route(self, scope: Scope, policy: Protected) -> tuple[str, dict[str, str]]:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        for regex, template, value in self._templates:
            if value is policy:
                found = regex.match(path)
                if found:
                    return template, found.groupdict()
        return path, {}

    async def _principal(self, scope: Scope) -> str | None:
        principal = self.scope_of(HTTPConnection(scope))
        if not isinstance(principal, str) and inspect.isawaitable(principal):
            principal = await principal
        return principal or None

    async def _admit(
        self,
        policy: Protected,
        scope: Scope,
        receive: Receive,
        send: Send,
        held: list[AbstractAsyncContextManager[Any]],
    ) -> _Claimed | object | None:
        """The claimed ticket, the body read and the connection held for the handler; `_PASS`
        to run the app untouched; None when answered here (a replay, a disconnect). Refusals
        raise their `HardenedError`. A transaction-mode checkout is put in `held`, for the
        caller to end once the request is answered."""
        config, stats = self.config, self.stats
        try:
            key = read_key(scope["headers"], config.header_name)
        except IdempotencyKeyInvalid:
            stats.invalid_keys += 1
            raise
        if key is None and policy.required:
            stats.invalid_keys += 1
            raise IdempotencyKeyInvalid(f"this route requires an {config.header} header")
        if key is None:
            return _PASS
        principal = await self._principal(scope)
        if principal is None:
            stats.principal_missing += 1
            raise IdempotencyPrincipalMissing("keys are scoped to a principal; none was found")
        body = await _read_body(receive, config.max_request_body)
        if body is None:
            return None  # the client went away
        template, params = self._route(scope, policy)
        content_type = next((v for n, v in scope["headers"] if n == b"content-type"), b"")
        claim = ClaimRequest(
            scope=principal,
            key=key,
            fingerprint=fingerprint(
                method=scope["method"],
                route=template,
                path_params=params,
                query_string=scope.get("query_string", b""),
                body=body,
                content_type=content_type,
                secret=config.fingerprint_secret,
            ),
            method=scope["method"],
            route=template,
        )
        connection = None
        try:
            manager = self.store.connection() if policy.transaction else None
            if manager is not None:
                connection = await manager.__aenter__()
                held.append(manager)
            outcome = await self.store.claim(
                claim, lease=config.lease, retention=config.retention, connection=connection
            )
        except HardenedError:
            raise
        except Exception as exc:
            stats.unavailable += 1
            logger.warning("idempotency store unavailable at claim: %r", exc)
            raise IdempotencyStoreUnavailable(
                "the key could not be claimed; nothing was done", retry_after=config.retry_after
            ) from exc
        if isinstance(outcome, Replay):
            stats.replays += 1
            await replay(send, outcome.response)
            return None
        if isinstance(outcome, InFlight):
            stats.conflicts += 1
            raise IdempotencyKeyInFlight(
                "a request with this key is still being processed",
                retry_after=max(1.0, outcome.retry_after),
            )
        if isinstance(outcome, Mismatch):
            stats.mismatches += 1
            raise IdempotencyKeyReused("this key was used for a different request")
        stats.claims += 1
        return _Claimed(outcome, body, connection)

    async def _execute(
        self, app: ASGIApp, claimed: _Claimed, scope: Scope, receive: Receive, send: Send
    ) -> None:
        ticket, body, config = claimed.ticket, claimed.body, self.config
        scope[SCOPE_KEY] = IdempotencyContext(
            ticket,
            self.store,
            retention=config.retention,
            allowed=config.replayed_headers,
            held=claimed.connection,
        )
        beat = Heartbeat(self.store, ticket, config.lease)
        released = False

        async def release() -> None:
            nonlocal released
            if not released:
                released = True
                beat.stop()
                await self._release(ticket)

        capture = Capture(
            send, ticket=ticket, store=self.store, config=config, stats=self.stats, release=release
        )
        sent = False

        async def replay_receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        try:
            await app(scope, replay_receive, capture)
        except BaseException:
            await release()
            raise
        finally:
            beat.stop()
        if not ticket.completed:
            await release()

    async def _release(self, ticket: Ticket) -> None:
        """Give the key back, even when this request is being cancelled."""
        self.stats.releases += 1
        # A fresh context: the release outlives the request's budget (a spent deadline must
        # not keep the key from being given back).
        loop = asyncio.get_running_loop()
        task = loop.create_task(self._release_quietly(ticket), context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.shield(task)

    async def _release_quietly(self, ticket: Ticket) -> None:
        try:
            await self.store.release(ticket)
        except Exception as exc:  # the lease still ends: the key frees itself
            logger.warning("could not release an idempotency key: %r", exc)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body (None when the client disconnected); `BodyTooLarge` past
    `limit` bytes, before anything is claimed."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"an idempotent request body is limited to {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
