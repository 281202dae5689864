"""Observe drills: RED, state and SLO series on /metrics; junk traffic; 3x CPU overload."""

from __future__ import annotations

import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from hardened.drill._model import Drill, Outcome, Skip, measure
from hardened.drill._target import Target
from hardened.drill._wire import Answer, request

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


def overload(target: Target) -> Outcome:
    cpu, critical = target.declared("cpu"), target.declared("critical")
    one = statistics.median(target.send(cpu, timeout=10).seconds for _ in range(3))
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

    def fire(index: int) -> Answer:
        time.sleep(max(0.0, started + index / rate - time.monotonic()))  # open loop
        try:
            return target.send(cpu, timeout=10)
        except OSError:
            return Answer(0)

    watcher = threading.Thread(target=watch)
    started = time.monotonic()
    watcher.start()
    with ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(fire, range(count)))
    stop.set()
    watcher.join(15)
    elapsed = time.monotonic() - started
    shed = [a for a in answers if a.status == 503 and "retry-after" in a.headers]
    good = [a for a in vital if 200 <= a.status < 300]
    failures = []
    if not shed:
        failures.append(f"{count} requests at {OVERLOAD_FACTOR}x capacity: none shed with 503")
    if len(good) < 0.9 * len(vital):
        failures.append(f"critical traffic: {len(good)} of {len(vital)} succeeded")
    measured = {
        "one_request_s": round(one, 4),
        "offered_rps": round(rate, 1),
        "sent": count,
        "achieved_rps": round(count / elapsed, 1),
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
