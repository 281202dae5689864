"""Loop monitor overhead: server CPU per request with the monitor on and off, interleaved.

    python -m benchmarks.loop_overhead [--requests 3000] [--rounds 6] [--concurrency 4]
                                       [--loop asyncio|uvloop]

Each round serves the same trivial route from two `hardened run` subprocesses, one with the loop
monitor (the default `LoopConfig()`) and one with `loop=None`, in alternating order, and reads
the server process's CPU time around a fixed number of keep-alive requests (sent by
`--concurrency` client threads, enough to keep the server busy rather than idling between
requests, where wake-up costs would dominate): the sum of its
threads' `/proc/<pid>/task/*/schedstat` on Linux (nanoseconds), psutil's user + system time
elsewhere (10 ms ticks). It also measures the idle CPU of each. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.testing import RunningServer, run_server

REPO_ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 200
IDLE_SECONDS = 2.0


async def ping(request: Request) -> Response:
    return PlainTextResponse("pong")


monitored = Service("bench-loop-on", routes=[Route("/ping", ping)])
unmonitored = Service("bench-loop-off", routes=[Route("/ping", ping)], loop=None)
VARIANTS = {
    "on": "benchmarks.loop_overhead:monitored",
    "off": "benchmarks.loop_overhead:unmonitored",
}


def _cpu_seconds(process: psutil.Process) -> float:
    tasks = Path(f"/proc/{process.pid}/task")
    if tasks.is_dir():
        total = 0
        for task in tasks.iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # a thread that just ended
        return total / 1e9
    times = process.cpu_times()
    return float(times.user + times.system)


def _drive(url: str, requests: int) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        for _ in range(requests):
            if client.get("/ping").status_code != 200:
                raise RuntimeError("the benchmark route failed")


def _measure(server: RunningServer, requests: int, concurrency: int) -> dict[str, float]:
    process = psutil.Process(server.pid)
    _drive(server.url, WARM_UP)
    idle_before = _cpu_seconds(process)
    time.sleep(IDLE_SECONDS)
    idle_cpu = _cpu_seconds(process) - idle_before
    share = requests // concurrency
    with ThreadPoolExecutor(concurrency) as clients:
        before, started = _cpu_seconds(process), time.perf_counter()
        for done in [clients.submit(_drive, server.url, share) for _ in range(concurrency)]:
            done.result()
        cpu, wall = _cpu_seconds(process) - before, time.perf_counter() - started
    return {
        "cpu_us_per_request": cpu / (share * concurrency) * 1e6,
        "requests_per_second": share * concurrency / wall,
        "idle_cpu_ms_per_second": idle_cpu / IDLE_SECONDS * 1e3,
    }


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def run(requests: int, rounds: int, loop: str, concurrency: int) -> dict[str, Any]:
    """Interleaved rounds; per-round on/off ratios give the spread."""
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    for index in range(rounds):
        order = ("on", "off") if index % 2 == 0 else ("off", "on")
        for variant in order:
            with run_server(VARIANTS[variant], cwd=REPO_ROOT, args=["--loop", loop]) as server:
                runs[variant].append(_measure(server, requests, concurrency))
    per_request = {v: [r["cpu_us_per_request"] for r in runs[v]] for v in runs}
    ratios = [on / off for on, off in zip(per_request["on"], per_request["off"], strict=True)]
    return {
        "benchmark": "loop_overhead",
        "loop": loop,
        "requests_per_run": requests,
        "client_threads": concurrency,
        "rounds": rounds,
        "server_cpu_us_per_request": {v: _summary(per_request[v]) for v in runs},
        "server_cpu_us_per_request_runs": {
            v: [round(x, 2) for x in per_request[v]] for v in per_request
        },
        "ratio_on_over_off": _summary(ratios),
        "idle_server_cpu_ms_per_second": {
            v: _summary([r["idle_cpu_ms_per_second"] for r in runs[v]]) for v in runs
        },
        "requests_per_second": {
            v: _summary([r["requests_per_second"] for r in runs[v]]) for v in runs
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its JSON document."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loop_overhead")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--loop", default="asyncio", choices=["asyncio", "uvloop"])
    args = parser.parse_args(argv)
    document = run(args.requests, args.rounds, args.loop, args.concurrency)
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
