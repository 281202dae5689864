"""The probe listener answers off the event loop: liveness is the loop turning, not the load."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
from prometheus_client import CollectorRegistry

from hardened import Service
from hardened.loop import LoopConfig, LoopMonitor
from hardened.server._probes import ProbeListener, ProbeSettings
from hardened.service import Phase


def test_livez_fails_while_the_loop_is_blocked_and_readyz_never_follows_load() -> None:
    """A loop blocked past `max_heartbeat_age` → /livez 503 within the probe's time, /readyz
    still 200; once the loop turns again /livez is 200."""
    service = Service("probes", loop=None)
    service.phase = Phase.READY
    monitor = LoopMonitor(LoopConfig(), registry=CollectorRegistry())
    settings = ProbeSettings(max_heartbeat_age=0.3, wake_timeout=0.2)
    listener = ProbeListener("127.0.0.1", 0, service, monitor, settings)
    listener.start()
    started, blocking, done = threading.Event(), threading.Event(), threading.Event()

    async def main() -> None:
        monitor.start()
        started.set()
        await asyncio.sleep(0.2)
        blocking.set()
        time.sleep(1.5)  # noqa: ASYNC251 - the block under test: the loop does not turn
        await asyncio.to_thread(done.wait, 5.0)
        monitor.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    url = f"http://127.0.0.1:{listener.port}"
    try:
        assert started.wait(5.0)
        assert httpx.get(f"{url}/livez", timeout=1.0).status_code == 200
        assert blocking.wait(5.0)
        time.sleep(0.5)  # past max_heartbeat_age
        began = time.monotonic()
        blocked = httpx.get(f"{url}/livez", timeout=1.0)
        assert blocked.status_code == 503, blocked.text
        assert time.monotonic() - began < settings.wake_timeout + 0.5
        assert httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200
        time.sleep(1.2)  # the block ends
        assert httpx.get(f"{url}/livez", timeout=1.0).status_code == 200
        assert httpx.get(f"{url}/other", timeout=1.0).status_code == 404
    finally:
        done.set()
        thread.join(10.0)
        listener.stop()
