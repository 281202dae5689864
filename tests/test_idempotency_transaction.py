"""`IdempotencyContext.transaction()`'s own decisions, without a database: when it begins, commits
or rolls back, what it hands the store's `commit`, and what it does with the answer. The store
here keeps a log of the statements its connection was given; what PostgreSQL makes of them (the
completion travelling with the COMMIT, a lost lease aborting it) is proven on a real database in
tests/test_idempotency_postgres.py."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.responses import JSONResponse

from hardened.idempotency import (
    ClaimRequest,
    IdempotencyContext,
    IdempotencyLeaseLost,
    MemoryIdempotencyStore,
    StoredResponse,
    Ticket,
)

RETENTION = 3600.0


class _LoggedConnection:
    """Keeps every statement it is asked to run; `fail_on` makes one of them raise."""

    def __init__(self, log: list[str], fail_on: str | None = None) -> None:
        self.log = log
        self.fail_on = fail_on

    async def execute(self, query: str) -> str:
        self.log.append(query)
        if query == self.fail_on:
            raise ConnectionError(f"{query} failed")
        return query


class _LoggingStore(MemoryIdempotencyStore):
    """The memory store's claims, with connections that log and a `commit` that records what
    it was asked to store and answers `lease_held`."""

    def __init__(self, *, lease_held: bool = True, fail_on: str | None = None) -> None:
        super().__init__()
        self.log: list[str] = []
        self.commits: list[tuple[StoredResponse | None, float]] = []
        self.tickets: list[Ticket] = []
        self.lease_held = lease_held
        self.fail_on = fail_on
        self.checkouts = 0

    def connection(self) -> Any:
        @contextlib.asynccontextmanager
        async def lend() -> AsyncIterator[_LoggedConnection]:
            self.checkouts += 1
            try:
                yield _LoggedConnection(self.log, self.fail_on)
            finally:
                self.log.append("<returned>")

        return lend()

    async def commit(
        self,
        ticket: Ticket,
        response: StoredResponse | None,
        *,
        retention: float,
        connection: Any,
    ) -> bool:
        self.commits.append((response, retention))
        self.tickets.append(ticket)
        await connection.execute("COMMIT" if self.lease_held else "ROLLBACK")
        return self.lease_held


async def _context(store: _LoggingStore, held: Any = None) -> IdempotencyContext:
    asked = ClaimRequest(
        scope="tenant", key="k", fingerprint=b"f" * 32, method="POST", route="/orders"
    )
    ticket = await store.claim(asked, lease=30.0, retention=RETENTION)
    assert isinstance(ticket, Ticket)
    return IdempotencyContext(
        ticket, store, retention=RETENTION, allowed=frozenset({"location"}), held=held
    )


async def test_a_named_response_is_handed_to_the_commit_and_completes_the_ticket() -> None:
    """BEGIN, the handler's statement, then the store's commit with the replayable part of the
    response (allowlisted headers only) and the context's retention."""
    store = _LoggingStore()
    context = await _context(store)
    response = JSONResponse(
        {"order": 1}, status_code=201, headers={"Location": "/orders/1", "Set-Cookie": "s=1"}
    )
    async with context.transaction() as transaction:
        await transaction.connection.execute("INSERT")
        transaction.store_on_commit(response)
    assert store.log == ["BEGIN", "INSERT", "COMMIT", "<returned>"]
    assert store.commits == [
        (StoredResponse(201, (("location", "/orders/1"),), b'{"order":1}'), RETENTION)
    ]
    assert store.tickets == [context.ticket]
    assert context.ticket.completed


async def test_without_a_named_response_the_block_commits_alone() -> None:
    """No response named: commit with nothing to store, the ticket stays open for the layer."""
    store = _LoggingStore()
    context = await _context(store)
    async with context.transaction() as transaction:
        await transaction.connection.execute("INSERT")
    assert store.commits == [(None, RETENTION)]
    assert not context.ticket.completed


@pytest.mark.parametrize(
    ("status", "stored"), [(503, False), (429, False), (409, False), (422, True)]
)
async def test_only_a_storable_answer_is_stored(status: int, stored: bool) -> None:
    """5xx, 429 and 409 commit the writes without a completion; a deterministic 4xx is kept."""
    store = _LoggingStore()
    context = await _context(store)
    async with context.transaction() as transaction:
        transaction.store_on_commit(JSONResponse({}, status_code=status))
    [(response, _)] = store.commits
    assert (response is not None) is stored
    assert context.ticket.completed is stored


async def test_an_exception_rolls_back_and_nothing_is_committed() -> None:
    """The handler's exception: ROLLBACK, no commit, the exception goes on, the ticket open."""
    store = _LoggingStore()
    context = await _context(store)

    async def fail() -> None:
        async with context.transaction() as transaction:
            transaction.store_on_commit(JSONResponse({}, status_code=201))
            raise KeyError("the business write failed")

    with pytest.raises(KeyError):
        await fail()
    assert store.log == ["BEGIN", "ROLLBACK", "<returned>"]
    assert store.commits == []
    assert not context.ticket.completed


async def test_a_failing_rollback_leaves_the_original_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A rollback that fails too (a broken connection) does not hide why the block failed; the
    failure is logged at debug level, the pool's reset being what rolls back then."""
    caplog.set_level(logging.DEBUG, logger="hardened.idempotency")
    store = _LoggingStore(fail_on="ROLLBACK")
    context = await _context(store)

    async def fail() -> None:
        async with context.transaction():
            raise KeyError("the business write failed")

    with pytest.raises(KeyError):
        await fail()
    assert store.log == ["BEGIN", "ROLLBACK", "<returned>"]
    assert [r.getMessage() for r in caplog.records] == [
        "rollback failed; left to the pool's reset: ConnectionError('ROLLBACK failed')"
    ]


async def test_a_lost_lease_raises_and_leaves_the_ticket_open() -> None:
    """The store's commit reports the lease lost: `IdempotencyLeaseLost`, nothing completed."""
    store = _LoggingStore(lease_held=False)
    context = await _context(store)

    async def write() -> None:
        async with context.transaction() as transaction:
            transaction.store_on_commit(JSONResponse({}, status_code=201))

    with pytest.raises(IdempotencyLeaseLost) as raised:
        await write()
    assert str(raised.value) == "the lease passed to a retry; nothing was committed"
    assert not context.ticket.completed


async def test_the_held_connection_is_used_and_not_returned() -> None:
    """In transaction mode the claim's connection is lent, not a second checkout."""
    store = _LoggingStore()
    held = _LoggedConnection(store.log)
    context = await _context(store, held=held)
    async with context.transaction() as transaction:
        assert transaction.connection is held
    assert store.checkouts == 0
    assert store.log == ["BEGIN", "COMMIT"]


async def test_a_memory_store_has_no_transaction_to_commit() -> None:
    """The memory store lends no connection, so neither `transaction()` nor `commit` works."""
    store = MemoryIdempotencyStore()
    asked = ClaimRequest(scope="t", key="k", fingerprint=b"f" * 32, method="POST", route="/o")
    ticket = await store.claim(asked, lease=30.0, retention=RETENTION)
    assert isinstance(ticket, Ticket)
    with pytest.raises(
        LookupError, match=r"^a memory store has no connections, hence no transaction$"
    ):
        await store.commit(ticket, None, retention=RETENTION, connection=object())
    context = IdempotencyContext(ticket, store, retention=RETENTION, allowed=frozenset())

    async def enter() -> None:
        async with context.transaction():
            pass

    with pytest.raises(LookupError):
        await enter()
