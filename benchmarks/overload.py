"""Overload benchmark: a CPU-bound handler at 3x capacity, with and without the shedder.

Real uvicorn subprocesses; an open-loop Poisson client over keep-alive connections with a
per-request timeout; requests tagged critical (10 %), standard and sheddable (45 % each).
The client holds 256 keep-alive connections (as a load balancer would) and opens more only
when all are busy. Configurations, in one run: the hardened shedder (uvloop, then the asyncio
loop); no shedder; no shedder with uvicorn's ``--limit-concurrency``. Prints one JSON document
(``python -m benchmarks.overload``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import EndpointsConfig, Service
from hardened.testing import free_port

ROOT = Path(__file__).resolve().parent.parent
WORK_MS = 10.0
TIMEOUT = 1.0
POOL = 256  # keep-alive connections opened before the load starts


async def work(request: Request) -> Response:
    """Holds the loop for WORK_MS of CPU, like a serialiser or a template render."""
    end = time.perf_counter() + WORK_MS / 1000
    while time.perf_counter() < end:
        pass
    return PlainTextResponse("done")


def make() -> Service:
    """The benchmarked service (uvicorn --factory); OVERLOAD_SHED=off removes the shedder."""
    shed_off = os.environ.get("OVERLOAD_SHED") == "off"
    kwargs: dict[str, Any] = {"shed": None} if shed_off else {}
    return Service(
        "overload",
        routes=[Route("/work", work)],
        endpoints=EndpointsConfig(admin_on_public_port=True),
        **kwargs,
    )


@dataclass
class Result:
    priority: str
    status: int  # 0 = client timeout, -1 = connection error
    latency: float
    retry_after: bool


@dataclass
class Client:
    """A minimal HTTP/1.1 client: keep-alive connections reused, a new one when none is idle."""

    port: int
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(default_factory=list)
    opened: int = 0

    async def get(self, path: str, priority: str) -> Result:
        started = time.perf_counter()
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            self.opened += 1
        request = f"GET {path} HTTP/1.1\r\nhost: bench\r\nx-priority: {priority}\r\n\r\n"
        try:
            async with asyncio.timeout(TIMEOUT):
                writer.write(request.encode())
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split()[1])
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in lines[1:] if line)
                }
                await reader.readexactly(int(headers.get("content-length", "0")))
        except TimeoutError:
            writer.close()
            return Result(priority, 0, time.perf_counter() - started, False)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            writer.close()
            return Result(priority, -1, time.perf_counter() - started, False)
        if headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((reader, writer))
        return Result(priority, status, time.perf_counter() - started, "retry-after" in headers)

    async def open(self, connections: int) -> None:
        """Open `connections` keep-alive connections up front (as a load balancer holds)."""
        for _ in range(connections):
            self.idle.append(await asyncio.open_connection("127.0.0.1", self.port))
            self.opened += 1

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def _priority(rng: random.Random) -> str:
    draw = rng.random()
    return "critical" if draw < 0.10 else "standard" if draw < 0.55 else "sheddable"


async def open_loop(port: int, rate: float, seconds: float, seed: int) -> list[Result]:
    """Poisson arrivals at `rate` per second for `seconds`, whatever the server does."""
    client = Client(port)
    await client.open(POOL)
    rng = random.Random(seed)
    tasks: list[asyncio.Task[Result]] = []
    start = next_at = time.perf_counter()
    while next_at - start < seconds:
        next_at += rng.expovariate(rate)
        delay = next_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(client.get("/work", _priority(rng))))
    results = list(await asyncio.gather(*tasks))
    client.close()
    return results


async def closed_loop(port: int, connections: int, seconds: float) -> float:
    """Throughput of `connections` back-to-back clients: the measured capacity (rps)."""
    client = Client(port)
    done = 0
    end = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < end:
            if (await client.get("/work", "critical")).status == 200:
                done += 1

    await asyncio.gather(*(worker() for _ in range(connections)))
    client.close()
    return done / seconds


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)


def summarise(results: list[Result], seconds: float, capacity: float) -> dict[str, Any]:
    """Goodput, admitted latency, timeouts, rejections, per-priority success."""
    ok = [r.latency for r in results if r.status == 200]
    rejected = [r for r in results if r.status == 503]
    by_priority = {}
    for priority in ("critical", "standard", "sheddable"):
        mine = [r for r in results if r.priority == priority]
        good = sum(1 for r in mine if r.status == 200)
        by_priority[priority] = round(good / len(mine), 4) if mine else None
    goodput = len(ok) / seconds
    return {
        "requests": len(results),
        "goodput_rps": round(goodput, 1),
        "goodput_vs_capacity": round(goodput / capacity, 3),
        "admitted_p50_ms": _quantile(ok, 0.50),
        "admitted_p99_ms": _quantile(ok, 0.99),
        "client_timeouts": sum(1 for r in results if r.status == 0),
        "connection_errors": sum(1 for r in results if r.status == -1),
        "rejected_503": len(rejected),
        "rejected_503_without_retry_after": sum(1 for r in rejected if not r.retry_after),
        "rejection_p50_ms": _quantile([r.latency for r in rejected], 0.50),
        "success_by_priority": by_priority,
        "sheddable_share_of_rejections": (
            round(sum(1 for r in rejected if r.priority == "sheddable") / len(rejected), 3)
            if rejected
            else None
        ),
    }


@contextlib.contextmanager
def server(env: dict[str, str], extra: list[str]) -> Iterator[int]:
    """A uvicorn subprocess serving `make()`; yields its port once it answers."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "benchmarks.overload:make", "--factory",
        "--port", str(port), "--log-level", "warning", "--no-access-log", *extra,
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            except OSError:
                pass
            else:
                break
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def run(overload: float = 3.0, seconds: float = 10.0) -> dict[str, Any]:
    """Measure capacity and unloaded p99 once, then every configuration at `overload`x."""
    with server({}, []) as port:
        capacity = asyncio.run(closed_loop(port, 4, 5.0))
        unloaded = asyncio.run(open_loop(port, capacity * 0.2, 5.0, seed=1))
    unloaded_p99 = _quantile([r.latency for r in unloaded if r.status == 200], 0.99)
    rate = capacity * overload
    configs = {
        "hardened_shedder": ({}, []),
        "no_shedder": ({"OVERLOAD_SHED": "off"}, []),
        "uvicorn_limit_concurrency_20": ({"OVERLOAD_SHED": "off"}, ["--limit-concurrency", "20"]),
        "uvicorn_limit_concurrency_300": (
            {"OVERLOAD_SHED": "off"},
            ["--limit-concurrency", str(POOL + 44)],
        ),
        "hardened_shedder_asyncio_loop": ({}, ["--loop", "asyncio"]),
    }
    document: dict[str, Any] = {
        "handler_cpu_ms": WORK_MS,
        "client_timeout_s": TIMEOUT,
        "keepalive_connections": POOL,
        "capacity_rps": round(capacity, 1),
        "unloaded_p99_ms": unloaded_p99,
        "offered_rps": round(rate, 1),
        "seconds": seconds,
        "configurations": {},
    }
    for name, (env, extra) in configs.items():
        with server(env, extra) as port:
            # Re-measured in each server just before its run: on a shared machine the CPU
            # available changes between runs, and goodput is judged against it.
            capacity_now = asyncio.run(closed_loop(port, 4, 3.0))
            results = asyncio.run(open_loop(port, rate, seconds, seed=2))
        summary = summarise(results, seconds, capacity)
        summary["capacity_just_before_rps"] = round(capacity_now, 1)
        summary["goodput_vs_capacity_just_before"] = round(summary["goodput_rps"] / capacity_now, 3)
        document["configurations"][name] = summary
    return document


def main() -> None:
    """Run the benchmark and print its JSON document."""
    print(json.dumps(run(), indent=2))


if __name__ == "__main__":
    main()
