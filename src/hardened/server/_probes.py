"""The probe listener: `/livez` and `/readyz` answered off the event loop, in a thread.

Under overload the event loop and the public port's accept queue are full; a probe waiting
there times out, and Kubernetes restarts a busy but healthy replica (overload turned into an
outage). This listener has its own socket and thread, so it answers in milliseconds whatever
the loop carries:

- `/livez`: 200 while the event loop is turning: the loop monitor's heartbeat ran within
  `max_heartbeat_age`, or a callback posted to the loop now runs within `wake_timeout` (an idle
  loop's heartbeat may be paused); 503 with the heartbeat's age otherwise.
- `/readyz`: the service's readiness (its phase), never the load.

One thread serves one connection at a time with a short socket timeout: probes are few and
cheap, and a stuck client holds it for at most `socket_timeout`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Protocol

__all__ = ["Heartbeat", "ProbeListener", "ProbeSettings"]


class Heartbeat(Protocol):
    """What liveness reads of the loop monitor."""

    def heartbeat_age(self) -> float | None:
        """Seconds since the last heartbeat, None when the monitor is not running."""
        ...

    def wake(self, timeout: float) -> bool:
        """Whether the loop runs a callback posted now within `timeout`."""
        ...


class Readiness(Protocol):
    def readiness(self) -> tuple[bool, str]:
        """Whether to take traffic now, and why."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeSettings:
    """Where the listener answers and what liveness tolerates."""

    livez_path: str = "/livez"
    readyz_path: str = "/readyz"
    max_heartbeat_age: float = 5.0
    wake_timeout: float = 0.5
    socket_timeout: float = 1.0


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        status, document = self.server.answer(self.path.partition("?")[0])
        body = json.dumps(document, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Probes are not access-logged."""


class _Server(HTTPServer):
    def __init__(
        self,
        address: tuple[str, int],
        service: Readiness,
        heartbeat: Heartbeat | None,
        settings: ProbeSettings,
    ) -> None:
        _Handler.timeout = settings.socket_timeout
        super().__init__(address, _Handler)
        self.service = service
        self.heartbeat = heartbeat
        self.settings = settings

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        settings = self.settings
        if path == settings.readyz_path:
            ready, reason = self.service.readiness()
            return (200, {"status": "ready"}) if ready else (503, {"status": reason})
        if path == settings.livez_path:
            return self._liveness()
        return 404, {"status": "not found", "path": path}

    def _liveness(self) -> tuple[int, dict[str, Any]]:
        heartbeat = self.heartbeat
        if heartbeat is None:  # no loop monitor: the thread answering is all we know
            return 200, {"status": "alive"}
        age = heartbeat.heartbeat_age()
        if age is not None and age <= self.settings.max_heartbeat_age:
            return 200, {"status": "alive", "heartbeat_age_seconds": round(age, 3)}
        if heartbeat.wake(self.settings.wake_timeout):
            return 200, {"status": "alive", "heartbeat_age_seconds": round(age or 0.0, 3)}
        return 503, {"status": "event loop not turning", "heartbeat_age_seconds": age}


class ProbeListener:
    """Serves the probes on `host:port` from a daemon thread until `stop()`."""

    def __init__(
        self,
        host: str,
        port: int,
        service: Readiness,
        heartbeat: Heartbeat | None,
        settings: ProbeSettings,
    ) -> None:
        self._server = _Server((host, port), service, heartbeat, settings)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="hardened-probes", daemon=True
        )

    def start(self) -> None:
        """Start answering."""
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop answering and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout)
        self._server.server_close()
