"""A small asyncio HTTP/1.1 client for open-loop load: Poisson arrivals, keep-alive, a hard timeout.

wrk and hey are closed-loop (a new request only when one returns), which hides overload: the
offered rate falls as the server slows. Open-loop arrivals keep coming, as real users do. The
client is raw asyncio streams, so it costs far less CPU than the server it drives.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Client", "Outcome", "parse_head", "poisson_schedule", "run_open_loop"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request: when it was due (s from run start), how long it took, and how it ended.

    `error` is "" for an HTTP answer, else "timeout", "refused", "reset" or an exception name.
    Latency counts from the scheduled time, so a late client cannot hide server queueing.
    `lag` is how late the client itself started the request (its own loop's delay). `split`,
    when the server sent `X-Bench-Timing` (see benchmarks/apps/overload.py), divides the
    latency from that start into: before the handler (socket buffers, the server loop's queue,
    the edge layers), the handler, and after it (writing, the client reading).
    """

    due: float
    latency: float
    status: int
    error: str = ""
    priority: str = ""
    retry_after: bool = False
    lag: float = 0.0
    split: tuple[float, float, float] | None = None

    @property
    def ok(self) -> bool:
        return not self.error and 200 <= self.status < 300


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status code and lower-cased headers of an HTTP/1.1 response head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"not an HTTP status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def poisson_schedule(rate: float, duration: float, rng: random.Random) -> list[float]:
    """Arrival times in [0, duration) of a Poisson process of `rate` per second (bounded count)."""
    if rate <= 0 or duration <= 0:
        return []
    limit = int(rate * duration * 3) + 100
    times: list[float] = []
    t = rng.expovariate(rate)
    while t < duration and len(times) < limit:
        times.append(t)
        t += rng.expovariate(rate)
    return times


TIMING_HEADER = "x-bench-timing"  # written by benchmarks/apps/overload.py

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Client:
    """Keep-alive connections to one host:port, at most `max_connections` at once."""

    def __init__(self, host: str, port: int, *, max_connections: int = 512) -> None:
        self.host = host
        self.port = port
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def get(
        self, path: str, headers: Mapping[str, str] | None = None
    ) -> tuple[int, dict[str, str]]:
        """GET `path`; status and headers. Raises on connection errors (the caller bounds time)."""
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            while conn is not None and conn[0].at_eof():  # the server closed it while idle
                conn[1].close()
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = await asyncio.open_connection(self.host, self.port)
            return await self._exchange(conn, path, headers)

    async def _exchange(
        self, conn: _Conn, path: str, headers: Mapping[str, str] | None
    ) -> tuple[int, dict[str, str]]:
        reader, writer = conn
        keep = False
        try:
            extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
            request = f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{extra}\r\n"
            writer.write(request.encode("latin-1"))
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status, response_headers = parse_head(head)
            framed = await _read_body(reader, status, response_headers)
            keep = framed and response_headers.get("connection", "").lower() != "close"
            return status, response_headers
        finally:
            if keep:
                self._idle.append(conn)
            else:
                writer.close()

    async def warm(
        self, path: str, connections: int, *, batch: int = 32, timeout_s: float = 10.0
    ) -> int:
        """Open `connections` new keep-alive connections (`batch` at a time), each proven by one
        GET `path` (a cheap one) and left idle for reuse; how many are idle now.

        Clients of a service under overload hold their connections open already. Without this,
        an open-loop run starts with none, and its first second measures a storm of new
        connections in the kernel's accept queue (uvloop accepts one per loop turn) rather
        than the service's handling of overload on keep-alive connections.
        """

        async def one() -> None:
            conn = await asyncio.open_connection(self.host, self.port)
            await self._exchange(conn, path, None)

        async with asyncio.timeout(timeout_s):
            for first in range(0, connections, batch):
                await asyncio.gather(*(one() for _ in range(min(batch, connections - first))))
        return len(self._idle)

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            _, writer = self._idle.pop()
            writer.close()


async def _read_body(reader: asyncio.StreamReader, status: int, headers: Mapping[str, str]) -> bool:
    """Read the body; whether the connection can carry another request afterwards."""
    if status in (204, 304) or 100 <= status < 200:
        return True
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
        return True
    if headers.get("transfer-encoding", "").lower() == "chunked":
        for _ in range(10_000):
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                return True
        raise ValueError("too many chunks")
    await reader.read()  # no framing: the body ends with the connection
    return False


def _error_name(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionError | asyncio.IncompleteReadError):
        return "reset"
    return type(exc).__name__


async def timed_get(
    client: Client,
    path: str,
    *,
    due: float,
    start: float,
    limit_s: float,
    priority: str = "",
    headers: Mapping[str, str] | None = None,
) -> Outcome:
    """One GET bounded by `limit_s`, its latency measured from the scheduled time `start + due`."""
    sent = time.monotonic()
    lag = sent - start - due
    try:
        async with asyncio.timeout(limit_s):
            status, answer = await client.get(path, headers)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        return Outcome(due, time.monotonic() - start - due, 0, _error_name(exc), priority, lag=lag)
    received = time.monotonic()
    split = _split(sent, answer.get(TIMING_HEADER), received)
    latency = received - start - due
    return Outcome(due, latency, status, "", priority, "retry-after" in answer, lag, split)


def _split(sent: float, timing: str | None, received: float) -> tuple[float, float, float] | None:
    """(before the handler, handler, after it) from the server's monotonic `start end`
    readings (one clock on one host); None without them."""
    try:
        begun, ended = (float(x) for x in (timing or "").split())
    except ValueError:
        return None
    return begun - sent, ended - begun, received - ended


async def run_open_loop(
    client: Client,
    path: str,
    *,
    rate: float,
    duration: float,
    limit_s: float,
    seed: int = 1,
    priority_of: Callable[[random.Random], tuple[str, Mapping[str, str]]] | None = None,
) -> list[Outcome]:
    """Poisson arrivals of GET `path` at `rate`/s for `duration` s; every outcome, in due order.

    `priority_of(rng)` picks each request's priority class and the headers that carry it.
    Each request is bounded by `limit_s`; the run ends at most `limit_s` + 5 s after the last.
    """
    rng = random.Random(seed)
    schedule = poisson_schedule(rate, duration, rng)
    start = time.monotonic()
    tasks: list[asyncio.Task[Outcome]] = []
    for due in schedule:
        delay = start + due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        priority, headers = priority_of(rng) if priority_of else ("", {})
        coro = timed_get(
            client, path, due=due, start=start, limit_s=limit_s, priority=priority, headers=headers
        )
        tasks.append(asyncio.create_task(coro))
    try:
        async with asyncio.timeout(limit_s + 5.0):
            return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*tasks, return_exceptions=True)
