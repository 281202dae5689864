"""Overload that arrives as new connections: 3× capacity, one connection per request.

Each request opens its own connection (`Connection: close`), so the queue builds in the
kernel's accept queue, which no heartbeat measures. Counted per variant: goodput (answers
within the 1 s client timeout) against the capacity measured in the same round, client
timeouts, the probes' worst answer time during the run (hardened: `/livez` and `/readyz` on its
probe port, served off the event loop; the baselines: a request on their public port), and the
latency of a fresh request one second after the overload ends (a backlog that outlives the
overload makes it wait). Stock uvicorn, uvicorn `--limit-concurrency` and `hardened run`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from typing import Any

from benchmarks._client import Client, run_open_loop, timed_get
from benchmarks._outcomes import summarize
from benchmarks._registry import Comparison, Context, Result, Verdict, default_stack
from benchmarks._servers import HOST, Server, ServerSpec, free_port
from benchmarks._stats import fmt_ms, fmt_pct, spread

OVERLOAD = 3.0
CLIENT_TIMEOUT_S = 1.0
HARDENED = "hardened run (default stack, probe port)"
COLUMNS = [
    "variant",
    "goodput rps (% of capacity)",
    "timeouts",
    "rejected",
    "worst probe answer ms",
    "fresh request 1 s after ms",
]


def _variants(ctx: Context, probe_port: int) -> tuple[ServerSpec, ...]:
    return (
        ServerSpec(label="stock uvicorn", app="benchmarks.apps.overload:bare"),
        ServerSpec(
            label=f"uvicorn --limit-concurrency {ctx.limit_concurrency}",
            app="benchmarks.apps.overload:bare",
            args=("--limit-concurrency", str(ctx.limit_concurrency)),
        ),
        ServerSpec(
            label=HARDENED,
            app="benchmarks.apps.overload:hardened",
            runner="hardened",
            ready_path="/livez",
            args=("--probe-port", str(probe_port)),
        ),
    )


def _close(rng: random.Random) -> tuple[str, Mapping[str, str]]:
    return "", {"connection": "close"}


async def _capacity(port: int, seconds: float) -> float:
    """Closed-loop requests per second (after one discarded warm-up second)."""
    client = Client(HOST, port)
    warm_until = time.monotonic() + 1.0
    while time.monotonic() < warm_until:
        await asyncio.wait_for(client.get("/work"), timeout=5.0)
    done, end = 0, time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < end:
            status, _ = await asyncio.wait_for(client.get("/work"), timeout=5.0)
            done += status == 200

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(4)))
    client.close()
    return done / (time.monotonic() - start)


async def _probe_worst(port: int, paths: tuple[str, ...], stop: asyncio.Event) -> float:
    """The slowest probe answer (s; the timeout when one did not answer) until `stop`."""
    worst = 0.0
    while not stop.is_set():  # bounded by the run's duration
        for path in paths:
            client = Client(HOST, port)
            start = time.monotonic()
            outcome = await timed_get(client, path, due=0.0, start=start, limit_s=2.0)
            worst = max(worst, outcome.latency if not outcome.error else 2.0)
        await asyncio.sleep(0.2)
    return worst


async def _drill(spec: ServerSpec, port: int, rate: float, seconds: float, seed: int) -> Any:
    probe_port = int(spec.args[-1]) if spec.label == HARDENED else port
    paths = ("/livez", "/readyz") if spec.label == HARDENED else ("/work",)
    stop = asyncio.Event()
    probing = asyncio.create_task(_probe_worst(probe_port, paths, stop))
    client = Client(HOST, port)
    begin = time.monotonic()
    outcomes = await run_open_loop(
        client,
        "/work",
        rate=rate,
        duration=seconds,
        limit_s=CLIENT_TIMEOUT_S,
        seed=seed,
        priority_of=_close,
    )
    stop.set()
    worst = await probing
    # The open loop returns once every request has ended (each within the client timeout):
    # the fresh request goes one second after the last arrival was due.
    ended = begin + (outcomes[-1].due if outcomes else seconds)
    await asyncio.sleep(max(0.0, ended + 1.0 - time.monotonic()))
    fresh = await timed_get(
        Client(HOST, port), "/work", due=0.0, start=time.monotonic(), limit_s=5.0
    )
    summary = summarize(outcomes, seconds)
    summary["worst_probe_s"] = worst
    summary["fresh_after_s"] = fresh.latency if fresh.ok else 5.0
    return summary


def run(ctx: Context) -> Result:
    """Calibrate on stock uvicorn, then each variant at 3× in interleaved rounds."""
    stack = default_stack()
    variants = _variants(ctx, free_port())
    seconds = ctx.seconds(8.0, 3.0)
    runs: dict[str, list[dict[str, Any]]] = {spec.label: [] for spec in variants}
    for index in range(ctx.rounds(2)):
        if ctx.time_left() < len(variants) * (seconds + 10):
            break
        with Server(variants[0], ctx.repo_root, ctx.log_dir) as server:
            capacity = asyncio.run(_capacity(server.port, ctx.seconds(3.0, 2.0)))
        for spec in variants if index % 2 == 0 else tuple(reversed(variants)):
            with Server(spec, ctx.repo_root, ctx.log_dir) as server:
                summary = asyncio.run(
                    _drill(spec, server.port, OVERLOAD * capacity, seconds, ctx.seed + index)
                )
            summary["capacity_rps"] = capacity
            summary["goodput_fraction"] = summary["goodput_rps"] / capacity
            runs[spec.label].append(summary)
    return _result(runs, stack, seconds)


def _result(runs: dict[str, list[dict[str, Any]]], stack: Any, seconds: float) -> Result:
    def med(label_runs: list[dict[str, Any]], key: str) -> float:
        return spread([r[key] for r in label_runs]).median

    rows = []
    for label, label_runs in runs.items():
        rows.append(
            {
                "variant": label,
                COLUMNS[1]: f"{spread([r['goodput_rps'] for r in label_runs]).fmt(1)} "
                f"({fmt_pct(med(label_runs, 'goodput_fraction'))})",
                COLUMNS[2]: fmt_pct(med(label_runs, "timeout_fraction")),
                COLUMNS[3]: fmt_pct(med(label_runs, "rejected_fraction")),
                COLUMNS[4]: fmt_ms(max(r["worst_probe_s"] for r in label_runs), 0),
                COLUMNS[5]: fmt_ms(max(r["fresh_after_s"] for r in label_runs), 0),
            }
        )
    mine = runs[HARDENED]
    checks = {
        "goodput ≥ 80 % of capacity": bool(mine) and med(mine, "goodput_fraction") >= 0.8,
        "probes within 1 s": bool(mine) and max(r["worst_probe_s"] for r in mine) < 1.0,
        "no backlog 1 s after": bool(mine) and max(r["fresh_after_s"] for r in mine) < 0.5,
    }
    failed = [name for name, ok in checks.items() if not ok]
    capacities = ", ".join(f"{r['capacity_rps']:.0f}" for r in mine)
    return COMPARISON.result(
        verdict=Verdict.NOT_MET if failed else Verdict.MET,
        verdict_detail="missed: " + "; ".join(failed) if failed else "all targets met",
        columns=COLUMNS,
        rows=rows,
        notes=[
            f"Capacity {capacities} rps (stock uvicorn, closed loop, 4 keep-alive connections, "
            f"10 ms CPU per request, measured each round); offered {OVERLOAD:.0f}× that, "
            f"Poisson, for {seconds:.0f} s, a new connection per request, client timeout "
            f"{CLIENT_TIMEOUT_S:.0f} s; medians over rounds (goodput with min–max).",
            "Worst probe answer: the slowest of the probes sent every 0.2 s during the run, "
            "each on a new connection (2 s = no answer). Fresh request: one GET /work on a new "
            "connection one second after the last arrival.",
            "Targets (hardened): goodput ≥ 80 % of capacity, probes within 1 s, a fresh request "
            "one second after the overload answered within 0.5 s.",
        ],
        data={"runs": runs, "checks": checks, "default_stack": stack},
    )


COMPARISON = Comparison(
    name="connections",
    title="Overload as new connections (3×, one connection per request)",
    target="goodput ≥ 80 % of capacity, probes within 1 s, no backlog 1 s after the overload",
    run=run,
    budget_seconds=120,
)
