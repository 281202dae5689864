"""The PostgreSQL key store on a real database: migration, claim, fence, transaction, reaper."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hardened import PoolConfig, PostgresPool, Service, route_timeout
from hardened.idempotency import (
    ClaimRequest,
    Idempotency,
    IdempotencyConfig,
    IdempotencyContext,
    IdempotencyLeaseLost,
    InFlight,
    MemoryIdempotencyStore,
    Mismatch,
    PostgresIdempotencyStore,
    Replay,
    StoredResponse,
    Ticket,
    idempotent,
)
from hardened.idempotency._sql import MIGRATIONS, Statements, new_token
from tests.apps.idempotency_memory import build, tenant_of

RESPONSE = StoredResponse(201, (("location", "/orders/1"),), b'{"order":1}')


@pytest.fixture
async def pool(postgres_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A plain asyncpg pool on the session's database."""
    async with asyncpg.create_pool(postgres_url, min_size=1, max_size=4) as created:
        yield created


@pytest.fixture
async def store(pool: asyncpg.Pool) -> PostgresIdempotencyStore:
    """A started store on a table of its own."""
    created = PostgresIdempotencyStore(pool, table=f"idem_{uuid.uuid4().hex[:12]}")
    await created.start()
    return created


def _request(key: str = "k", body: bytes = b"a", scope: str = "tenant-a") -> ClaimRequest:
    return ClaimRequest(
        scope=scope, key=key, fingerprint=body.ljust(32, b"."), method="POST", route="/orders"
    )


async def _claim(
    store: PostgresIdempotencyStore, request: ClaimRequest, lease: float = 30.0
) -> Ticket:
    outcome = await store.claim(request, lease=lease, retention=3600)
    assert isinstance(outcome, Ticket)
    return outcome


async def test_the_schema_is_created_once_even_when_replicas_start_together(
    pool: asyncpg.Pool,
) -> None:
    """Five stores migrating the same table at once leave one table at the latest version."""
    table = f"idem_{uuid.uuid4().hex[:12]}"
    await asyncio.gather(*(PostgresIdempotencyStore(pool, table=table).start() for _ in range(5)))
    version = await pool.fetchval(
        "SELECT version FROM hardened_schema_versions WHERE component = $1", table
    )
    assert version == len(MIGRATIONS)
    assert await pool.fetchval("SELECT count(*) FROM " + table) == 0


async def test_claim_outcomes_follow_the_row(store: PostgresIdempotencyStore) -> None:
    """A live claim is in flight, another request a mismatch, a completed one a replay."""
    ticket = await _claim(store, _request())
    assert ticket.attempts == 1
    in_flight = await store.claim(_request(), lease=30, retention=3600)
    assert isinstance(in_flight, InFlight)
    assert 28 < in_flight.retry_after <= 30
    assert isinstance(await store.claim(_request(body=b"b"), lease=30, retention=3600), Mismatch)
    assert await store.complete(ticket, RESPONSE, retention=3600)
    replay = await store.claim(_request(), lease=30, retention=3600)
    assert replay == Replay(RESPONSE)
    other_tenant = await store.claim(_request(scope="tenant-b"), lease=30, retention=3600)
    assert isinstance(other_tenant, Ticket)


async def test_a_completion_from_a_lost_lease_changes_nothing(
    store: PostgresIdempotencyStore,
) -> None:
    """After the lease expired and a retry took the key, the first completion is refused."""
    first = await _claim(store, _request(), lease=0.2)
    await asyncio.sleep(0.4)
    second = await _claim(store, _request(), lease=30)
    assert second.attempts == 2
    assert not await store.complete(first, StoredResponse(201, (), b"first"), retention=3600)
    assert not await store.heartbeat(first, lease=30)
    assert isinstance(await store.claim(_request(), lease=30, retention=3600), InFlight)
    assert await store.complete(second, StoredResponse(201, (), b"second"), retention=3600)
    replay = await store.claim(_request(), lease=30, retention=3600)
    assert isinstance(replay, Replay)
    assert replay.response.body == b"second"


async def test_a_heartbeat_keeps_the_lease_past_its_first_expiry(
    store: PostgresIdempotencyStore,
) -> None:
    """A renewed lease is not taken over after the original lease time."""
    ticket = await _claim(store, _request(), lease=0.3)
    for _ in range(3):
        await asyncio.sleep(0.15)
        assert await store.heartbeat(ticket, lease=0.3)
    assert isinstance(await store.claim(_request(), lease=30, retention=3600), InFlight)


async def test_release_frees_the_key_unless_a_recovery_point_was_reached(
    store: PostgresIdempotencyStore,
) -> None:
    """A released key is claimable at once; after a recovery point the retry resumes there."""
    ticket = await _claim(store, _request("fresh"))
    await store.release(ticket)
    assert (await _claim(store, _request("fresh"))).attempts == 1
    charged = await _claim(store, _request("charged"))
    assert await store.reach(charged, "charged")
    await store.release(charged)
    resumed = await _claim(store, _request("charged"))
    assert resumed.recovery_point == "charged"
    assert resumed.attempts == 2


async def test_the_completion_commits_or_rolls_back_with_the_handlers_transaction(
    store: PostgresIdempotencyStore, pool: asyncpg.Pool
) -> None:
    """complete_in joins the handler's transaction: a rollback stores nothing."""
    ticket = await _claim(store, _request())
    context = IdempotencyContext(ticket, store, retention=3600, allowed=frozenset({"location"}))
    response = JSONResponse({"order": 1}, status_code=201, headers={"Location": "/orders/1"})

    async def store_then_fail() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await context.complete_in(conn, response)
            raise RuntimeError("the business write failed")

    with pytest.raises(RuntimeError):
        await store_then_fail()
    assert isinstance(await store.claim(_request(), lease=30, retention=3600), InFlight)
    async with pool.acquire() as conn, conn.transaction():
        await context.complete_in(conn, response)
    replay = await store.claim(_request(), lease=30, retention=3600)
    assert isinstance(replay, Replay)
    assert replay.response.headers == (("location", "/orders/1"),)


async def test_complete_in_after_losing_the_lease_raises_inside_the_transaction(
    store: PostgresIdempotencyStore, pool: asyncpg.Pool
) -> None:
    """A handler whose lease passed to a retry gets IdempotencyLeaseLost; its writes roll back."""
    ticket = await _claim(store, _request(), lease=0.2)
    await asyncio.sleep(0.4)
    await _claim(store, _request())
    context = IdempotencyContext(ticket, store, retention=3600, allowed=frozenset())

    async def complete() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await context.complete_in(conn, JSONResponse({}, status_code=201))

    with pytest.raises(IdempotencyLeaseLost):
        await complete()


async def _orders(pool: asyncpg.Pool) -> str:
    table = f"orders_{uuid.uuid4().hex[:12]}"
    await pool.execute(f"CREATE TABLE {table} (id int)")
    return table


async def test_the_transaction_commits_the_writes_and_the_response_together(
    store: PostgresIdempotencyStore, pool: asyncpg.Pool
) -> None:
    """`transaction()` stores the response with its COMMIT; an exception keeps neither."""
    orders = await _orders(pool)
    ticket = await _claim(store, _request())
    context = IdempotencyContext(ticket, store, retention=3600, allowed=frozenset({"location"}))
    response = JSONResponse({"order": 1}, status_code=201, headers={"Location": "/orders/1"})

    async def write_then_fail() -> None:
        async with context.transaction() as transaction:
            await transaction.connection.execute(f"INSERT INTO {orders} VALUES (1)")
            transaction.store_on_commit(response)
            raise RuntimeError("the business write failed")

    with pytest.raises(RuntimeError):
        await write_then_fail()
    assert await pool.fetchval(f"SELECT count(*) FROM {orders}") == 0
    assert isinstance(await store.claim(_request(), lease=30, retention=3600), InFlight)
    assert not ticket.completed

    async with context.transaction() as transaction:
        await transaction.connection.execute(f"INSERT INTO {orders} VALUES (2)")
        transaction.store_on_commit(response)
    assert ticket.completed
    assert await pool.fetchval(f"SELECT array_agg(id) FROM {orders}") == [2]
    replay = await store.claim(_request(), lease=30, retention=3600)
    assert replay == Replay(
        StoredResponse(201, (("location", "/orders/1"),), b'{"order":1}'),
    )


async def test_a_transaction_whose_lease_was_lost_commits_nothing(
    store: PostgresIdempotencyStore, pool: asyncpg.Pool
) -> None:
    """The fenced completion aborts the COMMIT it travels with: the handler's writes are gone,
    the retry's claim is untouched, and the connection is clean for its next user."""
    orders = await _orders(pool)
    ticket = await _claim(store, _request(), lease=0.2)
    await asyncio.sleep(0.4)
    retry = await _claim(store, _request())
    context = IdempotencyContext(ticket, store, retention=3600, allowed=frozenset())

    async def write() -> None:
        async with context.transaction() as transaction:
            await transaction.connection.execute(f"INSERT INTO {orders} VALUES (1)")
            transaction.store_on_commit(JSONResponse({}, status_code=201))

    with pytest.raises(IdempotencyLeaseLost):
        await write()
    assert not ticket.completed
    assert await pool.fetchval(f"SELECT count(*) FROM {orders}") == 0
    assert isinstance(await store.claim(_request(), lease=30, retention=3600), InFlight)
    assert await store.complete(retry, RESPONSE, retention=3600)
    async with pool.acquire() as conn:
        assert not conn.is_in_transaction()


async def test_an_unstored_answer_commits_the_writes_and_leaves_the_key_claimed(
    store: PostgresIdempotencyStore, pool: asyncpg.Pool
) -> None:
    """A 5xx (or no response named) commits the block without a completion."""
    orders = await _orders(pool)
    ticket = await _claim(store, _request())
    context = IdempotencyContext(ticket, store, retention=3600, allowed=frozenset())
    async with context.transaction() as transaction:
        await transaction.connection.execute(f"INSERT INTO {orders} VALUES (1)")
        transaction.store_on_commit(JSONResponse({}, status_code=503))
    assert not ticket.completed
    assert await pool.fetchval(f"SELECT count(*) FROM {orders}") == 1
    assert isinstance(await store.claim(_request(), lease=30, retention=3600), InFlight)


async def test_hostile_headers_and_bodies_are_stored_byte_for_byte_by_the_commit(
    store: PostgresIdempotencyStore, pool: asyncpg.Pool
) -> None:
    """The completion travels as literal SQL: quotes, backslashes, dollar quotes, NUL-free
    Unicode and every byte value come back unchanged, and none of them runs as SQL."""
    orders = await _orders(pool)
    ticket = await _claim(store, _request())
    hostile = "x'); DROP TABLE " + orders + "; --\\' $fn$ $$ \"é\u2028"
    stored = StoredResponse(201, (("location", hostile), ("x-note", "'")), bytes(range(256)))
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        assert await store.commit(ticket, stored, retention=3600, connection=conn)
    replay = await store.claim(_request(), lease=30, retention=3600)
    assert replay == Replay(stored)
    assert await pool.fetchval(f"SELECT count(*) FROM {orders}") == 0


def test_the_commit_message_carries_only_numbers_a_uuid_and_hex() -> None:
    """Every quoted literal in the completion message is hexadecimal or a UUID."""
    statements = Statements("keys")
    token = uuid.uuid4()
    message = statements.complete_and_commit(
        id=7, token=token, status=201, headers='[["a","\'"]]', body=b"'\\", retention=60.0
    )
    quoted = re.findall(r"'([^']*)'", message)
    assert quoted[0] == str(token)
    assert quoted[1] == b'[["a","\'"]]'.hex()
    assert quoted[2:4] == ["hex", "UTF8"]
    assert quoted[4] == b"'\\".hex()
    assert all(re.fullmatch(r"[0-9a-f-]*|hex|UTF8", value) for value in quoted)
    assert message.endswith("; COMMIT")
    with pytest.raises(ValueError, match="finite"):
        statements.complete_and_commit(
            id=7, token=token, status=201, headers="[]", body=b"", retention=float("inf")
        )


def test_a_lease_token_is_a_uuid_and_only_a_uuid_reaches_the_commit_message() -> None:
    """The store's tokens are written as they are; any other value is parsed as a UUID first."""
    statements = Statements("keys")
    token = new_token()
    assert str(uuid.UUID(token)) == token
    assert new_token() != token

    def message(value: object) -> str:
        return statements.complete_and_commit(
            id=7, token=value, status=201, headers="[]", body=b"", retention=60.0
        )

    assert f"'{token}'" in message(token)
    assert f"'{token}'" in message(token.upper())
    for hostile in (token + "'); DROP TABLE keys; --", "x", token[:-1]):
        with pytest.raises(ValueError, match="hexadecimal UUID"):
            message(hostile)


async def test_a_memory_store_has_no_transaction_to_offer() -> None:
    """`transaction()` needs a store with connections."""
    store = MemoryIdempotencyStore()
    outcome = await store.claim(_request(), lease=30, retention=3600)
    assert isinstance(outcome, Ticket)
    context = IdempotencyContext(outcome, store, retention=3600, allowed=frozenset())

    async def enter() -> None:
        async with context.transaction():
            pass

    with pytest.raises(LookupError):
        await enter()
    with pytest.raises(LookupError):
        await store.commit(outcome, RESPONSE, retention=3600, connection=object())


async def test_the_reaper_deletes_expired_keys_and_an_expired_key_counts_as_new(
    store: PostgresIdempotencyStore,
) -> None:
    """Past retention (database clock) a key is claimable afresh and the reaper removes it."""
    old = await store.claim(_request("old"), lease=0.1, retention=0.2)
    assert isinstance(old, Ticket)
    assert await store.complete(old, RESPONSE, retention=0.2)
    await _claim(store, _request("stuck"), lease=0.1)
    await asyncio.sleep(0.3)
    census = await store.census(lease=0.1)
    assert census["in_progress_keys"] == 1
    assert census["in_progress_older_than_lease"] == 1
    assert census["in_progress_unleased"] == 1
    assert await store.reap(batch=100) == 1
    fresh = await _claim(store, _request("old", body=b"other"))
    assert fresh.attempts == 1


async def test_an_unreachable_store_is_503_and_the_handler_does_not_run(pool: asyncpg.Pool) -> None:
    """With the pool closed the claim fails: 503 + Retry-After, fail closed."""
    store = PostgresIdempotencyStore(pool, table="idem_unreachable", timeout=0.5)
    service, effects = build(store, IdempotencyConfig(retry_after=3))
    await pool.close()
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.post(
            "/orders",
            json={"item": "x"},
            headers={"Authorization": "Bearer a", "Idempotency-Key": "k"},
        )
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "3"
    assert answer.json()["type"].endswith("/idempotency-store-unavailable")
    assert effects.orders == []


async def test_a_request_cut_by_its_deadline_gives_its_key_back(pool: asyncpg.Pool) -> None:
    """The 504 of a spent budget releases the key: the retry runs instead of meeting a 409."""
    runs: list[float] = []

    @route_timeout(0.3)
    @idempotent()
    async def slow(request: Request) -> Response:
        runs.append(float(request.headers["x-sleep"]))
        await asyncio.sleep(runs[-1])
        return PlainTextResponse("done", status_code=201)

    store = PostgresIdempotencyStore(pool, table=f"idem_{uuid.uuid4().hex[:12]}")
    await store.start()
    service = Service(
        "deadline",
        routes=[Route("/slow", slow, methods=["POST"])],
        mechanisms=[Idempotency(store, scope=tenant_of)],
        shed=None,
    )
    headers = {"Authorization": "Bearer a", "Idempotency-Key": "k"}
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        cut = await client.post("/slow", content=b"x", headers={**headers, "X-Sleep": "5"})
        retry = await client.post("/slow", content=b"x", headers={**headers, "X-Sleep": "0"})
    assert cut.status_code == 504
    assert retry.status_code == 201
    assert runs == [5.0, 0.0]


async def test_a_context_without_a_held_connection_checks_one_out_of_the_store(
    store: PostgresIdempotencyStore,
) -> None:
    """`connection()` off the transaction mode lends a pool connection for the block."""
    ticket = await _claim(store, _request())
    context = IdempotencyContext(ticket, store, retention=3600, allowed=frozenset())
    async with context.connection() as conn:
        assert await conn.fetchval("SELECT 41 + 1") == 42
    memory = IdempotencyContext(
        ticket, MemoryIdempotencyStore(), retention=3600, allowed=frozenset()
    )
    with pytest.raises(LookupError):
        async with memory.connection():
            pass


async def test_the_store_runs_on_the_services_postgres_pool(postgres_url: str) -> None:
    """On a PostgresPool: migrated, claimed, completed in the handler's transaction, replayed."""
    db = PostgresPool(PoolConfig(max_size=2, dsn=postgres_url), name="db")
    await db.start()
    try:
        store = PostgresIdempotencyStore(db, table=f"idem_{uuid.uuid4().hex[:12]}")
        await store.start()
        ticket = await _claim(store, _request())
        context = IdempotencyContext(ticket, store, retention=3600, allowed=frozenset())
        async with context.connection() as conn, conn.transaction():
            await context.complete_in(conn, JSONResponse({"order": 7}, status_code=201))
        replay = await store.claim(_request(), lease=30, retention=3600)
        assert isinstance(replay, Replay)
        assert replay.response.body == b'{"order":7}'
    finally:
        await db.close()
