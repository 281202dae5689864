"""The hardened runner behind `hardened run`: uvicorn with signals that end in exit 0.

Stock uvicorn re-raises the captured SIGTERM after a graceful shutdown, so the process dies
*by the signal* (exit 143) even when every request was answered. This runner hands the first
signal to the service's shutdown sequence (`_shutdown`: readiness 503, deregistration
delay, bounded drain, reverse teardown) and exits 0; the admin listener (`/gates`,
`/metrics`) runs as a second uvicorn server on the same loop and stops last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
import socket
import threading
from collections.abc import Generator
from dataclasses import dataclass
from types import FrameType
from typing import Literal

import uvicorn

from hardened._fields import check_fields
from hardened._logging import RequestIds, configure_logging
from hardened.endpoints import AdminApp
from hardened.errors import ConfigError
from hardened.lifecycle import LifecycleConfig, LifecycleGate, RunnerFacts, SlowClientStats
from hardened.server._probes import ProbeListener, ProbeSettings
from hardened.server._protocols import EdgeTimeouts, HardenedConfig, protocol_class
from hardened.server._shutdown import ShutdownSequence
from hardened.service import Service

__all__ = ["HardenedServer", "RunConfig", "run"]

logger = logging.getLogger("hardened.runner")

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunConfig:
    """How `hardened run` serves a service."""

    host: str = "127.0.0.1"
    port: int = 8000
    # None: the public host, so that in a pod Prometheus reaches /metrics on the pod IP.
    admin_host: str | None = None
    admin_port: int | None = 9000
    # The probe listener (/livez, /readyz off the event loop, on `host`); None: none.
    probe_port: int | None = None
    # None: the service's LifecycleConfig.keep_alive_timeout (65 s, above AWS ALB's 60 s).
    timeout_keep_alive: float | None = None
    # uvicorn's own drain, used only when the service has no shutdown mechanism
    # (`Service(shutdown=None)`); otherwise ShutdownConfig.drain_timeout is in force.
    drain_timeout: float = 17.0
    http: str = "auto"
    loop: str = "auto"
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    proxy_headers: bool = True  # trust X-Forwarded-* from forwarded_allow_ips (uvicorn's)
    forwarded_allow_ips: str | None = None  # None: $FORWARDED_ALLOW_IPS or 127.0.0.1
    root_path: str = ""
    ssl_keyfile: str | None = None
    ssl_certfile: str | None = None

    def __post_init__(self) -> None:
        check_fields(self)
        for name, port in (("port", self.port), ("admin_port", self.admin_port)):
            if port is not None and not 0 <= port <= 65535:
                raise ConfigError(f"{name} must be in 0..65535, got {port}")
        if self.admin_port is not None and self.admin_port == self.port and self.port != 0:
            raise ConfigError(f"the admin listener needs its own port, not {self.port} again")
        if (self.ssl_keyfile is None) != (self.ssl_certfile is None):
            raise ConfigError("TLS needs both ssl_keyfile and ssl_certfile")
        if (self.timeout_keep_alive is not None and self.timeout_keep_alive <= 0) or (
            self.drain_timeout <= 0
        ):
            raise ConfigError("timeouts must be positive")


class HardenedServer(uvicorn.Server):
    """A `uvicorn.Server` that hands the first signal to the service and exits 0."""

    def __init__(
        self,
        config: uvicorn.Config,
        service: Service,
        admin: uvicorn.Server | None,
        probes: ProbeListener | None = None,
    ):
        super().__init__(config)
        self.service = service
        self.admin = admin
        self.probes = probes
        self.signals_received: list[int] = []
        self.shutdown_sequence = ShutdownSequence.for_service(self, service)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Install SIGTERM/SIGINT handlers; unlike uvicorn, never re-raise them afterwards."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal: readiness 503 and `Connection: close` now, the drain after the delay.

        `should_exit` is not set here: the listener keeps serving for the deregistration delay
        and `on_tick` ends the main loop once it has passed. A second signal forces the exit.
        """
        del frame
        self.signals_received.append(sig)
        if not self.started and (self.service.components.abort_start() or self._abandon_start()):
            # A signal during start-up: the start fails now and the process exits.
            logger.warning("%s during start-up: start-up abandoned", signal.Signals(sig).name)
            return
        sequence = self.shutdown_sequence
        if sequence is None:  # the shutdown mechanism is off: uvicorn's own drain
            if self.should_exit:
                self.force_exit = True
                return
            self.service.begin_shutdown()
            self.should_exit = True
            return
        sequence.on_signal(sig)
        if sequence.forced:
            self.should_exit = True

    def _abandon_start(self) -> bool:
        """A signal while the application's own lifespan starts: report the start as failed
        (uvicorn then exits); False once that start is over, when the shutdown sequence acts."""
        lifespan = getattr(self, "lifespan", None)
        event = getattr(lifespan, "startup_event", None)
        if not isinstance(event, asyncio.Event) or event.is_set():
            return False
        lifespan.startup_failed = True  # type: ignore[union-attr]
        event.set()
        return True

    async def main_loop(self) -> None:
        if self.shutdown_sequence is not None:
            self.shutdown_sequence.attach()
        await super().main_loop()

    async def on_tick(self, counter: int) -> bool:
        sequence = self.shutdown_sequence
        if sequence is not None and sequence.due():
            self.should_exit = True
        should_exit = await super().on_tick(counter)
        if sequence is not None:
            sequence.refresh()
        return should_exit

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if self.probes is not None:
            self.probes.start()
        # The admin listener binds first: a busy admin port fails before the service starts.
        if self.admin is not None:
            self.admin.config.load()
            self.admin.lifespan = self.admin.config.lifespan_class(self.admin.config)
            await self.admin.startup()
        await super().startup(sockets=sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.shutdown_sequence is not None:
            await self.shutdown_sequence.run(sockets)
        else:
            await super().shutdown(sockets=sockets)
        if self.admin is not None and self.admin.started:
            self.admin.force_exit = True
            await self.admin.shutdown()
        if self.probes is not None:
            self.probes.stop()


def _lifecycle_gate(service: Service) -> LifecycleGate | None:
    gate = service.fact("lifecycle.gate")
    return gate if isinstance(gate, LifecycleGate) else None


def build_server(service: Service, config: RunConfig) -> HardenedServer:
    """The uvicorn servers (public and admin) for `service`, not yet started.

    Both listen through the hardened protocol classes (header, body and linger timeouts from
    the service's `LifecycleConfig`; on the public one, the shedder's early refusal); the
    lifecycle gate is told what is in force.
    """
    gate = _lifecycle_gate(service)
    lifecycle = gate.config if gate is not None else LifecycleConfig()
    keep_alive = math.ceil(config.timeout_keep_alive or lifecycle.keep_alive_timeout)
    timeouts = EdgeTimeouts(
        header_timeout=lifecycle.header_timeout,
        body_timeout=lifecycle.body_timeout,
        linger_timeout=lifecycle.linger_timeout,
    )
    protocol = protocol_class(config.http)
    stats = SlowClientStats()
    public = HardenedConfig(
        RequestIds(service),
        edge_timeouts=timeouts,
        edge_stats=stats,
        header_limits=lifecycle.header_limits,
        # The shedder's decision at headers-complete (httptools), before a task exists.
        early_refusal=service.fact("shed.early_refusal"),
        host=config.host,
        port=config.port,
        lifespan="on",
        http=protocol,
        loop=config.loop,
        log_level=config.log_level,
        log_config=None,  # configured by `configure_logging` in `run`
        timeout_keep_alive=keep_alive,
        timeout_graceful_shutdown=int(config.drain_timeout),
        proxy_headers=config.proxy_headers,
        forwarded_allow_ips=config.forwarded_allow_ips,
        root_path=config.root_path,
        ssl_keyfile=config.ssl_keyfile,
        ssl_certfile=config.ssl_certfile,
    )
    if gate is not None:
        gate.attach_runner(
            RunnerFacts(
                protocol=protocol.__name__,
                keep_alive_timeout=float(keep_alive),
                header_timeout=timeouts.header_timeout,
                body_timeout=timeouts.body_timeout,
                linger_timeout=timeouts.linger_timeout,
                stats=stats,
            )
        )
    admin = None
    if config.admin_port is not None:
        admin_config = HardenedConfig(
            RequestIds(AdminApp(service), access_log=False),  # scrapes stay out of the log
            edge_timeouts=timeouts,
            edge_stats=SlowClientStats(),
            header_limits=lifecycle.header_limits,
            host=config.admin_host or config.host,
            port=config.admin_port,
            lifespan="off",
            http=protocol,
            log_level=config.log_level,
            log_config=None,  # keep the public server's logging configuration
        )
        admin = uvicorn.Server(admin_config)
    probes = None
    if config.probe_port is not None:
        endpoints = service.endpoints
        probes = ProbeListener(
            config.host,
            config.probe_port,
            service,
            service.fact("loop.monitor"),
            ProbeSettings(livez_path=endpoints.livez_path, readyz_path=endpoints.readyz_path),
        )
    return HardenedServer(public, service, admin, probes)


def run(service: Service, config: RunConfig) -> int:
    """Serve `service` until a signal ends it; the process exit code: 0 after a clean drain or
    a signal during start-up, 3 when a listener or the start-up failed."""
    configure_logging(config.log_level, config.log_format)
    server = build_server(service, config)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits 3 when a listener or the lifespan fails
        return 0 if server.signals_received else (exc.code if isinstance(exc.code, int) else 3)
    return 0
