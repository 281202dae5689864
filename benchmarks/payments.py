"""The reference service under load: POST /payments throughput and p99 on one process, step by
step up to where its latency SLO stops holding, and idempotent replays against first executions.

One `hardened run` of the payments API (tier critical, every gate on) and one of the processor
stand-in, on one real PostgreSQL. A first execution claims its Idempotency-Key, inserts the
payment, charges it at the processor (one HTTP call through the breaker, bulkhead and retry
budget) and stores the payment and the response in one transaction; a replay is answered by the
layer from the stored response, without the handler or the processor.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

from benchmarks._client import parse_head
from benchmarks._postgres import scratch_postgres
from benchmarks._registry import Comparison, Context, Result, Verdict
from benchmarks._servers import HOST, Server, ServerSpec
from benchmarks._stats import paired_ratios, percentile, spread

SLO_P99_S = 0.5  # the API's latency SLO: 99 % of answers non-5xx within 500 ms
LEVELS = (1, 2, 4, 8, 16)  # closed-loop connections
REPLAY_WORKERS = 4
KEY = "sk_test_bench"
BODY = b'{"amount":1250,"currency":"EUR","source":"tok_visa"}'
PROCESSOR = ServerSpec(
    label="processor", app="examples.payments_api.processor:app", runner="hardened"
)
API = ServerSpec(label="payments API", app="examples.payments_api.app:app", runner="hardened")
FIRST, REPLAY = "first execution (new key)", "replay (same key, stored answer)"
COLUMNS = ["load", "201/s", "p50 ms", "p99 ms", "non-201", "server CPU µs/request", "SLO"]


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def _worker(
    port: int, until: float, keys: list[str] | None, latencies: list[float], failures: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        index = 0
        while time.perf_counter() < until:
            key = keys[index % len(keys)] if keys else uuid.uuid4().hex
            index += 1
            head = (
                f"POST /payments HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(BODY)}\r\nAuthorization: Bearer {KEY}\r\n"
                f"Idempotency-Key: {key}\r\n\r\n"
            )
            started = time.perf_counter()
            writer.write(head.encode() + BODY)
            status, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
            await reader.readexactly(int(headers.get("content-length", "0")))
            latencies.append(time.perf_counter() - started)
            if status != 201:
                failures.append(status)
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port)
    finally:
        writer.close()


async def _load(
    port: int, workers: int, seconds: float, keys: list[list[str]] | None
) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    failures: list[int] = []
    until = time.perf_counter() + seconds
    async with asyncio.timeout(seconds + 30):
        await asyncio.gather(
            *(
                _worker(port, until, keys[n] if keys else None, latencies, failures)
                for n in range(workers)
            )
        )
    return latencies, failures


def _measure(
    api: Server, workers: int, seconds: float, keys: list[list[str]] | None = None
) -> dict[str, Any]:
    before = api.cpu()
    latencies, failures = asyncio.run(_load(api.port, workers, seconds, keys))
    used = api.cpu() - before
    count = len(latencies)
    return {
        "workers": workers,
        "requests": count,
        "failures": len(failures),
        "cpu_us_per_request": used / count * 1e6 if count else math.nan,
        "p50_s": percentile(latencies, 50) if latencies else math.nan,
        "p99_s": percentile(latencies, 99) if latencies else math.nan,
        "rps": (count - len(failures)) / seconds,  # 201s per second
    }


def _holds(sample: dict[str, Any]) -> bool:
    errors = sample["failures"] / max(1, sample["requests"])
    return bool(sample["p99_s"] <= SLO_P99_S and errors <= 0.001)


async def _make(port: int, keys: list[str]) -> None:
    """One first execution per key, one after another on one connection."""
    for key in keys:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            head = (
                f"POST /payments HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(BODY)}\r\nAuthorization: Bearer {KEY}\r\n"
                f"Idempotency-Key: {key}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + BODY)
            await reader.read()
        finally:
            writer.close()


def _stored_keys(api: Server, count: int) -> list[list[str]]:
    """Keys whose payments were made once, so every later request with them is a replay."""
    keys = [[uuid.uuid4().hex for _ in range(count)] for _ in range(REPLAY_WORKERS)]
    asyncio.run(_make(api.port, [key for chunk in keys for key in chunk]))
    return keys


def run(ctx: Context) -> Result:
    """The load ladder, then interleaved rounds of first executions and replays."""
    seconds = ctx.seconds(3.0, 1.0)
    rounds = ctx.rounds(3)
    ladder: list[dict[str, Any]] = []
    pairs: dict[str, list[dict[str, Any]]] = {FIRST: [], REPLAY: []}
    with scratch_postgres(ctx.log_dir) as url:
        processor = Server(PROCESSOR, ctx.repo_root, ctx.log_dir).start()
        try:
            env = {"DATABASE_URL": url, "PROCESSOR_URL": processor.url}
            with _env(**env, PAYMENTS_API_KEYS=f"bench:{KEY}"):
                api = Server(API, ctx.repo_root, ctx.log_dir).start()
            try:
                _measure(api, 2, 1.0)  # warm-up: imports, statement caches, connections
                for workers in LEVELS if not ctx.quick else LEVELS[:3]:
                    ladder.append(_measure(api, workers, seconds))
                keys = _stored_keys(api, 50)
                for index in range(rounds):
                    order = [(FIRST, None), (REPLAY, keys)]
                    for label, chosen in order if index % 2 == 0 else reversed(order):
                        pairs[label].append(_measure(api, REPLAY_WORKERS, seconds, chosen))
            finally:
                api.stop()
        finally:
            processor.stop()
    return _result(ladder, pairs, rounds, seconds)


def _connections(count: int) -> str:
    return f"{count} connection{'s' * (count > 1)}"


def _row(load: str, samples: list[dict[str, Any]]) -> dict[str, str]:
    return {
        "load": load,
        "201/s": spread([s["rps"] for s in samples]).fmt(0),
        "p50 ms": spread([s["p50_s"] for s in samples]).fmt(1, 1e3),
        "p99 ms": spread([s["p99_s"] for s in samples]).fmt(1, 1e3),
        "non-201": str(sum(s["failures"] for s in samples)),
        "server CPU µs/request": spread([s["cpu_us_per_request"] for s in samples]).fmt(0),
        "SLO": "holds" if all(_holds(s) for s in samples) else "missed",
    }


def _result(
    ladder: list[dict[str, Any]],
    pairs: dict[str, list[dict[str, Any]]],
    rounds: int,
    seconds: float,
) -> Result:
    rows = [_row(f"POST, {_connections(s['workers'])}", [s]) for s in ladder]
    rows += [_row(f"{label}, {REPLAY_WORKERS} connections", pairs[label]) for label in pairs]
    held = [s for s in ladder if _holds(s)]
    best = max(held, key=lambda s: s["rps"]) if held else None
    cpu = spread(
        paired_ratios(
            [s["cpu_us_per_request"] for s in pairs[FIRST]],
            [s["cpu_us_per_request"] for s in pairs[REPLAY]],
        )
    ).median
    p50 = spread(
        paired_ratios([s["p50_s"] for s in pairs[FIRST]], [s["p50_s"] for s in pairs[REPLAY]])
    ).median
    if best is None or math.isnan(cpu):
        verdict, detail = Verdict.NOT_MET, "the SLO held at no load measured"
    else:
        verdict = Verdict.MET if cpu < 1 and p50 < 1 else Verdict.NOT_MET
        detail = (
            f"{best['rps']:.0f} payments/s at p99 {best['p99_s'] * 1e3:.0f} ms "
            f"({_connections(best['workers'])}, SLO p99 ≤ {SLO_P99_S * 1e3:.0f} ms); "
            f"a replay costs {cpu:.2f}× the server CPU and {p50:.2f}× the p50 of a first execution"
        )
    notes = [
        f"Ladder: {seconds:.0f} s per step of closed-loop keep-alive connections from the "
        "harness (raw asyncio), a new Idempotency-Key and a new charge per request; 'SLO holds' "
        f"= p99 ≤ {SLO_P99_S * 1e3:.0f} ms and ≤ 0.1 % non-201 (the service's latency SLO). "
        "Past the step where it holds, more connections add queueing, not payments; the "
        "non-201 answers there are the shedder's 503s (the event loop fell behind).",
        f"Replays: {rounds} interleaved rounds of {seconds:.0f} s each, {REPLAY_WORKERS} "
        "connections; replays cycle through keys completed beforehand. CPU is the API "
        "process's own (user + system, from /proc), per request answered; ratios are paired "
        "per round, then the median.",
        "One API process (`hardened run`, every gate at tier critical: shedder, deadline, "
        "pool, breaker, Idempotency-Key layer on PostgreSQL) and the processor stand-in in "
        "its own process, on one PostgreSQL (DATABASE_URL or an embedded server), all on the "
        "same machine as the load.",
    ]
    return COMPARISON.result(
        verdict=verdict,
        verdict_detail=detail,
        columns=COLUMNS,
        rows=rows,
        notes=notes,
        data={
            "ladder": ladder,
            "pairs": pairs,
            "rounds": rounds,
            "seconds_per_run": seconds,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )


COMPARISON = Comparison(
    name="payments",
    title="Payments API: POST /payments under load, replays vs first executions",
    target=(
        f"POST /payments keeps its latency SLO (p99 ≤ {SLO_P99_S * 1e3:.0f} ms) at some load on "
        "one process, and a replay costs less than a first execution (CPU and p50)"
    ),
    run=run,
    budget_seconds=60,
)
