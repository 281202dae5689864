"""I/O-bound load: 200 requests awaiting a 3 s upstream with the CPU idle, plus a fast stream.

Nothing here saturates the process: a limit that refuses these requests refuses traffic a
service could serve (the shed issue's finding: an adaptive in-flight limit of 20 refused 180 of
200). Each run warms 30 connections, starts the 200 awaiting requests at once, then sends a
Poisson stream of fast requests (20/s for 3 s) on its own warm connections. Counted: refused
awaiting requests, refused fast requests, the fast stream's p99. Stock uvicorn, uvicorn
`--limit-concurrency 100` and `hardened run`, interleaved, a fresh server per run.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks._client import Client, Outcome, run_open_loop, timed_get
from benchmarks._registry import Comparison, Context, Result, Verdict, default_stack
from benchmarks._servers import HOST, Server, ServerSpec
from benchmarks._stats import fmt_ms, percentile, spread

AWAITING = 200
SLOW_S = 3.0
STREAM_RPS = 20.0
STREAM_S = 3.0
HARDENED = "hardened run (default stack)"
COLUMNS = ["variant", "awaiting refused (of 200)", "fast refused", "fast p50 / p99 ms"]


def _variants(ctx: Context) -> tuple[ServerSpec, ...]:
    return (
        ServerSpec(label="stock uvicorn", app="benchmarks.apps.io_bound:bare"),
        ServerSpec(
            label=f"uvicorn --limit-concurrency {ctx.limit_concurrency}",
            app="benchmarks.apps.io_bound:bare",
            args=("--limit-concurrency", str(ctx.limit_concurrency)),
        ),
        ServerSpec(
            label=HARDENED,
            app="benchmarks.apps.io_bound:hardened",
            runner="hardened",
            ready_path="/livez",
        ),
        ServerSpec(
            label="hardened run, ShedConfig(adaptive_limit=True)",
            app="benchmarks.apps.io_bound:hardened_adaptive",
            runner="hardened",
            ready_path="/livez",
        ),
    )


async def _drill(port: int, seed: int) -> dict[str, Any]:
    awaiting, stream = Client(HOST, port), Client(HOST, port)
    try:
        await asyncio.gather(*(stream.get("/fast") for _ in range(30)))
        start = time.monotonic()
        slow = [
            asyncio.create_task(
                timed_get(awaiting, f"/slow?s={SLOW_S}", due=0.0, start=start, limit_s=20.0)
            )
            for _ in range(AWAITING)
        ]
        fast = await run_open_loop(
            stream, "/fast", rate=STREAM_RPS, duration=STREAM_S, limit_s=5.0, seed=seed
        )
        slow_outcomes: list[Outcome] = list(await asyncio.gather(*slow))
    finally:
        awaiting.close()
        stream.close()
    latencies = [o.latency for o in fast if o.ok]
    return {
        "awaiting_refused": sum(not o.ok for o in slow_outcomes),
        "awaiting_errors": sorted({o.error or str(o.status) for o in slow_outcomes if not o.ok}),
        "fast": len(fast),
        "fast_refused": sum(not o.ok for o in fast),
        "fast_p50_s": percentile(latencies, 50) if latencies else float("nan"),
        "fast_p99_s": percentile(latencies, 99) if latencies else float("nan"),
    }


def run(ctx: Context) -> Result:
    """Run the drill on each variant in interleaved rounds."""
    stack = default_stack()
    variants = _variants(ctx)
    runs: dict[str, list[dict[str, Any]]] = {spec.label: [] for spec in variants}
    for index in range(ctx.rounds(2)):
        if ctx.time_left() < 40:
            break
        for spec in variants if index % 2 == 0 else tuple(reversed(variants)):
            with Server(spec, ctx.repo_root, ctx.log_dir) as server:
                runs[spec.label].append(asyncio.run(_drill(server.port, ctx.seed + index)))
    rows = []
    for label, label_runs in runs.items():
        errors = sorted({e for r in label_runs for e in r["awaiting_errors"]})
        rows.append(
            {
                "variant": label,
                COLUMNS[1]: " / ".join(str(r["awaiting_refused"]) for r in label_runs)
                + (f" ({', '.join(errors)})" if errors else ""),
                COLUMNS[2]: " / ".join(f"{r['fast_refused']} of {r['fast']}" for r in label_runs),
                COLUMNS[3]: f"{fmt_ms(spread([r['fast_p50_s'] for r in label_runs]).median, 1)}"
                f" / {fmt_ms(spread([r['fast_p99_s'] for r in label_runs]).median, 1)}",
            }
        )
    mine = runs[HARDENED]
    refused = sum(r["awaiting_refused"] + r["fast_refused"] for r in mine)
    return COMPARISON.result(
        verdict=Verdict.MET if mine and refused == 0 else Verdict.NOT_MET,
        verdict_detail=f"hardened refused {refused} request(s) over {len(mine)} run(s)",
        columns=COLUMNS,
        rows=rows,
        notes=[
            f"{AWAITING} requests awaiting a {SLOW_S:.0f} s sleep, started at once on their own "
            f"connections, beside {STREAM_RPS:.0f} fast requests/s for {STREAM_S:.0f} s; one "
            "figure per round (interleaved rounds, a fresh server per run).",
            "The CPU is idle throughout: no refusal here protects the process.",
        ],
        data={"runs": runs, "default_stack": stack},
    )


COMPARISON = Comparison(
    name="io_bound",
    title="I/O-bound load (200 requests awaiting a slow upstream)",
    target="hardened refuses none of them while the process is not saturated",
    run=run,
    budget_seconds=90,
)
