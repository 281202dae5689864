"""The idempotency layer in process, path by path: what passes through untouched, request and
response bodies in chunks, what each refusal says and counts, a store that fails or loses the
lease, the claim's connection held for a handler's transaction, the key released before a
non-storable response goes out, and the heartbeat of a handler slower than its lease.

Every test here runs on a virtual-time loop: leases and heartbeats take no wall time, and a
request that never finishes fails its test at once instead of hanging it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.background import BackgroundTask
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from hardened import Service, remaining
from hardened.clock import SYSTEM_CLOCK, Clock
from hardened.idempotency import (
    ClaimRequest,
    Idempotency,
    IdempotencyConfig,
    MemoryIdempotencyStore,
    Ticket,
    idempotency_context,
    idempotent,
)
from hardened.idempotency._fingerprint import fingerprint
from hardened.testing import FakeClock
from tests._virtual_time import LoopClock, on_virtual_time
from tests.apps.idempotency_memory import tenant_of

A = {"Authorization": "Bearer tenant-a"}
NEVER = 3600.0  # virtual seconds: a wait this long means the awaited thing cannot happen


async def until(event: asyncio.Event) -> None:
    """Wait for `event`; fail when it can no longer come."""
    async with asyncio.timeout(NEVER):
        await event.wait()


def keyed(key: str = "k") -> dict[str, str]:
    return {**A, "Idempotency-Key": key}


class Connection:
    """A connection lent by `Store` (numbered in checkout order)."""

    def __init__(self, number: int) -> None:
        self.number = number

    def __repr__(self) -> str:
        return f"Connection({self.number})"


class Store(MemoryIdempotencyStore):
    """The memory store with faults to inject, connections to lend (as a database store lends
    them: the layer's transaction mode needs a store that has some) and a log of the
    connection each write was given and of the deadline each release ran under."""

    def __init__(
        self, *, clock: Clock = SYSTEM_CLOCK, connections: bool = False, fail: str = ""
    ) -> None:
        super().__init__(clock=clock)
        self.lends = connections
        self.fail = fail
        self.opened: list[Connection] = []
        self.closed: list[Connection] = []
        self.given: list[tuple[str, Any]] = []
        self.ended_with: list[BaseException] = []
        self.release_budgets: list[float | None] = []

    def _write(self, operation: str, connection: Any) -> None:
        if operation == self.fail:
            raise ConnectionError(f"{operation}: the store is down")
        self.given.append((operation, connection))

    def connection(self) -> contextlib.AbstractAsyncContextManager[Any] | None:  # type: ignore[override]
        return self._lend() if self.lends else None

    @contextlib.asynccontextmanager
    async def _lend(self) -> AsyncIterator[Connection]:
        lent = Connection(len(self.opened) + 1)
        self.opened.append(lent)
        try:
            yield lent
        except BaseException as exc:  # what `async with` tells a source when its block failed
            self.ended_with.append(exc)
            raise
        finally:
            self.closed.append(lent)

    async def claim(
        self, request: ClaimRequest, *, lease: float, retention: float, connection: Any = None
    ) -> Any:
        self._write("claim", connection)
        return await super().claim(request, lease=lease, retention=retention)

    async def complete(
        self, ticket: Ticket, response: Any, *, retention: float, connection: Any = None
    ) -> bool:
        self._write("complete", connection)
        return await super().complete(ticket, response, retention=retention)

    async def reach(self, ticket: Ticket, point: str, *, connection: Any = None) -> bool:
        self._write("reach", connection)
        return await super().reach(ticket, point)

    async def release(self, ticket: Ticket) -> None:
        self.release_budgets.append(remaining())
        self._write("release", None)
        await super().release(ticket)


@dataclass
class Seen:
    """What the handlers did."""

    runs: list[str] = field(default_factory=list)
    claims: list[ClaimRequest] = field(default_factory=list)
    connections: list[Any] = field(default_factory=list)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    hold: asyncio.Event | None = None
    background: asyncio.Event = field(default_factory=asyncio.Event)


class RawEndpoint:
    """A plain ASGI endpoint that leaves out every optional key of its messages."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.runs.append("raw")
        await send({"type": "http.response.start", "status": 201})
        await send({"type": "http.response.body", "body": b"part-1,", "more_body": True})
        await send({"type": "http.response.body", "more_body": True})
        await send({"type": "http.response.body", "body": b"part-2"})


def build(
    store: Store,
    config: IdempotencyConfig | None = None,
    scope: Callable[[HTTPConnection], Any] = tenant_of,
) -> tuple[Service, Idempotency, Seen]:
    """A service with one endpoint per path of the layer."""
    seen = Seen()

    def echo() -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            seen.runs.append(request.url.path)
            return PlainTextResponse(await request.body(), status_code=201)

        return answer  # a function of its own per route: a mark goes on the function

    @idempotent()
    async def create(request: Request) -> Response:
        context = idempotency_context(request)
        assert context is not None
        seen.claims.append(context.ticket.request)
        seen.runs.append(request.url.path)
        seen.entered.set()
        if seen.hold is not None:
            await seen.hold.wait()
        return JSONResponse({"order": len(seen.runs), "body": (await request.body()).decode()}, 201)

    @idempotent()
    async def stream(request: Request) -> Response:
        seen.runs.append("stream")
        count, size = int(request.query_params["chunks"]), int(request.query_params["size"])

        async def chunks() -> AsyncIterator[bytes]:
            for n in range(count):
                yield bytes([ord("a") + n]) * size

        return StreamingResponse(chunks(), status_code=201, media_type="text/plain")

    @idempotent(transaction=True)
    async def in_transaction(request: Request) -> Response:
        return await pay(request)

    @idempotent()
    async def pay(request: Request) -> Response:
        context = idempotency_context(request)
        assert context is not None
        async with context.connection() as connection:
            seen.connections.append(connection)
            await context.reach("charged", connection=connection)
            response = PlainTextResponse("paid", status_code=201)
            await context.complete_in(connection, response)
        return response

    @idempotent()
    async def busy(request: Request) -> Response:
        seen.runs.append("busy")
        return PlainTextResponse("busy", status_code=429)

    @idempotent()
    async def boom(request: Request) -> Response:
        seen.runs.append("boom")
        raise RuntimeError("the handler failed")

    @idempotent(transaction=True)
    async def boom_in_transaction(request: Request) -> Response:
        seen.runs.append("boom-in-transaction")
        raise RuntimeError("the handler failed")

    @idempotent()
    async def unavailable(request: Request) -> Response:
        seen.runs.append("unavailable")

        async def in_background() -> None:  # the first request's work goes on after its answer
            seen.entered.set()
            await seen.background.wait()

        task = BackgroundTask(in_background) if len(seen.runs) == 1 else None
        return PlainTextResponse("try again", status_code=503, background=task)

    @idempotent()
    async def slow(request: Request) -> Response:
        seen.runs.append("slow")
        await asyncio.sleep(float(request.query_params["seconds"]))
        return PlainTextResponse("done", status_code=201)

    @idempotent()
    async def overtaken(request: Request) -> Response:
        context = idempotency_context(request)
        assert context is not None
        assert isinstance(store.clock, FakeClock)
        seen.runs.append("overtaken")
        store.clock.advance(mechanism.config.lease)
        assert isinstance(await store.claim(context.ticket.request, lease=30, retention=60), Ticket)
        return PlainTextResponse("too late", status_code=201)

    @idempotent()
    async def completes_itself(request: Request) -> Response:
        context = idempotency_context(request)
        assert context is not None
        seen.runs.append("completes-itself")
        response = PlainTextResponse("kept by the handler", status_code=201)
        await context.complete_in(None, response)
        return response

    endpoints: dict[str, Callable[[Request], Awaitable[Response]]] = {
        "/orders": create,
        "/orders/{order}/cancel": create,
        "/stream": stream,
        "/transaction": in_transaction,
        "/pay": pay,
        "/busy": busy,
        "/boom": boom,
        "/transaction-boom": boom_in_transaction,
        "/unavailable": unavailable,
        "/slow": slow,
        "/overtaken": overtaken,
        "/completes-itself": completes_itself,
    }
    routes = [Route(path, endpoint, methods=["POST"]) for path, endpoint in endpoints.items()]
    routes += [
        Route("/echo", echo(), methods=["GET", "POST"]),
        Route("/both", idempotent()(echo()), methods=["GET", "POST"]),
        Route("/optional", idempotent(required=False)(echo()), methods=["POST"]),
        Route("/raw", idempotent()(RawEndpoint(seen)), methods=["POST"]),
    ]
    mechanism = Idempotency(store, scope=scope, config=config)
    service = Service("paths", routes=routes, mechanisms=[mechanism], shed=None)
    return service, mechanism, seen


def client(service: Service, root_path: str = "") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=service, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def raw_call(
    app: Service,
    path: str,
    *bodies: Message,
    headers: dict[str, str] | None = None,
    query: bytes | None = None,
) -> list[Message]:
    """One POST through `app` as a minimal server would make it (without `query` no query
    string in the scope at all). A client whose last body message says more is coming has
    gone away; otherwise it stays until the response is complete."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or keyed()).items()],
        "server": ("t", 80),
        "client": ("127.0.0.1", 5000),
    }
    if query is not None:
        scope["query_string"] = query
    incoming = list(bodies)
    sent: list[Message] = []
    complete = asyncio.Event()
    if incoming and incoming[-1].get("more_body", False):
        complete.set()

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await until(complete)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            complete.set()

    await app(scope, receive, send)
    return sent


def body_of(messages: list[Message]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


@on_virtual_time
async def test_requests_the_layer_does_not_claim_reach_the_handler_whole() -> None:
    """A safe method on a protected route, an unprotected route and an optional-key route
    without a key: each runs every time, with its body, and nothing is kept."""
    store = Store()
    service, mechanism, seen = build(store)
    async with client(service) as http:
        answers = [
            await http.request("GET", "/both", content=b"read", headers=keyed()),
            await http.request("GET", "/both", content=b"read", headers=keyed()),
            await http.get("/both"),
            await http.post("/echo", content=b"free", headers=keyed()),
            await http.post("/echo", content=b"free", headers=keyed()),
            await http.post("/optional", content=b"unkeyed", headers=A),
            await http.post("/optional", content=b"unkeyed", headers=A),
        ]
    assert [a.status_code for a in answers] == [201] * 7
    assert [a.text for a in answers] == ["read", "read", "", "free", "free", "unkeyed", "unkeyed"]
    assert all("idempotent-replayed" not in a.headers for a in answers)
    assert len(seen.runs) == 7
    assert len(store) == 0
    assert mechanism.stats.claims == 0


@on_virtual_time
async def test_a_request_body_in_chunks_is_read_whole_and_bounded_in_total() -> None:
    """Chunks (one without a body key) are joined for the handler and the fingerprint (a scope
    without a query string is one with an empty query); 64 bytes pass a 64-byte limit, 65 in
    small chunks get 413 before any claim."""
    store = Store()
    service, _, seen = build(store, IdempotencyConfig(max_request_body=64))

    def chunks(*parts: bytes) -> list[Message]:
        messages: list[Message] = [
            {"type": "http.request", "body": part, "more_body": True} for part in parts
        ]
        messages.insert(1, {"type": "http.request", "more_body": True})
        return [*messages, {"type": "http.request"}]

    first = await raw_call(service, "/orders", *chunks(b"a" * 30, b"b" * 30, b"c" * 4))
    again = await raw_call(  # the same request from a server that sends the empty query
        service,
        "/orders",
        {"type": "http.request", "body": b"a" * 30 + b"b" * 30 + b"c" * 4},
        query=b"",
    )
    assert first[0]["status"] == 201
    assert b'"body":"' + b"a" * 30 in body_of(first)
    assert (b"idempotent-replayed", b"true") in again[0]["headers"]
    too_big = await raw_call(
        service, "/orders", *chunks(b"a" * 30, b"b" * 30, b"c" * 5), headers=keyed("big")
    )
    assert too_big[0]["status"] == 413
    assert b"an idempotent request body is limited to 64 bytes" in body_of(too_big)
    assert (len(seen.runs), len(store)) == (1, 1)


@on_virtual_time
async def test_a_client_gone_before_its_body_arrived_claims_nothing() -> None:
    """A disconnect while the body is read: no claim, no handler, no answer."""
    store = Store()
    service, _, seen = build(store)
    sent = await raw_call(
        service, "/orders", {"type": "http.request", "body": b"half", "more_body": True}
    )
    assert sent == []
    assert (seen.runs, len(store)) == ([], 0)


@on_virtual_time
async def test_each_refusal_tells_the_client_why() -> None:
    """Missing key, no principal, a key reused for another request, one still in flight (the
    lease left, never under 1 s, as Retry-After)."""
    fake = FakeClock()
    store = Store(clock=fake)
    service, _, seen = build(store)
    seen.hold = asyncio.Event()
    async with client(service) as http:
        missing = await http.post("/orders", content=b"x", headers=A)
        anonymous = await http.post("/orders", content=b"x", headers={"Idempotency-Key": "k"})
        first = asyncio.create_task(http.post("/orders", content=b"x", headers=keyed()))
        await until(seen.entered)
        fake.advance(30.0 - 0.5)
        in_flight = await http.post("/orders", content=b"x", headers=keyed())
        reused = await http.post("/orders", content=b"y", headers=keyed())
        seen.hold.set()
        assert (await first).status_code == 201
    details = [a.json().get("detail") for a in (missing, anonymous, in_flight, reused)]
    assert details == [
        "this route requires an Idempotency-Key header",
        "keys are scoped to a principal; none was found",
        "a request with this key is still being processed",
        "this key was used for a different request",
    ]
    assert [a.status_code for a in (missing, anonymous, in_flight, reused)] == [400, 401, 409, 422]
    assert in_flight.headers["retry-after"] == "1"


@on_virtual_time
async def test_every_outcome_is_counted_once() -> None:
    """Claims, replays, conflicts, mismatches, releases, invalid keys and missing principals."""
    store = Store()
    service, mechanism, seen = build(store)
    async with client(service) as http:
        for key in ("a", "b"):
            await http.post("/orders", content=b"x", headers=keyed(key))
            await http.post("/orders", content=b"x", headers=keyed(key))
            await http.post("/orders", content=b"other", headers=keyed(key))
        for _ in range(2):
            await http.post("/orders", content=b"x", headers=A)
            await http.post("/orders", content=b"x", headers={**A, "Idempotency-Key": ""})
            await http.post("/orders", content=b"x", headers={"Idempotency-Key": "anon"})
            await http.post("/busy", content=b"x", headers=keyed("busy"))
        seen.entered.clear()
        seen.hold = asyncio.Event()
        held = asyncio.create_task(http.post("/orders", content=b"x", headers=keyed("held")))
        await until(seen.entered)
        for _ in range(2):
            await http.post("/orders", content=b"x", headers=keyed("held"))
        seen.hold.set()
        await held
    state = mechanism.stats.state()
    counted = {name: state[name] for name in state if name.endswith("_total") and state[name]}
    assert counted == {
        "claims_total": 5,
        "replays_total": 2,
        "mismatches_total": 2,
        "conflicts_total": 2,
        "releases_total": 2,
        "invalid_keys_total": 4,
        "principal_missing_total": 2,
    }
    assert not mechanism.layer or not mechanism.layer._tasks


@on_virtual_time
async def test_the_claim_names_the_route_template_method_and_keyed_fingerprint() -> None:
    """Under a root path too (whether or not the server's path includes it), the claim
    carries the route template, its parameters in the fingerprint, the method, and an HMAC
    fingerprint when a secret is configured."""
    secret = b"fingerprint-secret"
    service, _, seen = build(Store(), IdempotencyConfig(fingerprint_secret=secret))
    async with client(service) as http, client(service, root_path="/api") as behind:
        await http.post("/orders/7/cancel?full=1", content=b"{}", headers=keyed("one"))
        await behind.post("/api/orders/8/cancel", content=b"{}", headers=keyed("two"))
        await behind.post("/orders/9/cancel", content=b"{}", headers=keyed("three"))
    expected = [
        fingerprint(
            method="POST",
            route="/orders/{order}/cancel",
            path_params={"order": order},
            query_string=query,
            body=b"{}",
            content_type=b"",
            secret=secret,
        )
        for order, query in (("7", b"full=1"), ("8", b""), ("9", b""))
    ]
    assert [(c.route, c.method, c.fingerprint) for c in seen.claims] == [
        ("/orders/{order}/cancel", "POST", digest) for digest in expected
    ]


@on_virtual_time
async def test_an_async_principal_scopes_the_key() -> None:
    """`scope=` may be a coroutine function: its tenant scopes the key; None refuses it."""

    async def principal(connection: HTTPConnection) -> str | None:
        await asyncio.sleep(0)
        return tenant_of(connection)

    service, _, seen = build(Store(), scope=principal)
    async with client(service) as http:
        first = await http.post("/orders", content=b"x", headers=keyed())
        again = await http.post("/orders", content=b"x", headers=keyed())
        anonymous = await http.post("/orders", content=b"x", headers={"Idempotency-Key": "k"})
    assert (first.status_code, again.headers.get("idempotent-replayed")) == (201, "true")
    assert anonymous.status_code == 401
    assert [c.scope for c in seen.claims] == ["tenant-a"]


@on_virtual_time
async def test_a_streamed_response_is_kept_whole_and_replayed_with_its_length() -> None:
    """Three chunks of 4 bytes within a 12-byte limit: stored, sent as one final body, and
    replayed with ASGI's lower-case Content-Length and the replay mark."""
    service, _, seen = build(Store(), IdempotencyConfig(max_stored_body=12))
    first = await raw_call(
        service, "/stream", {"type": "http.request"}, headers=keyed(), query=b"chunks=3&size=4"
    )
    async with client(service) as http:
        again = await http.post("/stream?chunks=3&size=4", content=b"", headers=keyed())
    assert [m["type"] for m in first] == ["http.response.start", "http.response.body"]
    assert first[1]["body"] == again.content == b"aaaabbbbcccc"
    assert first[1]["more_body"] is False
    assert (b"content-length", b"12") in again.headers.raw
    assert (b"idempotent-replayed", b"true") in again.headers.raw
    assert seen.runs == ["stream"]


@on_virtual_time
async def test_a_response_past_the_stored_limit_is_streamed_on_and_the_key_released(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """13 bytes in 4-byte chunks over a 12-byte limit: the client gets every byte in order
    (the held part, then the rest as it comes), the key is released and it is logged."""
    service, mechanism, seen = build(Store(), IdempotencyConfig(max_stored_body=12))
    with caplog.at_level(logging.WARNING, logger="hardened.idempotency"):
        first = await raw_call(
            service,
            "/stream",
            {"type": "http.request"},
            headers=keyed(),
            query=b"chunks=4&size=4",
        )
        async with client(service) as http:
            again = await http.post("/stream?chunks=4&size=4", content=b"", headers=keyed())
    bodies = [(m.get("body", b""), m.get("more_body", False)) for m in first[1:]]
    assert bodies[0] == (b"aaaabbbbcccc" + b"dddd", True)
    assert bodies[-1] == (b"", False)
    assert body_of(first) == again.content == b"aaaabbbbccccdddd"
    assert "idempotent-replayed" not in again.headers
    assert seen.runs == ["stream", "stream"]
    assert mechanism.stats.unstored_too_large == 2
    assert (
        caplog.messages
        == ["response of POST /stream passed max_stored_body: sent, not stored (key released)"] * 2
    )


@on_virtual_time
async def test_a_raw_endpoint_leaving_out_optional_keys_is_kept_and_replayed() -> None:
    """A start without headers and body messages without `body` or `more_body`."""
    service, _, seen = build(Store())
    async with client(service) as http:
        first = await http.post("/raw", content=b"", headers=keyed())
        again = await http.post("/raw", content=b"", headers=keyed())
    assert first.content == again.content == b"part-1,part-2"
    assert again.headers["idempotent-replayed"] == "true"
    assert seen.runs == ["raw"]


@on_virtual_time
async def test_a_store_down_at_the_claim_is_a_503_and_the_handler_does_not_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fail closed: 503 with the configured Retry-After, counted and logged."""
    service, mechanism, seen = build(Store(fail="claim"), IdempotencyConfig(retry_after=3))
    with caplog.at_level(logging.WARNING, logger="hardened.idempotency"):
        async with client(service) as http:
            answer = await http.post("/orders", content=b"x", headers=keyed())
            await http.post("/orders", content=b"x", headers=keyed())
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "3"
    assert answer.json()["detail"] == "the key could not be claimed; nothing was done"
    assert seen.runs == []
    assert mechanism.stats.unavailable == 2
    assert (
        caplog.messages
        == ["idempotency store unavailable at claim: ConnectionError('claim: the store is down')"]
        * 2
    )


@on_virtual_time
async def test_a_completion_the_store_refuses_still_answers_and_frees_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The 201 reaches the client, the failure is counted and logged, and the retry runs
    again instead of waiting out a lease."""
    store = Store(fail="complete")
    service, mechanism, seen = build(store)
    with caplog.at_level(logging.WARNING, logger="hardened.idempotency"):
        async with client(service) as http:
            first = await http.post("/orders", content=b"x", headers=keyed())
            retry = await http.post("/orders", content=b"x", headers=keyed())
    assert first.status_code == retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert len(seen.runs) == 2
    assert mechanism.stats.completion_failures == 2
    assert (
        caplog.messages
        == [
            "could not store the response for an idempotency key: "
            "ConnectionError('complete: the store is down')"
        ]
        * 2
    )


@on_virtual_time
async def test_a_release_the_store_refuses_is_logged_and_the_answer_still_goes_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The 429 reaches the client; the key frees itself when its lease ends."""
    fake = FakeClock()
    service, _, seen = build(Store(clock=fake, fail="release"))
    with caplog.at_level(logging.WARNING, logger="hardened.idempotency"):
        async with client(service) as http:
            first = await http.post("/busy", content=b"x", headers=keyed())
            held = await http.post("/busy", content=b"x", headers=keyed())
            fake.advance(30.0)
            retry = await http.post("/busy", content=b"x", headers=keyed())
    assert [a.status_code for a in (first, held, retry)] == [429, 409, 429]
    assert seen.runs == ["busy", "busy"]
    assert (
        caplog.messages
        == ["could not release an idempotency key: ConnectionError('release: the store is down')"]
        * 2
    )


@on_virtual_time
async def test_a_lease_lost_before_the_completion_is_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A handler overtaken by a retry still answers; nothing is stored under the retry's key."""
    store = Store(clock=FakeClock())
    service, mechanism, _ = build(store)
    with caplog.at_level(logging.WARNING, logger="hardened.idempotency"):
        async with client(service) as http:
            answer = await http.post("/overtaken", content=b"x", headers=keyed())
            after = await http.post("/overtaken", content=b"x", headers=keyed())
            await http.post("/overtaken", content=b"x", headers=keyed("other"))
    assert answer.status_code == 201
    assert after.status_code == 409
    assert mechanism.stats.lost_leases == 2
    assert (
        caplog.messages == ["an idempotency key's lease was lost before completion: not stored"] * 2
    )


@on_virtual_time
async def test_the_key_is_given_back_once_outside_the_requests_budget() -> None:
    """A failing handler releases its key once, in a task free of the request's deadline."""
    store = Store()
    service, mechanism, _ = build(store)
    async with client(service) as http:
        with pytest.raises(RuntimeError):
            await http.post("/boom", content=b"x", headers=keyed())
        await http.post("/busy", content=b"x", headers=keyed("busy"))
    assert [op for op, _ in store.given if op == "release"] == ["release", "release"]
    assert store.release_budgets == [None, None]
    assert mechanism.stats.releases == 2
    assert mechanism.layer is not None
    assert not mechanism.layer._tasks


@on_virtual_time
async def test_a_handler_that_completes_in_its_own_transaction_is_replayed() -> None:
    """complete_in inside the handler: the response goes out as it is and replays after."""
    service, mechanism, seen = build(Store())
    async with client(service) as http:
        first = await http.post("/completes-itself", content=b"x", headers=keyed())
        again = await http.post("/completes-itself", content=b"x", headers=keyed())
    assert first.text == again.text == "kept by the handler"
    assert again.headers["idempotent-replayed"] == "true"
    assert seen.runs == ["completes-itself"]
    assert mechanism.stats.releases == 0


@on_virtual_time
async def test_a_transaction_route_hands_the_handler_the_claims_connection() -> None:
    """transaction=True: the claim, the recovery point and the completion share the one
    connection, lent until the response is out; otherwise the claim takes none and the
    handler borrows its own."""
    store = Store(connections=True)
    service, _, seen = build(store)
    async with client(service) as http:
        held = await http.post("/transaction", content=b"x", headers=keyed("t"))
        plain = await http.post("/pay", content=b"x", headers=keyed("p"))
    assert held.status_code == plain.status_code == 201
    first, second = store.opened
    assert seen.connections == [first, second]
    assert store.given == [
        ("claim", first),
        ("reach", first),
        ("complete", first),
        ("claim", None),
        ("reach", second),
        ("complete", second),
    ]
    assert store.closed == [first, second]


@on_virtual_time
async def test_a_transaction_route_gives_the_connection_back_when_it_answers_itself() -> None:
    """transaction=True: a replay, a 422 and a claim the store could not make each return the
    connection lent for the claim once the answer is out."""
    store = Store(connections=True)
    service, _, seen = build(store)
    async with client(service) as http:
        first = await http.post("/transaction", content=b"x", headers=keyed("t"))
        replayed = await http.post("/transaction", content=b"x", headers=keyed("t"))
        reused = await http.post("/transaction", content=b"y", headers=keyed("t"))
        store.fail = "claim"
        unavailable = await http.post("/transaction", content=b"x", headers=keyed("u"))
    assert [first.status_code, replayed.status_code, reused.status_code] == [201, 201, 422]
    assert replayed.headers["idempotent-replayed"] == "true"
    assert unavailable.status_code == 503
    assert len(seen.connections) == 1
    assert len(store.opened) == 4
    assert store.closed == store.opened


@on_virtual_time
async def test_a_transaction_route_whose_handler_raises_returns_the_connection_told_why() -> None:
    """transaction=True and a handler that raises: the key is released, the lent connection
    goes back told of the handler's exception (as `async with` tells it), and it goes on."""
    store = Store(connections=True)
    service, _, seen = build(store)
    async with client(service) as http:
        with pytest.raises(RuntimeError, match="the handler failed"):
            await http.post("/transaction-boom", content=b"x", headers=keyed())
    [lent] = store.opened
    assert store.closed == [lent]
    [error] = store.ended_with
    assert isinstance(error, RuntimeError)
    assert str(error) == "the handler failed"
    assert [op for op, _ in store.given] == ["claim", "release"]
    assert seen.runs == ["boom-in-transaction"]


@on_virtual_time
async def test_a_non_storable_answer_frees_the_key_before_the_handler_returns() -> None:
    """A 503 releases the key as it starts: a retry made while the handler's background work
    still runs is executed, not told 409."""
    service, _, seen = build(Store())
    first = asyncio.create_task(
        raw_call(service, "/unavailable", {"type": "http.request"}, headers=keyed())
    )
    async with client(service) as http:
        await until(seen.entered)
        retry = await http.post("/unavailable", content=b"", headers=keyed())
    seen.background.set()
    assert (await first)[0]["status"] == 503
    assert retry.status_code == 503
    assert seen.runs == ["unavailable", "unavailable"]


@on_virtual_time
async def test_a_handler_slower_than_its_lease_keeps_the_key_by_heartbeat() -> None:
    """Lease 3 s, a handler of 10 s: a retry at 5 s is told 409, the handler runs once, and
    its response is replayed after."""
    service, _, seen = build(Store(clock=LoopClock()), IdempotencyConfig(lease=3.0))
    async with client(service) as http:
        first = asyncio.create_task(http.post("/slow?seconds=10", content=b"", headers=keyed()))
        await asyncio.sleep(5.0)
        during = await http.post("/slow?seconds=10", content=b"", headers=keyed())
        done = await first
        after = await http.post("/slow?seconds=10", content=b"", headers=keyed())
    assert [during.status_code, done.status_code, after.status_code] == [409, 201, 201]
    assert after.headers["idempotent-replayed"] == "true"
    assert seen.runs == ["slow"]
