"""Outbound-call overhead: a full `Dependency.call` on the success path over a bare await,
beside tenacity, stamina, asyncio.wait_for, asyncio.timeout and purgatory, in one process.

Every variant wraps the same coroutine (it returns at once, so the figure is the wrapper's own
cost). Batches of calls alternate between the variants, best of 5 batches per round (noise only
adds time); the overhead is each variant's time per call minus the bare await's, per round.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import time
from collections.abc import Awaitable, Callable

import stamina
import tenacity
from purgatory import AsyncCircuitBreakerFactory

from benchmarks._registry import Comparison, Context, Result, Verdict
from benchmarks._stats import paired_differences, spread
from hardened import Service
from hardened.outbound import Dependency

TARGET_US = 10.0
PEERS = ("tenacity", "stamina", "purgatory")
BATCHES = 5
Variant = Callable[[], Awaitable[int]]
COLUMNS = ["variant", "what it does per call", "µs/call", "+µs over a bare await"]


async def work() -> int:
    return 1


def _variants() -> dict[str, tuple[str, Variant]]:
    dependency = Dependency("processor")
    Service("bench-outbound", mechanisms=[dependency])  # Prometheus and state subscribers on

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_random_exponential(multiplier=0.1, max=2.0),
        reraise=True,
    )
    async def with_tenacity() -> int:
        return await work()

    @stamina.retry(on=ConnectionError, attempts=3)
    async def with_stamina() -> int:
        return await work()

    breakers = AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=5)

    @breakers("processor")  # type: ignore[untyped-decorator]
    async def with_purgatory() -> int:
        return await work()

    async def with_dependency() -> int:
        return await dependency.call(work)

    async def with_wait_for() -> int:
        return await asyncio.wait_for(work(), 2.0)

    async def with_timeout() -> int:
        async with asyncio.timeout(2.0):
            return await work()

    purgatory_call: Variant = with_purgatory
    return {
        "bare await": ("nothing", work),
        "hardened Dependency.call": (
            "breaker permit, bulkhead slot, attempt timeout, budget deposit, metrics; "
            "retries only after a failure",
            with_dependency,
        ),
        "tenacity @retry": ("retry loop: 3 attempts, random exponential wait", with_tenacity),
        "stamina.retry": ("tenacity underneath: 3 attempts, jittered backoff", with_stamina),
        "asyncio.wait_for": ("a timeout (3.11: wraps the coroutine in a task)", with_wait_for),
        "asyncio.timeout": ("a timeout alone (the timer hardened uses)", with_timeout),
        "purgatory breaker": ("a consecutive-failure breaker (in memory)", purgatory_call),
    }


async def _batch(variant: Variant, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await variant()
    return (time.perf_counter() - start) / calls * 1e6


async def _round(variants: dict[str, Variant], calls: int) -> dict[str, float]:
    best = dict.fromkeys(variants, float("inf"))
    for variant in variants.values():  # warm-up: lazy state, caches
        await _batch(variant, 200)
    for _ in range(BATCHES):
        for label, variant in variants.items():
            best[label] = min(best[label], await _batch(variant, calls))
    return best


async def _measure(rounds: int, calls: int) -> tuple[dict[str, str], dict[str, list[float]]]:
    variants = _variants()
    plain = {label: fn for label, (_, fn) in variants.items()}
    samples: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(rounds):
        for label, cost in (await _round(plain, calls)).items():
            samples[label].append(cost)
    return {label: what for label, (what, _) in variants.items()}, samples


def run(ctx: Context) -> Result:
    """Measure every variant in alternating batches; the hardened overhead against the target."""
    rounds, calls = ctx.rounds(7), 2_000 if ctx.quick else 10_000
    descriptions, samples = asyncio.run(_measure(rounds, calls))
    bare = samples["bare await"]
    rows, summary = [], {}
    for label, costs in samples.items():
        overhead = spread(paired_differences(bare, costs))
        summary[label] = {"us_per_call": spread(costs).as_dict(), "overhead_us": overhead.as_dict()}
        rows.append(
            {
                "variant": label,
                "what it does per call": descriptions[label],
                "µs/call": spread(costs).fmt(1),
                "+µs over a bare await": overhead.fmt(1),
            }
        )
    hardened = spread(paired_differences(bare, samples["hardened Dependency.call"]))
    met = hardened.median <= TARGET_US
    detail = (
        f"hardened Dependency.call adds {hardened.median:.1f} µs per call "
        f"(rounds {hardened.low:.1f}–{hardened.high:.1f}; target ≤ {TARGET_US:.0f} µs)"
    )
    notes = [
        f"{rounds} rounds; each round runs {BATCHES} batches of {calls:,} calls per variant, "
        "alternating between variants, and keeps each variant's fastest batch; figures are "
        "medians over rounds (min–max in brackets), wall time per call in one process.",
        "The hardened variant is registered on a Service, so its Prometheus subscriber and "
        "mechanism-state readers are live; its breaker, bulkhead and timer run on every call.",
        "The peers do less: tenacity and stamina retry without a timeout, breaker or budget; "
        "purgatory is a breaker without a timeout; asyncio.wait_for and asyncio.timeout are "
        "a timeout alone.",
        "Versions: "
        + ", ".join(f"{name} {importlib.metadata.version(name)}" for name in PEERS)
        + ".",
    ]
    return COMPARISON.result(
        verdict=Verdict.MET if met else Verdict.NOT_MET,
        verdict_detail=detail,
        columns=COLUMNS,
        rows=rows,
        notes=notes,
        data={
            "rounds": rounds,
            "calls_per_batch": calls,
            "summary": summary,
            "samples": samples,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )


COMPARISON = Comparison(
    name="outbound_overhead",
    title="Outbound call overhead (success path)",
    target=f"a full Dependency.call adds ≤ {TARGET_US:.0f} µs per call over a bare await",
    run=run,
    budget_seconds=120,
)
