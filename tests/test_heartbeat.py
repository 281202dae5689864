"""One heartbeat per loop: shared by the loop monitor and the shedder, paused when idle."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from hardened import Service
from hardened.heartbeat import Heartbeat
from hardened.testing import free_port, run_server


def test_the_service_runs_one_heartbeat_for_the_loop_monitor_and_the_shedder() -> None:
    """The shedder's queue delay and the loop monitor read the same heartbeat, at 10 ms."""
    service = Service("one-heartbeat")
    heartbeat = service.fact("loop.heartbeat")
    assert isinstance(heartbeat, Heartbeat)
    assert service.shedder is not None
    assert service.shedder.monitor.heartbeat is heartbeat
    assert service.fact("loop.monitor").heartbeat is heartbeat
    assert heartbeat.period == 0.010


async def test_every_listener_sees_each_tick_and_it_pauses_only_when_all_are_idle() -> None:
    """Two listeners get the same ticks; the beat pauses once both checks say idle, and
    ensure_running resumes it (telling the resume listeners)."""
    heartbeat = Heartbeat(0.005)
    seen: list[list[float]] = [[], []]
    heartbeat.subscribe(lambda now, lag: seen[0].append(now))
    heartbeat.subscribe(lambda now, lag: seen[1].append(now))
    idle = [False, False]
    heartbeat.pause_when(lambda now, lag: idle[0])
    heartbeat.pause_when(lambda now, lag: idle[1])
    resumed: list[bool] = []
    heartbeat.on_resume(lambda: resumed.append(True))
    loop = asyncio.get_running_loop()
    heartbeat.ensure_running(loop)
    await asyncio.sleep(0.05)
    idle[0] = True
    await asyncio.sleep(0.05)
    assert heartbeat.loop is loop  # one check still busy: it beats on
    idle[1] = True
    for _ in range(20):  # bounded: 20 waits of one period
        if heartbeat.loop is None:
            break
        await asyncio.sleep(0.005)
    assert heartbeat.loop is None
    assert heartbeat.pauses == 1
    assert seen[0] == seen[1]
    assert len(seen[0]) >= 5
    ticks = len(seen[0])
    await asyncio.sleep(0.03)
    assert len(seen[0]) == ticks  # paused: no tick
    heartbeat.ensure_running(loop)
    assert resumed == [True, True]
    heartbeat.stop()


def _shed_state(admin_url: str) -> dict[str, object]:
    report = httpx.get(f"{admin_url}/gates").json()
    gate = next(g for g in report["gates"] if g["name"] == "observe")
    state: dict[str, object] = gate["evidence"]["shed"]
    return state


def test_an_idle_service_pauses_its_heartbeat_and_liveness_still_holds(repo_root: Path) -> None:
    """After `heartbeat_idle_pause` (1 s) without requests the one heartbeat pauses; the probe
    port's /livez still answers 200 (it asks the loop to turn), and a request resumes it."""
    probe_port = free_port()
    args = ["--probe-port", str(probe_port)]
    with run_server("tests.apps.shed_overload:app", cwd=repo_root, args=args) as server:
        assert httpx.get(f"{server.url}/fast").status_code == 200
        assert _shed_state(server.admin_url)["heartbeat_running"] is True
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and _shed_state(server.admin_url)["heartbeat_running"]:
            time.sleep(0.2)
        assert _shed_state(server.admin_url)["heartbeat_running"] is False
        live = httpx.get(f"http://127.0.0.1:{probe_port}/livez", timeout=2.0)
        assert live.status_code == 200, live.text
        assert httpx.get(f"http://127.0.0.1:{probe_port}/readyz").status_code == 200
        assert httpx.get(f"{server.url}/fast").status_code == 200
        assert _shed_state(server.admin_url)["heartbeat_running"] is True
        report = httpx.get(f"{server.admin_url}/gates").json()
    loop_gate = next(g for g in report["gates"] if g["name"] == "loop")
    assert loop_gate["status"] == "pass", loop_gate
