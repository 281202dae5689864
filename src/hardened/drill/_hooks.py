"""Drill hooks on the admin listener: `/drill/*`, off (404) without a token, never public.

`DrillHooks(DrillConfig(...))` joins a service like any mechanism. It publishes the admin
sub-application as the `admin.drill` fact (the admin listener mounts it at `/drill`) and, when
a proof document is configured, the `gates.proof` fact that `/gates` applies.

    GET  /drill                        what the service declared (requests, hooks)
    POST /drill/block_loop             {"seconds": 0.3}: the declared function blocks the loop
    POST /drill/dependency/<name>      {"mode": "fail" | "hang" | "slow" | "pass" | "off"}
                                       (with "latency_s" for slow): each attempt meets it
    GET  /drill/dependency/<name>      attempts seen, those waiting, the last attempt's budget
    POST /drill/pool/<name>            {"hold_s": 2}: check out every connection, for that long
    POST /drill/cpu                    {"ms": 15}: each declared `cpu` request holds the loop
                                       that long on CPU first (0: off); GET: the cost in force
    GET  /drill/effects                the declared effect counter (the idempotency drill)
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from hardened.breaker import BOARD_FACT
from hardened.deadline import outbound_headers, remaining
from hardened.drill._config import DrillConfig
from hardened.drill._cpu import CpuCost, CpuSetting
from hardened.drill._proof import ProofBook
from hardened.errors import DeadlineExceeded
from hardened.outbound import Dependency
from hardened.pool import POOLS_FACT, PostgresPool

if TYPE_CHECKING:
    from hardened.gates import Installer

__all__ = ["DependencyFault", "DrillHooks"]

MODES = ("pass", "fail", "hang", "slow", "off")
MAX_BLOCK_S = 5.0
MAX_HOLD_S = 10.0
MAX_LATENCY_S = 10.0
MAX_CPU_MS = 100.0


class DependencyFault:
    """The fault a dependency's attempts meet while a drill runs (installed on `dep.fault`)."""

    def __init__(self, dependency: Dependency) -> None:
        self.dependency = dependency
        self.mode = "off"  # detached: the dependency's attempts never meet it
        self.latency_s = 0.0
        self.attempts = 0
        self.waiting = 0
        self.budget_s: float | None = None
        self.header: str | None = None

    async def __call__(self) -> None:
        self.attempts += 1
        left = remaining()
        self.budget_s = None if left is None else round(left, 4)
        try:
            self.header = next(iter(outbound_headers().values()), None)
        except DeadlineExceeded:
            self.header = "spent"
        if self.mode == "fail":
            raise ConnectionRefusedError(f"drill: {self.dependency.name} made to fail")
        if self.mode in ("hang", "slow"):
            self.waiting += 1
            try:  # a hang lasts until the attempt timeout ends it
                await asyncio.sleep(self.latency_s if self.mode == "slow" else 3600)
            finally:
                self.waiting -= 1

    def state(self) -> dict[str, Any]:
        """The fault and what it saw."""
        return {
            "dependency": self.dependency.name,
            "mode": self.mode,
            "latency_s": self.latency_s if self.mode == "slow" else None,
            "attempts": self.attempts,
            "waiting": self.waiting,
            "budget_s": self.budget_s,
            "header": self.header,
            "breaker": self.dependency.breaker.state.value,
        }


async def _reply(send: Send, status: int, document: Any) -> None:
    body = json.dumps(document, default=str).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_json(receive: Receive, limit: int = 4096) -> Any:
    body = b""
    more = True
    while more and len(body) <= limit:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return None


class DrillHooks:
    """The drill mechanism: hooks on the admin listener and the proof in `/gates`."""

    def __init__(self, config: DrillConfig | None = None) -> None:
        self.config = config or DrillConfig()
        self._service: Installer | None = None
        self._faults: dict[str, DependencyFault] | None = None
        self._pools: dict[str, PostgresPool] | None = None
        self.unresolved: list[str] = []
        self._holds: set[asyncio.Task[None]] = set()
        self.proof = ProofBook(self.config.proof_path(), self.config.prove_within_days)
        cpu = self.config.cpu
        self.cpu = CpuSetting(cpu.method, cpu.path) if cpu is not None else None
        self._cpu_layer = False

    def install(self, service: Installer) -> None:
        """Publish the admin sub-application and, with a proof document, the proof; with a
        declared `cpu` request on a Starlette application, the overload drill's CPU seam."""
        self._service = service
        service.publish_fact("admin.drill", lambda: self)
        service.publish_fact("drill.config", lambda: self.config)
        service.publish_fact("gates.proof", lambda: self.proof)
        if self.cpu is not None and isinstance(service.app, Starlette):
            service.app.add_middleware(CpuCost, setting=self.cpu)
            self._cpu_layer = True

    @property
    def faults(self) -> dict[str, DependencyFault]:
        """A fault per declared dependency, by name, in the declared order."""
        if self._faults is None:
            self._resolve()
        assert self._faults is not None
        return self._faults

    @property
    def pools(self) -> dict[str, PostgresPool]:
        """The declared pools by name, in the declared order."""
        if self._pools is None:
            self._resolve()
        assert self._pools is not None
        return self._pools

    def _resolve(self) -> None:
        """Find the dependencies and pools declared by name among the service's own (once
        serving: every mechanism has joined by then, whatever order they came in)."""
        service = self._service
        board = service.fact(BOARD_FACT) if service is not None else None
        known = {d.name: d for d in board if isinstance(d, Dependency)} if board else {}
        registry = service.fact(POOLS_FACT) if service is not None else None
        pools = {p.name: p for p in registry if isinstance(p, PostgresPool)} if registry else {}
        self._faults, self._pools, self.unresolved = {}, {}, []
        for item in self.config.dependencies:
            dependency = known.get(item) if isinstance(item, str) else item
            if dependency is None:
                self.unresolved.append(f"dependency {item!r}")
            else:
                self._faults[dependency.name] = DependencyFault(dependency)
        for entry in self.config.pools:
            pool = pools.get(entry) if isinstance(entry, str) else entry
            if pool is None:
                self.unresolved.append(f"pool {entry!r}")
            else:
                self._pools[pool.name] = pool

    def _authorized(self, scope: Scope) -> bool:
        token = self.config.current_token()
        if not token:
            return False
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                return hmac.compare_digest(value, f"Bearer {token}".encode())
        return False

    def manifest(self) -> dict[str, Any]:
        """What the service declared for drills."""
        block = self.config.block_loop
        code = getattr(block, "__code__", None)
        return {
            "requests": {role: spec.to_json() for role, spec in self.config.requests().items()},
            "dependencies": list(self.faults),
            "pools": list(self.pools),
            "unresolved": self.unresolved,
            "cpu_cost": self._cpu_layer,
            "block_loop": None
            if code is None
            else {"file": code.co_filename, "line": code.co_firstlineno, "function": code.co_name},
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._authorized(scope):
            await _reply(send, 404, {"status": "not found", "path": scope["path"]})
            return
        method, path = scope["method"], scope["path"].rstrip("/")
        parts = path.split("/")[2:]  # "", "drill", ...
        if not parts and method == "GET":
            await _reply(send, 200, self.manifest())
        elif parts == ["block_loop"] and method == "POST" and self.config.block_loop:
            await self._block(receive, send)
        elif len(parts) == 2 and parts[0] == "dependency" and parts[1] in self.faults:
            await self._fault(self.faults[parts[1]], method, receive, send)
        elif parts == ["effects"] and method == "GET" and self.config.effects:
            await _reply(send, 200, {"count": await self.config.effects()})
        elif len(parts) == 2 and parts[0] == "pool" and parts[1] in self.pools:
            await self._hold(self.pools[parts[1]], receive, send)
        elif parts == ["cpu"] and self._cpu_layer:
            await self._cpu(method, receive, send)
        else:
            await _reply(send, 404, {"status": "not found", "path": path})

    async def _block(self, receive: Receive, send: Send) -> None:
        payload = await _read_json(receive)
        seconds = payload.get("seconds") if isinstance(payload, dict) else None
        if not isinstance(seconds, int | float) or not 0 < seconds <= MAX_BLOCK_S:
            await _reply(send, 400, {"error": f"seconds in (0, {MAX_BLOCK_S}]"})
            return
        assert self.config.block_loop is not None
        started = time.monotonic()
        self.config.block_loop(float(seconds))  # on the loop, on purpose: that is the drill
        await _reply(send, 200, {"blocked_s": round(time.monotonic() - started, 4)})

    async def _cpu(self, method: str, receive: Receive, send: Send) -> None:
        assert self.cpu is not None
        if method == "POST":
            payload = await _read_json(receive)
            ms = payload.get("ms") if isinstance(payload, dict) else None
            if not isinstance(ms, int | float) or not 0 <= ms <= MAX_CPU_MS:
                await _reply(send, 400, {"error": f"ms in [0, {MAX_CPU_MS}]"})
                return
            self.cpu.ms = float(ms)
        await _reply(
            send, 200, {"method": self.cpu.method, "path": self.cpu.path, "ms": self.cpu.ms}
        )

    async def _fault(
        self, fault: DependencyFault, method: str, receive: Receive, send: Send
    ) -> None:
        if method == "POST":
            payload = await _read_json(receive)
            mode = payload.get("mode") if isinstance(payload, dict) else None
            if mode not in MODES:
                await _reply(send, 400, {"error": f"mode is one of {MODES}"})
                return
            latency = payload.get("latency_s", 0.0)
            if mode == "slow" and (
                not isinstance(latency, int | float) or not 0 < latency <= MAX_LATENCY_S
            ):
                await _reply(send, 400, {"error": f"slow needs latency_s in (0, {MAX_LATENCY_S}]"})
                return
            fault.mode = str(mode)
            fault.latency_s = float(latency) if mode == "slow" else 0.0
            fault.attempts = 0
            # "off" detaches the fault: the dependency's attempts pay nothing for drills again.
            fault.dependency.fault = None if mode == "off" else fault
        await _reply(send, 200, fault.state())

    async def _hold(self, pool: PostgresPool, receive: Receive, send: Send) -> None:
        payload = await _read_json(receive)
        seconds = payload.get("hold_s") if isinstance(payload, dict) else None
        if not isinstance(seconds, int | float) or not 0 < seconds <= MAX_HOLD_S:
            await _reply(send, 400, {"error": f"hold_s in (0, {MAX_HOLD_S}]"})
            return
        size = pool.config.max_size
        held = asyncio.Event()
        count = [0]

        async def one() -> None:
            async with pool.acquire():
                count[0] += 1
                if count[0] == size:
                    held.set()
                await asyncio.sleep(float(seconds))

        async def hold_all() -> None:
            await asyncio.gather(*(one() for _ in range(size)), return_exceptions=True)
            held.set()

        task = asyncio.create_task(hold_all())
        self._holds.add(task)  # kept until done, so the hold cannot be collected mid-way
        task.add_done_callback(self._holds.discard)
        try:
            async with asyncio.timeout(pool.config.acquire_timeout + 1.0):
                await held.wait()
        except TimeoutError:
            await _reply(
                send, 409, {"error": "could not check out every connection", "held": count[0]}
            )
            return
        await _reply(
            send,
            200,
            {
                "held": count[0],
                "max_size": size,
                "hold_s": seconds,
                "acquire_timeout_s": pool.config.acquire_timeout,
            },
        )
