"""Observe drills: RED, state and SLO series on /metrics; junk traffic; 3x CPU overload."""

from __future__ import annotations

import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hardened.drill._model import Drill, Outcome, Skip, measure
from hardened.drill._target import Target
from hardened.drill._wire import Answer, KeepAlive, request

__all__ = ["DRILLS"]

RED = (
    "http_server_request_duration_seconds_bucket",
    "http_server_requests_total",
    "http_server_active_requests",
)
STATE = ("hardened_mechanism_state",)
SLO = ("slo_objective", "slo_burn_rate")
JUNK_REQUESTS = 200
JUNK_SERIES_ALLOWED = 12
OVERLOAD_FACTOR = 3
OVERLOAD_S = 3.0
MIN_OFFERED_FACTOR = 2.0
QUEUED_FACTOR = 10  # median answer 10x one request's time: the service was saturated
CLIENT_THREADS = 64
CHEAP_S = 0.010  # a cpu request answered faster than this gets CPU_COST_MS added
CPU_COST_MS = 15.0
MAX_OVERLOAD_REQUESTS = 3000


def _series(target: Target) -> dict[str, int]:
    answer = target.admin("/metrics")
    if answer.status != 200:
        raise Skip(f"no /metrics on the admin listener (status {answer.status})")
    counts: dict[str, int] = {}
    for line in answer.body.decode(errors="replace").splitlines():
        if line and not line.startswith("#"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            counts[name] = counts.get(name, 0) + 1
    return counts


def families(target: Target) -> Outcome:
    target.get("/__drill__/unmatched")  # one request, so RED has a series to show
    series = _series(target)
    slos = target.evidence("observe").get("slos") or []
    wanted = [*RED, *STATE, *(SLO if slos else ())]
    missing = [name for name in wanted if not series.get(name)]
    failures = [f"/metrics lacks {', '.join(missing)}"] if missing else []
    measured = {name: series.get(name, 0) for name in wanted}
    return measure(measured, failures, f"{len(wanted)} families present")


def junk(target: Target) -> Outcome:
    before = _series(target).get("http_server_requests_total", 0)
    rng = random.Random(19)  # noqa: S311 - junk paths, not secrets
    methods = ("GET", "POST", "PURGE", "BREW", "DELETE")

    def one(index: int) -> int:
        path = f"/__drill__/{rng.getrandbits(64):x}/{index}?q={rng.getrandbits(32)}"
        try:
            return request(target.url, methods[index % len(methods)], path, timeout=5).status
        except OSError:
            return 0

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(JUNK_REQUESTS)))
    after = _series(target).get("http_server_requests_total", 0)
    budget = target.evidence("observe").get("red", {}).get("series_budget")
    failures = []
    if not after:
        failures.append("no http_server_requests_total series: junk traffic is not even counted")
    elif after - before > JUNK_SERIES_ALLOWED:
        failures.append(f"{JUNK_REQUESTS} junk requests added {after - before} series")
    if budget is not None and after > int(budget):
        failures.append(f"{after} series, over the budget of {budget}")
    measured = {
        "requests": JUNK_REQUESTS,
        "series_before": before,
        "series_after": after,
        "series_budget": budget,
        "answered": sum(1 for s in statuses if s),
    }
    return measure(measured, failures, f"{after - before} new series for {JUNK_REQUESTS} requests")


def _stalls(target: Target) -> int:
    """Loop stalls so far: the loop thread starved of CPU, no code of its own to blame."""
    return int(target.evidence("loop").get("stalls_total", 0) or 0)


def _service_time(target: Target, cpu: dict[str, Any]) -> float:
    """Seconds one cpu request takes when nothing else runs (refusals do not count)."""
    times = []
    for _ in range(6):
        answer = target.send(cpu, timeout=10)
        if 200 <= answer.status < 300:
            times.append(answer.seconds)
        if len(times) == 3:
            break
        time.sleep(0.2)  # let the shedder see an idle loop again
    if not times:
        raise Skip("the declared cpu request never succeeded on an idle service")
    return min(times)


def overload(target: Target) -> Outcome:
    cpu, critical = target.declared("cpu"), target.declared("critical")
    if _service_time(target, cpu) >= CHEAP_S or not target.manifest().get("cpu_cost"):
        return _offer(target, cpu, critical, added_ms=0.0)
    # One request costs the client about what it costs the server: make each one cost the
    # server CPU_COST_MS more (below the shedder), or no client here could offer 3x.
    target.hook("cpu", {"ms": CPU_COST_MS})
    try:
        return _offer(target, cpu, critical, added_ms=CPU_COST_MS)
    finally:
        target.hook("cpu", {"ms": 0})


def _offer(
    target: Target, cpu: dict[str, Any], critical: dict[str, Any], *, added_ms: float
) -> Outcome:
    one = _service_time(target, cpu)
    shedder = bool((target.evidence("observe").get("shed") or {}).get("enabled"))
    rate = OVERLOAD_FACTOR / max(one, 0.001)
    count = min(int(rate * OVERLOAD_S), MAX_OVERLOAD_REQUESTS)
    stop = threading.Event()
    vital: list[Answer] = []

    def watch() -> None:
        while not stop.is_set() and len(vital) < 200:
            try:
                vital.append(target.send(critical, timeout=10))
            except OSError:
                vital.append(Answer(0))
            stop.wait(0.1)

    sent_at: list[float] = []

    local = threading.local()
    opened: list[KeepAlive] = []

    def fire(index: int) -> Answer:
        time.sleep(max(0.0, started + index / rate - time.monotonic()))  # open loop
        sent_at.append(time.monotonic())
        client: KeepAlive | None = getattr(local, "client", None)
        if client is None:
            client = local.client = KeepAlive(target.url, timeout=10)
            opened.append(client)
        try:
            return client.request(cpu["method"], cpu["path"], cpu.get("headers", {}))
        except OSError:
            return Answer(0)

    stalls = _stalls(target)
    watcher = threading.Thread(target=watch)
    started = time.monotonic()
    watcher.start()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        answers = list(pool.map(fire, range(count)))
    for client in opened:
        client.close()
    stop.set()
    watcher.join(15)
    offered = count / max(max(sent_at, default=started) - started, 0.001)
    shed = [a for a in answers if a.status == 503 and "retry-after" in a.headers]
    queued = statistics.median(a.seconds for a in answers) >= QUEUED_FACTOR * one
    # The excuses below are for a shedder that a busy host kept from its work; a service whose
    # report shows no shedder has no such excuse.
    if shedder and not shed and not queued and offered * one < MIN_OFFERED_FACTOR:
        # Neither shed nor queued: the client, not the service, was the bottleneck.
        raise Skip(
            f"this client offered only {offered * one:.1f}x what one process serves "
            f"({offered:.0f} requests/s); run the drill from a less loaded machine"
        )
    starved = _stalls(target) - stalls
    if shedder and not shed and starved > 0:  # the host, not this process's own work, took the CPU
        raise Skip(
            f"the loop stalled {starved} times (its thread starved of CPU by other processes): "
            "not this process's overload; run the drill on a less loaded machine"
        )
    good = [a for a in vital if 200 <= a.status < 300]
    failures = []
    if not shed:
        failures.append(
            f"{count} requests at {OVERLOAD_FACTOR}x capacity: none shed with 503"
            + ("" if shedder else " (/gates shows no shedder)")
        )
    if len(good) < 0.9 * len(vital):
        failures.append(f"critical traffic: {len(good)} of {len(vital)} succeeded")
    measured = {
        "added_cpu_ms": added_ms,
        "one_request_s": round(one, 4),
        "offered_rps": round(rate, 1),
        "sent": count,
        "achieved_rps": round(offered, 1),
        "shed_503": len(shed),
        "served": sum(1 for a in answers if 200 <= a.status < 300),
        "critical_ok": len(good),
        "critical_sent": len(vital),
    }
    return measure(measured, failures, f"{len(shed)} shed, critical {len(good)}/{len(vital)}")


DRILLS = (
    Drill(
        gate="observe",
        name="metrics_families",
        did="send one unmatched request, scrape /metrics on the admin listener",
        expected="RED histogram, counter and gauge, mechanism state, and SLO series if declared",
        run=families,
        safe=True,
    ),
    Drill(
        gate="observe",
        name="junk_traffic",
        did=f"send {JUNK_REQUESTS} requests with random paths and odd methods",
        expected=f"at most {JUNK_SERIES_ALLOWED} new series, the total within the series budget",
        run=junk,
        safe=True,
    ),
    Drill(
        gate="observe",
        name="overload_shed",
        did=f"offer the declared cpu request at {OVERLOAD_FACTOR}x what one process serves",
        expected="some refused 503 + Retry-After; 90 % of the critical requests succeed",
        run=overload,
    ),
)
