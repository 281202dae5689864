"""The overload drill's CPU seam: each declared `cpu` request holds the loop on CPU first.

A client on the same machine cannot offer 3x what a process serves when one request costs it
about as much as it costs the server. While the drill runs (`POST /drill/cpu {"ms": 15}`, on
the admin listener), each request matching the declared `cpu` request spins for that long
before the application sees it: below the shedder, like a handler's own work, so a refused
request costs nothing. Off (0 ms) otherwise; a service that declares no `cpu` request has no
such layer at all.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["CpuCost", "CpuSetting"]


class CpuSetting:
    """The cost in force for one declared request: `ms` of CPU each (0: off)."""

    def __init__(self, method: str, path: str) -> None:
        self.method = method
        self.path = path.split("?", 1)[0]
        self.ms = 0.0


class CpuCost:
    """Pure ASGI: requests matching `setting` spin `setting.ms` milliseconds first."""

    def __init__(self, app: ASGIApp, *, setting: CpuSetting) -> None:
        self.app = app
        self.setting = setting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        setting = self.setting
        if (
            setting.ms
            and scope["type"] == "http"
            and scope["path"] == setting.path
            and scope["method"] == setting.method
        ):
            end = time.perf_counter() + setting.ms / 1000
            while time.perf_counter() < end:  # CPU on the loop, as a handler's work is
                pass
        await self.app(scope, receive, send)
