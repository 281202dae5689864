"""The Idempotency-Key layer in process (memory store): keys, scope, fingerprint, replay."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from hardened import Service
from hardened.idempotency import (
    Idempotency,
    IdempotencyConfig,
    MemoryIdempotencyStore,
    derive_key,
    idempotent,
)
from tests.apps.idempotency_memory import Effects, build, tenant_of

A = {"Authorization": "Bearer tenant-a"}
B = {"Authorization": "Bearer tenant-b"}


def _client(
    store: MemoryIdempotencyStore | None = None, **config: object
) -> tuple[httpx.AsyncClient, Effects]:
    service, effects = build(store or MemoryIdempotencyStore(), IdempotencyConfig(**config))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=service)
    return httpx.AsyncClient(transport=transport, base_url="http://t"), effects


def _keyed(key: str, headers: dict[str, str] = A) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_a_retry_is_replayed_with_its_status_location_and_etag_never_its_cookie() -> None:
    """The second request with a key replays the 201, Location and ETag; no Set-Cookie."""
    client, effects = _client()
    async with client:
        first = await client.post("/orders", json={"item": "book"}, headers=_keyed("k1"))
        again = await client.post("/orders", json={"item": "book"}, headers=_keyed("k1"))
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"] == "/orders/1"
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "set-cookie" in first.headers
    assert "set-cookie" not in again.headers
    assert "idempotent-replayed" not in first.headers
    assert len(effects.orders) == 1


async def test_json_differing_only_in_key_order_and_whitespace_is_a_replay() -> None:
    """Reordered keys and other spacing fingerprint the same: the retry is replayed."""
    client, effects = _client()
    json_type = {"Content-Type": "application/json"}
    async with client:
        await client.post(
            "/orders", content=b'{"item":"pen","qty":2}', headers={**_keyed("k"), **json_type}
        )
        again = await client.post(
            "/orders",
            content=b'{ "qty": 2,\n  "item": "pen" }',
            headers={**_keyed("k"), **json_type},
        )
    assert again.headers.get("idempotent-replayed") == "true"
    assert len(effects.orders) == 1


async def test_same_key_with_another_body_route_method_or_query_is_422() -> None:
    """Reusing a key for a different request is refused with its own problem type."""
    client, effects = _client()
    async with client:
        await client.post("/orders", json={"item": "book"}, headers=_keyed("k"))
        answers = [
            await client.post("/orders", json={"item": "lamp"}, headers=_keyed("k")),
            await client.post("/orders/1/cancel", json={"item": "book"}, headers=_keyed("k")),
            await client.put("/orders", json={"item": "book"}, headers=_keyed("k")),
            await client.post("/orders?rush=1", json={"item": "book"}, headers=_keyed("k")),
        ]
    for answer in answers:
        assert answer.status_code == 422
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"].endswith("/idempotency-key-reused")
    assert len(effects.orders) == 1


async def test_another_tenant_with_the_same_key_executes_independently() -> None:
    """Tenant B sending tenant A's key and body runs its own request, never sees A's."""
    client, effects = _client()
    async with client:
        a = await client.post("/orders", json={"item": "book"}, headers=_keyed("shared", A))
        b = await client.post("/orders", json={"item": "book"}, headers=_keyed("shared", B))
    assert a.status_code == b.status_code == 201
    assert "idempotent-replayed" not in b.headers
    assert a.json()["order"] != b.json()["order"]
    assert [o["tenant"] for o in effects.orders] == ["tenant-a", "tenant-b"]


@pytest.mark.parametrize(
    "key",
    [b"", b"x" * 256, b"bad\x01key", "clé".encode(), b'"unterminated', b'"a"b"'],
    ids=["empty", "256-bytes", "control", "non-ascii", "quote", "inner-quote"],
)
async def test_malformed_keys_are_400(key: bytes) -> None:
    """Empty, too long, control, non-ASCII and badly quoted keys get 400 problem+json."""
    client, effects = _client()
    async with client:
        answer = await client.post(
            "/orders",
            json={"item": "x"},
            headers=[("authorization", "Bearer t"), ("idempotency-key", key)],  # type: ignore[arg-type]
        )
    assert answer.status_code == 400
    assert answer.json()["type"].endswith("/idempotency-key-invalid")
    assert effects.orders == []


async def test_a_missing_or_repeated_key_is_400_and_255_characters_are_accepted() -> None:
    """No key on a required route, or the header twice: 400; a 255-character key works."""
    client, effects = _client()
    async with client:
        missing = await client.post("/orders", json={"item": "x"}, headers=A)
        twice = await client.post(
            "/orders",
            json={"item": "x"},
            headers=[
                ("authorization", "Bearer t"),
                ("idempotency-key", "a"),
                ("idempotency-key", "a"),
            ],
        )
        longest = await client.post("/orders", json={"item": "x"}, headers=_keyed("k" * 255))
        quoted = await client.post("/orders", json={"item": "y"}, headers=_keyed('"sf-string"'))
    assert missing.status_code == twice.status_code == 400
    assert longest.status_code == quoted.status_code == 201
    assert len(effects.orders) == 2


async def test_a_keyed_request_without_a_principal_is_refused() -> None:
    """Keys are scoped to a principal: a keyed request with none gets 401, nothing runs."""
    client, effects = _client()
    async with client:
        answer = await client.post("/orders", json={"item": "x"}, headers={"Idempotency-Key": "k"})
    assert answer.status_code == 401
    assert effects.orders == []


async def test_a_handler_that_raises_releases_the_key() -> None:
    """A 500 is not stored: the retry with the same key runs again and succeeds."""
    client, effects = _client()
    async with client:
        with pytest.raises(RuntimeError):
            await client.post("/fail", content=b"x", headers=_keyed("k"))
        retry = await client.post("/fail", content=b"x", headers=_keyed("k"))
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert effects.failures == 2


async def test_a_429_is_not_stored_and_the_retry_runs() -> None:
    """A transient 429 releases the key: the retry executes and its 201 is what is kept."""
    client, effects = _client()
    async with client:
        first = await client.post("/busy", content=b"x", headers=_keyed("k"))
        retry = await client.post("/busy", content=b"x", headers=_keyed("k"))
        replay = await client.post("/busy", content=b"x", headers=_keyed("k"))
    assert first.status_code == 429
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert replay.headers["idempotent-replayed"] == "true"
    assert effects.failures == 2


async def test_a_deterministic_4xx_is_stored_and_replayed() -> None:
    """A 400 from the handler is a final answer: the retry replays it without running."""
    client, effects = _client()
    async with client:
        await client.post("/reject", content=b"x", headers=_keyed("k"))
        again = await client.post("/reject", content=b"x", headers=_keyed("k"))
    assert again.status_code == 400
    assert again.headers["idempotent-replayed"] == "true"
    assert effects.failures == 1


async def test_a_request_while_the_first_is_in_flight_gets_409_with_retry_after() -> None:
    """A duplicate arriving while the key's lease is held is told to come back later."""
    client, effects = _client()
    effects.hold = asyncio.Event()
    async with client:
        first = asyncio.create_task(client.post("/orders", json={"item": "x"}, headers=_keyed("k")))
        for _ in range(200):
            if effects.orders:
                break
            await asyncio.sleep(0.01)
        duplicate = await client.post("/orders", json={"item": "x"}, headers=_keyed("k"))
        effects.hold.set()
        assert (await first).status_code == 201
    assert duplicate.status_code == 409
    assert int(duplicate.headers["retry-after"]) >= 1
    assert len(effects.orders) == 1


async def test_an_optional_key_route_runs_unkeyed_requests_and_unmarked_routes_pass() -> None:
    """Without a key an optional route runs each time; a marked-exempt route is untouched."""
    client, effects = _client()
    async with client:
        assert (await client.post("/notes", content=b"n", headers=A)).status_code == 201
        assert (await client.post("/notes", content=b"n", headers=A)).status_code == 201
        hook = await client.post("/webhook", content=b"e", headers=_keyed("k"))
    assert hook.status_code == 200
    assert len(effects.orders) == 2


async def test_a_body_over_the_limit_is_413_before_any_claim() -> None:
    """A keyed body larger than max_request_body is refused; the key stays free."""
    store = MemoryIdempotencyStore()
    client, effects = _client(store, max_request_body=64)
    async with client:
        answer = await client.post("/orders", json={"item": "x" * 100}, headers=_keyed("k"))
    assert answer.status_code == 413
    assert len(store) == 0
    assert effects.orders == []


async def test_a_response_over_the_stored_limit_is_sent_but_not_replayed() -> None:
    """A response larger than max_stored_body reaches the client; the key is released."""
    store = MemoryIdempotencyStore()
    client, effects = _client(store, max_stored_body=8)
    async with client:
        first = await client.post("/orders", json={"item": "long enough"}, headers=_keyed("k"))
        again = await client.post("/orders", json={"item": "long enough"}, headers=_keyed("k"))
    assert first.status_code == again.status_code == 201
    assert first.json()["item"] == "long enough"
    assert "idempotent-replayed" not in again.headers
    assert len(effects.orders) == 2


async def test_a_retry_after_a_failure_past_a_recovery_point_resumes_without_a_second_charge() -> (
    None
):
    """The processor is charged once, under a key derived from (tenant, key, step)."""
    client, effects = _client()
    async with client:
        with pytest.raises(RuntimeError):
            await client.post("/payments", content=b"10 EUR", headers=_keyed("pay-1"))
        retry = await client.post("/payments", content=b"10 EUR", headers=_keyed("pay-1"))
    assert retry.status_code == 201
    assert retry.json() == {"paid": True, "resumed_from": "charged"}
    assert effects.charges == {derive_key("tenant-a", "pay-1", "charge"): 1}


def test_downstream_keys_differ_by_tenant_key_and_step_and_never_change() -> None:
    """A derived key is stable across retries and unique per tenant, key and step."""
    key = derive_key("tenant-a", "k", "charge")
    assert key == derive_key("tenant-a", "k", "charge")
    assert (
        len({key, derive_key("tenant-b", "k", "charge"), derive_key("tenant-a", "k", "refund")})
        == 3
    )
    assert derive_key("a", "bc", "d") != derive_key("ab", "c", "d")


async def test_a_protected_route_under_a_mount_is_keyed_by_its_full_template() -> None:
    """Under a Mount the route is found, replays work, and another path parameter is a 422."""
    calls: list[str] = []

    @idempotent()
    async def refund(request: Request) -> Response:
        calls.append(request.path_params["payment"])
        return PlainTextResponse("refunded", status_code=201)

    routes = [Mount("/v1", routes=[Route("/payments/{payment}/refund", refund, methods=["POST"])])]
    service = Service(
        "mounted",
        routes=routes,
        mechanisms=[Idempotency(MemoryIdempotencyStore(), scope=tenant_of)],
        shed=None,
    )
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = await client.post("/v1/payments/12/refund", content=b"3", headers=_keyed("r"))
        again = await client.post("/v1/payments/12/refund", content=b"3", headers=_keyed("r"))
        other = await client.post("/v1/payments/123/refund", content=b"", headers=_keyed("r"))
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422
    assert calls == ["12"]


@pytest.mark.parametrize(
    "body", [b'{"item": NaN}', b'{"item": 1e400}', b"[" * 50_000], ids=["nan", "1e400", "deep"]
)
async def test_a_keyed_body_the_canonical_form_cannot_hold_still_reaches_the_handler(
    body: bytes,
) -> None:
    """NaN, a number past a float or nesting too deep: fingerprinted as bytes, not a 500."""
    client, effects = _client()
    headers = {**_keyed("odd-json"), "Content-Type": "application/json"}
    async with client:
        first = await client.post("/notes", content=body, headers=headers)
        again = await client.post("/notes", content=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert len(effects.orders) == 1
