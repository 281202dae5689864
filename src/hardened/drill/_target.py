"""The service under drill: its public and admin URLs, its hooks, and its process when known."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hardened.drill._model import Skip
from hardened.drill._wire import Answer, request

if TYPE_CHECKING:
    from hardened.testing import RunningServer

__all__ = ["Launcher", "Target"]

BUSY_RETRIES = 5  # the admin listener refuses renders past its queue with 503 + Retry-After
Launcher = Callable[[bool], contextlib.AbstractContextManager["RunningServer"]]


@dataclass
class Target:
    """Where the drills send traffic, and what they may do to it."""

    url: str
    admin_url: str
    token: str | None = None
    server: RunningServer | None = None
    launcher: Launcher | None = None
    safe_only: bool = False
    _manifest: dict[str, Any] | None = field(default=None, repr=False)

    # -- traffic ---------------------------------------------------------------------------

    def get(self, path: str, *, headers: Mapping[str, str] | None = None) -> Answer:
        """GET `path` on the public port."""
        return request(self.url, "GET", path, headers=headers)

    def admin(self, path: str) -> Answer:
        """GET `path` on the admin listener (waiting out a busy 503 a few times)."""
        answer = request(self.admin_url, "GET", path)
        for _ in range(BUSY_RETRIES):
            if answer.status != 503 or "retry-after" not in answer.headers:
                break
            time.sleep(min(float(answer.headers["retry-after"]), 2.0))
            answer = request(self.admin_url, "GET", path)
        return answer

    def report(self) -> dict[str, Any]:
        """The running service's gate report (`/gates`)."""
        answer = self.admin("/gates")
        document = answer.json()
        if answer.status != 200 or not isinstance(document, dict):
            raise Skip(f"no gate report at {self.admin_url}/gates (status {answer.status})")
        return document

    def evidence(self, gate: str) -> dict[str, Any]:
        """One gate's evidence from `/gates`."""
        for entry in self.report()["gates"]:
            if entry["name"] == gate:
                evidence: dict[str, Any] = entry["evidence"]
                return evidence
        raise Skip(f"the report has no {gate} gate")

    # -- declared requests and hooks -------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        """What the service declared for drills (`GET /drill` on the admin listener)."""
        if self._manifest is None:
            answer = self.hook_get("")
            self._manifest = answer.json() if answer.status == 200 else {}
        return self._manifest or {}

    def declared(self, role: str) -> dict[str, Any]:
        """The request the service declared for `role` (slow, upload, outbound, critical)."""
        spec = self.manifest().get("requests", {}).get(role)
        if not isinstance(spec, dict):
            raise Skip(f"the service declares no {role!r} request (DrillConfig({role}=...))")
        return spec

    @staticmethod
    def headers_for(
        spec: Mapping[str, Any], extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """A declared request's headers for one send: a new value in its `key_header`, `extra`
        last (a drill that sends one key many times names it there)."""
        fresh = (
            {spec["key_header"]: f"drill-{secrets.token_hex(12)}"} if spec.get("key_header") else {}
        )
        return {**spec.get("headers", {}), **fresh, **(extra or {})}

    def send(
        self, spec: Mapping[str, Any], *, headers: Mapping[str, str] | None = None, timeout: float
    ) -> Answer:
        """Send a declared request, with extra headers."""
        body = str(spec.get("body", "")).encode()
        all_headers = self.headers_for(spec, headers)
        return request(
            self.url, spec["method"], spec["path"], headers=all_headers, body=body, timeout=timeout
        )

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def hook_get(self, name: str) -> Answer:
        """GET `/drill/<name>` on the admin listener, with the token."""
        path = f"/drill/{name}" if name else "/drill"
        return request(self.admin_url, "GET", path, headers=self._auth())

    def hook(self, name: str, payload: Mapping[str, Any], *, timeout: float = 10.0) -> Answer:
        """POST a fault to `/drill/<name>`; Skip when the service has no such hook enabled."""
        answer = request(
            self.admin_url,
            "POST",
            f"/drill/{name}",
            headers={**self._auth(), "Content-Type": "application/json"},
            body=json.dumps(payload).encode(),
            timeout=timeout,
        )
        if answer.status == 404:
            raise Skip(f"no drill hook {name!r} (drills off, wrong token, or not declared)")
        return answer

    # -- the process -----------------------------------------------------------------------

    @contextlib.contextmanager
    def fresh(self, *, pid1: bool = False) -> Iterator[Target]:
        """A new process of the same service for a drill that ends it (`pid1`: as PID 1 of a
        new PID namespace)."""
        if self.launcher is None:
            raise Skip("needs the process: run `hardened drill MODULE:ATTR` to start one")
        with self.launcher(pid1) as server:
            yield Target(
                url=server.url,
                admin_url=server.admin_url,
                token=self.token,
                server=server,
                launcher=self.launcher,
            )
