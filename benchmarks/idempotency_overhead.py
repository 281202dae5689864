"""Idempotency overhead: a keyed POST through the layer against the same POST without it.

Two `hardened run` servers on one real PostgreSQL serve the same handler (one INSERT in a
transaction on a `PostgresPool`); one has the Idempotency-Key layer, whose claim is one extra
round trip and whose completion joins the handler's transaction. Every request carries a new
key, so each one is a claim and a stored response (no replay). Closed-loop workers on
keep-alive connections drive each server in turn, rounds alternating direction; the figures
are client latency and server CPU per request, each as a paired ratio per round.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
import uuid
from typing import Any

import asyncpg

from benchmarks._client import parse_head
from benchmarks._postgres import scratch_postgres
from benchmarks._registry import Comparison, Context, Result, Verdict
from benchmarks._servers import HOST, Server, ServerSpec, start_all
from benchmarks._stats import paired_ratios, percentile, spread
from benchmarks.apps.idempotency import TABLE

TARGET_RATIO = 1.5
WORKERS = 4
WITHOUT = "POST without the layer"
WITH = "POST with the Idempotency-Key layer"
VARIANTS = (
    ServerSpec(
        label=WITHOUT,
        app="benchmarks.apps.idempotency:without_layer",
        runner="hardened",
        ready_path="/livez",
    ),
    ServerSpec(
        label=WITH,
        app="benchmarks.apps.idempotency:with_layer",
        runner="hardened",
        ready_path="/livez",
    ),
)
COLUMNS = [
    "variant",
    "server CPU µs/request",
    "× without (CPU, paired)",
    "× without (CPU, best rounds)",
    "p50 ms",
    "p99 ms",
    "× without (p50, paired)",
    "× without (p50, best rounds)",
    "req/s",
]


async def _prepare(url: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(TABLE)
    finally:
        await connection.close()


async def _worker(port: int, until: float, latencies: list[float], failures: list[int]) -> None:
    """Keyed POSTs on one keep-alive connection, reopened when the server closes it."""
    body = b'{"item":"book","qty":1}'
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while time.perf_counter() < until:
            head = (
                f"POST /orders HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nAuthorization: Bearer bench\r\n"
                f"Idempotency-Key: {uuid.uuid4().hex}\r\n\r\n"
            )
            started = time.perf_counter()
            try:
                writer.write(head.encode() + body)
                status, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
                await reader.readexactly(int(headers.get("content-length", "0")))
            except (asyncio.IncompleteReadError, ConnectionError):
                status, headers = 0, {"connection": "close"}
            latencies.append(time.perf_counter() - started)
            if status != 201:
                failures.append(status)
            if headers.get("connection", "").lower() == "close":
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port)
    finally:
        writer.close()


async def _load(port: int, seconds: float) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    failures: list[int] = []
    until = time.perf_counter() + seconds
    async with asyncio.timeout(seconds + 30):
        await asyncio.gather(*(_worker(port, until, latencies, failures) for _ in range(WORKERS)))
    return latencies, failures


def _measure(server: Server, seconds: float) -> dict[str, Any]:
    before = server.cpu()
    latencies, failures = asyncio.run(_load(server.port, seconds))
    used = server.cpu() - before
    count = len(latencies)
    return {
        "requests": count,
        "failures": len(failures),
        "cpu_us_per_request": used / count * 1e6 if count else math.nan,
        "p50_s": percentile(latencies, 50) if latencies else math.nan,
        "p99_s": percentile(latencies, 99) if latencies else math.nan,
        "rps": count / seconds,
    }


def run(ctx: Context) -> Result:
    """Interleaved rounds against both servers on one PostgreSQL."""
    rounds = ctx.rounds(12)
    seconds = ctx.seconds(1.5, 1.0)
    samples: dict[str, list[dict[str, Any]]] = {spec.label: [] for spec in VARIANTS}
    with scratch_postgres(ctx.log_dir) as url:
        asyncio.run(_prepare(url))
        previous = os.environ.get("DATABASE_URL")
        os.environ["DATABASE_URL"] = url
        try:
            servers = start_all(VARIANTS, ctx.repo_root, ctx.log_dir)
        finally:
            if previous is None:
                del os.environ["DATABASE_URL"]
            else:
                os.environ["DATABASE_URL"] = previous
        try:
            for server in servers:  # warm-up: imports, statement caches, the first claims
                _measure(server, 1.0)
            for index in range(rounds):
                if ctx.time_left() < seconds * len(servers) + 10:
                    break
                for server in servers if index % 2 == 0 else list(reversed(servers)):
                    samples[server.spec.label].append(_measure(server, seconds))
        finally:
            for server in servers:
                server.stop()
    return _result(samples, rounds, seconds)


def _column(runs: list[dict[str, Any]], name: str) -> list[float]:
    return [s[name] for s in runs]


def _result(samples: dict[str, list[dict[str, Any]]], rounds: int, seconds: float) -> Result:
    base = samples[WITHOUT]
    rows = []
    ratios: dict[str, dict[str, float]] = {}
    for spec in VARIANTS:
        runs = samples[spec.label]
        cpu = _column(runs, "cpu_us_per_request")
        p50 = _column(runs, "p50_s")
        cpu_ratio = spread(paired_ratios(_column(base, "cpu_us_per_request"), cpu))
        p50_ratio = spread(paired_ratios(_column(base, "p50_s"), p50))
        ratios[spec.label] = {
            "cpu": cpu_ratio.median,
            "p50": p50_ratio.median,
            "cpu_best": min(cpu) / min(_column(base, "cpu_us_per_request")),
            "p50_best": min(p50) / min(_column(base, "p50_s")),
        }
        failures = sum(s["failures"] for s in runs)
        rows.append(
            {
                "variant": spec.label if not failures else f"{spec.label} ({failures} non-201)",
                "server CPU µs/request": spread(cpu).fmt(1),
                "× without (CPU, paired)": cpu_ratio.fmt(2),
                "× without (CPU, best rounds)": f"{ratios[spec.label]['cpu_best']:.2f}",
                "p50 ms": spread(p50).fmt(2, 1e3),
                "p99 ms": spread(_column(runs, "p99_s")).fmt(2, 1e3),
                "× without (p50, paired)": p50_ratio.fmt(2),
                "× without (p50, best rounds)": f"{ratios[spec.label]['p50_best']:.2f}",
                "req/s": spread(_column(runs, "rps")).fmt(0),
            }
        )
    mine = ratios[WITH]
    if math.isnan(mine["cpu"]) or math.isnan(mine["p50"]):
        verdict, detail = Verdict.NOT_MET, "no measurement"
    else:
        met = mine["cpu"] <= TARGET_RATIO and mine["p50"] <= TARGET_RATIO
        verdict = Verdict.MET if met else Verdict.NOT_MET
        detail = (
            f"with/without the layer, median of paired rounds: server CPU {mine['cpu']:.2f}×, "
            f"p50 latency {mine['p50']:.2f}× (target ≤ {TARGET_RATIO:.1f}× each); best round "
            f"against best round: CPU {mine['cpu_best']:.2f}×, p50 {mine['p50_best']:.2f}×"
        )
    notes = [
        f"{rounds} rounds × {seconds:.0f} s per variant, {WORKERS} closed-loop keep-alive "
        "connections from the harness (raw asyncio), a new Idempotency-Key on every request; "
        "both servers under `hardened run` with the default stack, one `PostgresPool` each "
        "(max 8) on the same PostgreSQL (DATABASE_URL or an embedded server).",
        "Round trips to PostgreSQL per request: without the layer BEGIN, INSERT, COMMIT and "
        "the pool's reset when the connection goes back (4); with it, the claim on the "
        "connection the handler then uses (`@idempotent(transaction=True)`), and the fenced "
        "completion sent with the handler's COMMIT in one message (`idem.transaction()`) (5). "
        "The claim "
        "commits without waiting for its WAL flush (the handler's commit flushes it), so only "
        "the handler's commit waits for the disk.",
        "On a shared machine a round can land on a burst of other work: the paired median is "
        "the verdict, the best round of each variant against the other's is the floor.",
        "CPU = user + system time of the server process over the run, per request answered; "
        "ratios are paired per round, then the median; spread = min–max over rounds.",
    ]
    return COMPARISON.result(
        verdict=verdict,
        verdict_detail=detail,
        columns=COLUMNS,
        rows=rows,
        notes=notes,
        data={
            "rounds": rounds,
            "seconds_per_run": seconds,
            "workers": WORKERS,
            "samples": samples,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )


COMPARISON = Comparison(
    name="idempotency_overhead",
    title="Idempotency-Key layer overhead (keyed POST on PostgreSQL)",
    target=(
        f"keyed POST through the layer ≤ {TARGET_RATIO:.1f}× the same POST without it, "
        "in latency and in server CPU"
    ),
    run=run,
    budget_seconds=120,
)
