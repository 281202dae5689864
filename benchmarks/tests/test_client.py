"""The open-loop client against a real loopback server (asyncio streams, no timing asserted)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest

from benchmarks._client import Client, run_open_loop, timed_get


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        for _ in range(100):
            head = await reader.readuntil(b"\r\n\r\n")
            if b"GET /silent" in head:
                await asyncio.sleep(5)
                return
            if b"GET /empty" in head:
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
                continue
            if b"GET /unframed" in head:
                writer.write(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
                await writer.drain()
                return
            if b"GET /once" in head:  # keep-alive framing, then the server closes anyway
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nonce")
                await writer.drain()
                return
            if b"GET /timed" in head:
                now = time.monotonic()
                timing = f"{now - 0.002:.6f} {now:.6f}".encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nX-Bench-Timing: " + timing + b"\r\n"
                    b"Content-Length: 2\r\n\r\nok"
                )
                await writer.drain()
                continue
            if b"GET /busy" in head:
                writer.write(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                    b"Content-Length: 4\r\nConnection: close\r\n\r\nbusy"
                )
                await writer.drain()
                return
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def port() -> AsyncIterator[int]:
    """A tiny HTTP/1.1 server on 127.0.0.1: keep-alive 200s, a closing 503, a silent path."""
    server = await asyncio.start_server(_answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def test_client_reuses_keep_alive_connections(port: int) -> None:
    """Sequential GETs share one connection; chunked bodies are read to the end."""
    client = Client("127.0.0.1", port)
    statuses = [(await client.get("/"))[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert len(client._idle) == 1
    client.close()


async def test_timed_get_reports_rejection_and_timeout(port: int) -> None:
    """A 503 carries its Retry-After flag; a silent server ends as a timeout, not a hang."""
    client = Client("127.0.0.1", port)
    start = time.monotonic()
    busy = await timed_get(client, "/busy", due=0.0, start=start, limit_s=5.0)
    assert (busy.status, busy.retry_after, busy.ok) == (503, True, False)
    silent = await timed_get(client, "/silent", due=0.0, start=start, limit_s=0.2)
    assert (silent.status, silent.error) == (0, "timeout")
    client.close()


async def test_open_loop_sends_every_scheduled_request(port: int) -> None:
    """Every Poisson arrival becomes one outcome, tagged with the priority chosen for it."""
    client = Client("127.0.0.1", port)
    outcomes = await run_open_loop(
        client,
        "/",
        rate=50.0,
        duration=0.4,
        limit_s=2.0,
        seed=5,
        priority_of=lambda rng: ("critical", {"X-Priority": "critical"}),
    )
    client.close()
    assert outcomes
    assert all(o.ok and o.priority == "critical" for o in outcomes)
    assert [o.due for o in outcomes] == sorted(o.due for o in outcomes)


async def test_refused_connection_is_named() -> None:
    """A port nobody listens on yields 'refused'."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    client = Client("127.0.0.1", closed_port)
    outcome = await timed_get(client, "/", due=0.0, start=time.monotonic(), limit_s=2.0)
    assert outcome.error == "refused"


async def test_client_reads_bodiless_and_unframed_answers(port: int) -> None:
    """A 204 keeps its connection; a body ended by closing the connection is not reused."""
    client = Client("127.0.0.1", port)
    assert (await client.get("/empty"))[0] == 204
    assert len(client._idle) == 1
    assert (await client.get("/unframed"))[0] == 200
    assert len(client._idle) == 0
    client.close()


async def test_warm_opens_connections_that_later_requests_reuse(port: int) -> None:
    """warm() leaves that many proven connections idle; a GET then opens no new one."""
    client = Client("127.0.0.1", port)
    assert await client.warm("/", 5, batch=2) == 5
    assert (await client.get("/"))[0] == 200
    assert len(client._idle) == 5
    client.close()


async def test_connection_closed_while_idle_is_not_reused(port: int) -> None:
    """An idle connection the server has closed is dropped; the next GET gets a fresh one."""
    client = Client("127.0.0.1", port)
    assert (await client.get("/once"))[0] == 200
    assert len(client._idle) == 1
    for _ in range(100):  # until the loop has seen the server's FIN
        if client._idle[0][0].at_eof():
            break
        await asyncio.sleep(0.01)
    assert (await client.get("/"))[0] == 200
    assert len(client._idle) == 1
    client.close()


async def test_timed_get_splits_latency_with_the_server_timestamps(port: int) -> None:
    """X-Bench-Timing gives before/handler/after parts; without it there is no split."""
    client = Client("127.0.0.1", port)
    timed = await timed_get(client, "/timed", due=0.0, start=time.monotonic(), limit_s=5.0)
    assert timed.split is not None
    before, handler, after = timed.split
    assert handler == pytest.approx(0.002, abs=1e-5)
    assert after >= 0
    assert before + handler + after <= timed.latency + 1e-6
    plain = await timed_get(client, "/", due=0.0, start=time.monotonic(), limit_s=5.0)
    assert plain.split is None
    client.close()
