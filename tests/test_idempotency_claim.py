"""The claim state machine of the memory store on FakeClock: outcomes, the lease and its fence,
retention, release, the reaper and the census; what is kept for replay; and the lease
heartbeat on a virtual-time loop. (The PostgreSQL store's own tests need a database:
tests/test_idempotency_postgres.py.)"""

from __future__ import annotations

import asyncio
import logging

import pytest
from starlette.responses import JSONResponse, PlainTextResponse

from hardened import deadline_scope, remaining
from hardened.idempotency import (
    ClaimRequest,
    IdempotencyContext,
    IdempotencyLeaseLost,
    InFlight,
    MemoryIdempotencyStore,
    Mismatch,
    Replay,
    StoredResponse,
    Ticket,
    derive_key,
)
from hardened.idempotency._context import storable, stored_response
from hardened.idempotency._respond import Heartbeat
from hardened.testing import FakeClock
from tests._virtual_time import LoopClock, run_virtual

RESPONSE = StoredResponse(201, (("location", "/orders/1"),), b'{"order":1}')
LEASE, RETENTION = 30.0, 3600.0


def request(key: str = "k", body: bytes = b"a", scope: str = "tenant-a") -> ClaimRequest:
    return ClaimRequest(
        scope=scope, key=key, fingerprint=body.ljust(32, b"."), method="POST", route="/orders"
    )


async def claim(
    store: MemoryIdempotencyStore, asked: ClaimRequest | None = None, lease: float = LEASE
) -> Ticket | Replay | InFlight | Mismatch:
    return await store.claim(asked or request(), lease=lease, retention=RETENTION)


async def won(store: MemoryIdempotencyStore, asked: ClaimRequest | None = None) -> Ticket:
    outcome = await claim(store, asked)
    assert isinstance(outcome, Ticket), outcome
    return outcome


async def test_claim_outcomes_follow_the_row(fake_clock: FakeClock) -> None:
    """Won, then in flight with the lease left, a mismatch for another body, a replay once
    completed; another tenant's key of the same name is its own."""
    store = MemoryIdempotencyStore(clock=fake_clock)
    ticket = await won(store)
    assert (ticket.attempts, ticket.recovery_point) == (1, "started")
    fake_clock.advance(10.0)
    assert await claim(store) == InFlight(20.0)
    assert await claim(store, request(body=b"b")) == Mismatch()
    assert await store.complete(ticket, RESPONSE, retention=RETENTION)
    assert await claim(store) == Replay(RESPONSE)
    assert await claim(store, request(body=b"b")) == Mismatch()
    other = await won(store, request(scope="tenant-b"))
    assert other.attempts == 1
    assert len(store) == 2


async def test_a_lease_is_taken_over_at_its_expiry_not_before(fake_clock: FakeClock) -> None:
    """A lease of 30 s holds the key at 29.999 s; at 30 s a retry takes it (attempt 2), and again
    at 60 s (attempt 3)."""
    store = MemoryIdempotencyStore(clock=fake_clock)
    await won(store)
    fake_clock.advance(LEASE - 0.001)
    outcome = await claim(store)
    assert isinstance(outcome, InFlight)
    assert outcome.retry_after == pytest.approx(0.001)
    fake_clock.advance(0.001)
    assert (await won(store)).attempts == 2
    fake_clock.advance(LEASE)
    assert (await won(store)).attempts == 3


async def test_a_lost_lease_fences_every_write_of_the_old_ticket(fake_clock: FakeClock) -> None:
    """After a retry took the key, the first ticket can neither complete, renew, record a
    recovery point nor release; the retry's completion is the one replayed."""
    store = MemoryIdempotencyStore(clock=fake_clock)
    first = await won(store)
    fake_clock.advance(LEASE)
    second = await won(store)
    assert second.id == first.id
    assert not await store.complete(first, StoredResponse(201, (), b"first"), retention=RETENTION)
    assert not await store.heartbeat(first, lease=LEASE)
    assert not await store.reach(first, "charged")
    await store.release(first)
    assert isinstance(await claim(store), InFlight)
    assert second.recovery_point == "started"
    assert await store.complete(second, StoredResponse(201, (), b"second"), retention=RETENTION)
    assert await claim(store) == Replay(StoredResponse(201, (), b"second"))


async def test_a_ticket_whose_key_is_gone_changes_nothing(fake_clock: FakeClock) -> None:
    """Once its key was released and deleted, a ticket's writes are refused, not crashes."""
    store = MemoryIdempotencyStore(clock=fake_clock)
    ticket = await won(store)
    await store.release(ticket)
    assert len(store) == 0
    assert not await store.heartbeat(ticket, lease=LEASE)
    assert not await store.reach(ticket, "charged")
    assert not await store.complete(ticket, RESPONSE, retention=RETENTION)
    await store.release(ticket)
    assert len(store) == 0


async def test_a_heartbeat_moves_the_lease_to_now_plus_a_lease(fake_clock: FakeClock) -> None:
    """Renewed at 20 s, the lease ends at 50 s: at 40 s a retry is told to wait 10 s."""
    store = MemoryIdempotencyStore(clock=fake_clock)
    ticket = await won(store)
    fake_clock.advance(20.0)
    assert await store.heartbeat(ticket, lease=LEASE)
    fake_clock.advance(20.0)
    assert await claim(store) == InFlight(10.0)


async def test_retention_counts_from_the_completion(fake_clock: FakeClock) -> None:
    """Completed 100 s after its claim with 1 h retention, a key replays until 3700 s and is a
    new key (any body) from then on."""
    store = MemoryIdempotencyStore(clock=fake_clock)
    ticket = await won(store)
    fake_clock.advance(100.0)
    assert await store.complete(ticket, RESPONSE, retention=RETENTION)
    fake_clock.advance(RETENTION - 0.001)
    assert await claim(store) == Replay(RESPONSE)
    fake_clock.advance(0.001)
    fresh = await won(store, request(body=b"other"))
    assert (fresh.attempts, fresh.recovery_point) == (1, "started")
    assert fresh.id != ticket.id


@pytest.mark.parametrize("start", [0.0, 1000.0])
async def test_release_deletes_a_fresh_key_and_unleases_one_past_a_recovery_point(
    start: float,
) -> None:
    """A released fresh key is new again; after a recovery point the next claim, at once,
    resumes from there as attempt 2."""
    clock = FakeClock(start=start)
    store = MemoryIdempotencyStore(clock=clock)
    fresh = await won(store, request("fresh"))
    await store.release(fresh)
    again = await won(store, request("fresh", body=b"other"))
    assert (again.attempts, again.recovery_point) == (1, "started")
    charged = await won(store, request("charged"))
    assert await store.reach(charged, "charged")
    assert charged.recovery_point == "charged"
    await store.release(charged)
    resumed = await won(store, request("charged"))
    assert (resumed.attempts, resumed.recovery_point) == (2, "charged")


async def test_the_reaper_drops_expired_keys_in_batches(fake_clock: FakeClock) -> None:
    """Three keys past their retention go two then one per batch; a live key stays."""
    store = MemoryIdempotencyStore(clock=fake_clock)
    for key in ("a", "b", "c"):
        ticket = await won(store, request(key))
        assert await store.complete(ticket, RESPONSE, retention=10.0)
    fake_clock.advance(5.0)
    await won(store, request("live"))
    fake_clock.advance(5.0 - 0.001)
    assert await store.reap(batch=2) == 0
    fake_clock.advance(0.001)
    assert [await store.reap(batch=2) for _ in range(3)] == [2, 1, 0]
    assert len(store) == 1


async def test_the_census_counts_in_progress_keys_by_age(fake_clock: FakeClock) -> None:
    """Keys in progress older than one lease and than ten leases; completed keys are not."""
    store = MemoryIdempotencyStore(clock=fake_clock)
    done = await won(store, request("done"))
    await store.complete(done, RESPONSE, retention=RETENTION)
    await won(store, request("oldest"))
    fake_clock.advance(10 * LEASE - LEASE)
    await won(store, request("old"))
    fake_clock.advance(LEASE)
    await won(store, request("new"))
    assert await store.census(lease=LEASE) == {
        "in_progress_keys": 3,
        "in_progress_older_than_lease": 1,
        "in_progress_older_than_10_leases": 0,
    }
    fake_clock.advance(0.001)
    assert await store.census(lease=LEASE) == {
        "in_progress_keys": 3,
        "in_progress_older_than_lease": 2,
        "in_progress_older_than_10_leases": 1,
    }


@pytest.mark.parametrize(
    ("status", "kept"),
    [
        (199, False),
        (200, True),
        (201, True),
        (299, True),
        (300, False),
        (304, False),
        (399, False),
        (400, True),
        (404, True),
        (408, False),
        (409, False),
        (422, True),
        (425, False),
        (429, False),
        (499, True),
        (500, False),
        (503, False),
    ],
)
def test_what_is_kept_for_replay(status: int, kept: bool) -> None:
    """2xx and deterministic 4xx are kept; 1xx, 3xx, 5xx, 408, 409, 425 and 429 are not."""
    assert storable(status) is kept


def test_a_kept_response_holds_its_allowlisted_headers_in_lower_case() -> None:
    """Location and ETag are kept (names lower-cased, values as sent); Set-Cookie never."""
    kept = stored_response(
        201,
        [(b"Location", b"/orders/7"), (b"Set-Cookie", b"s=1"), (b"ETAG", b'"7"')],
        b"body",
        frozenset({"location", "etag"}),
    )
    assert kept == StoredResponse(201, (("location", "/orders/7"), ("etag", '"7"')), b"body")


async def test_a_handler_completes_in_its_own_transaction(fake_clock: FakeClock) -> None:
    """complete_in keeps a 201 with its allowlisted headers; a 500 keeps nothing."""
    store = MemoryIdempotencyStore(clock=fake_clock)
    ticket = await won(store)
    context = IdempotencyContext(
        ticket, store, retention=RETENTION, allowed=frozenset({"location"})
    )
    await context.complete_in(None, PlainTextResponse("oops", status_code=500))
    assert not ticket.completed
    assert isinstance(await claim(store), InFlight)
    created = JSONResponse({"order": 1}, 201, headers={"Location": "/orders/1", "X-Trace": "t"})
    await context.complete_in(None, created)
    assert ticket.completed
    fake_clock.advance(RETENTION - 0.001)
    assert await claim(store) == Replay(RESPONSE)


async def test_a_handler_that_lost_its_lease_is_told_so(fake_clock: FakeClock) -> None:
    """Recording a recovery point or completing after a retry took the key raises."""
    store = MemoryIdempotencyStore(clock=fake_clock)
    ticket = await won(store)
    context = IdempotencyContext(ticket, store, retention=RETENTION, allowed=frozenset())
    await context.reach("charged")
    assert (context.recovery_point, context.attempts) == ("charged", 1)
    assert (context.key, context.scope) == ("k", "tenant-a")
    assert context.downstream_key("charge") == derive_key("tenant-a", "k", "charge")
    fake_clock.advance(LEASE)
    await won(store)
    with pytest.raises(IdempotencyLeaseLost) as lost:
        await context.reach("shipped")
    assert str(lost.value) == "the lease passed to a retry before this point was saved"
    with pytest.raises(IdempotencyLeaseLost) as lost:
        await context.complete_in(None, JSONResponse({}, status_code=201))
    assert str(lost.value) == "the lease passed to a retry; nothing was stored"
    assert not ticket.completed


class CountingStore(MemoryIdempotencyStore):
    """The memory store, counting heartbeats and noting the deadline each one ran under."""

    def __init__(self, *, failures: int = 0) -> None:
        super().__init__(clock=LoopClock())
        self.beats: list[float] = []
        self.budgets: list[float | None] = []
        self.failures = failures

    async def heartbeat(self, ticket: Ticket, *, lease: float) -> bool:
        self.beats.append(self.clock.monotonic())
        self.budgets.append(remaining())
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the store is restarting")
        return await super().heartbeat(ticket, lease=lease)


def test_the_heartbeat_renews_every_third_of_a_lease_until_stopped() -> None:
    """Lease 3 s: renewed at 1 s and 2 s, so at 2.5 s the key has 2.5 s left; once stopped,
    nothing renews it and at 5 s a retry takes it."""

    async def scenario() -> None:
        store = CountingStore()
        ticket = await won(store)
        start = store.clock.monotonic()
        beat = Heartbeat(store, ticket, 3.0)
        await asyncio.sleep(2.5)
        outcome = await claim(store, lease=3.0)
        assert isinstance(outcome, InFlight)
        assert outcome.retry_after == pytest.approx(2.5)
        beat.stop()
        await asyncio.sleep(2.5)
        assert [round(t - start, 6) for t in store.beats] == [1.0, 2.0]
        assert (await won(store)).attempts == 2

    run_virtual(scenario())


def test_a_heartbeat_stopped_before_its_first_beat_never_runs() -> None:
    """A handler done within a third of the lease leaves no heartbeat behind."""

    async def scenario() -> None:
        store = CountingStore()
        beat = Heartbeat(store, await won(store), 3.0)
        await asyncio.sleep(0.5)
        beat.stop()
        await asyncio.sleep(10.0)
        assert store.beats == []

    run_virtual(scenario())


def test_the_heartbeat_ends_with_the_lease_or_the_completion() -> None:
    """A heartbeat that finds the lease lost stops; so does one whose ticket completed."""

    async def scenario() -> None:
        store = CountingStore()
        lost = await won(store, request("lost"))
        Heartbeat(store, lost, 3.0)
        await store.release(lost)
        completed = await won(store, request("completed"))
        Heartbeat(store, completed, 3.0)
        await asyncio.sleep(1.5)
        completed.completed = True
        await asyncio.sleep(10.0)
        assert len(store.beats) == 2

    run_virtual(scenario())


def test_a_failed_heartbeat_is_logged_and_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    """A heartbeat the store refuses with an error is logged; the next one renews the lease."""

    async def scenario() -> None:
        store = CountingStore(failures=1)
        ticket = await won(store)
        beat = Heartbeat(store, ticket, 3.0)
        await asyncio.sleep(2.5)
        outcome = await claim(store, lease=3.0)
        assert isinstance(outcome, InFlight)
        assert outcome.retry_after == pytest.approx(2.5)
        beat.stop()

    with caplog.at_level(logging.WARNING, logger="hardened.idempotency"):
        run_virtual(scenario())
    assert [r.getMessage() for r in caplog.records] == [
        "idempotency heartbeat failed: ConnectionError('the store is restarting')"
    ]


def test_the_heartbeat_runs_outside_the_requests_budget() -> None:
    """A request's deadline does not bound the renewals of its lease."""

    async def scenario() -> None:
        store = CountingStore()
        ticket = await won(store)
        async with deadline_scope(10.0):
            beat = Heartbeat(store, ticket, 3.0)
            await asyncio.sleep(1.5)
            beat.stop()
        assert store.budgets == [None]

    run_virtual(scenario())
