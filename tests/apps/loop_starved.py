"""Run a loop monitor on an idle loop, pinned to CPU 0 in the idle class; print its events.

`python -m tests.apps.loop_starved SECONDS` — the stall test runs CPU hogs on the same CPU.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from prometheus_client import CollectorRegistry

from hardened.loop import LoopConfig, LoopMonitor


async def watch(seconds: float) -> dict[str, object]:
    monitor = LoopMonitor(LoopConfig(), registry=CollectorRegistry())
    async with monitor.running():
        for _ in range(round(seconds / 0.1)):
            await asyncio.sleep(0.1)
        await monitor.settle()
    return {
        "blocked": [event.to_json() for event in monitor.events()],
        "stalls": [event.to_json() for event in monitor.stalls()],
        "lag": monitor.lag_summary(),
    }


def main() -> None:
    os.sched_setaffinity(0, {0})
    # SCHED_IDLE, not only nice 19: a niced task waking from sleep is still placed near the
    # front of the run queue and often runs at once; an idle-class task waits for the hogs.
    os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    print(json.dumps(asyncio.run(watch(float(sys.argv[1])))))


if __name__ == "__main__":
    main()
