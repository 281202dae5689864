"""Lifecycle drills: oversized and chunked bodies, slow clients, SIGTERM to PID 1."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from hardened.drill._declared import require_safe
from hardened.drill._model import Drill, Outcome, Skip, measure
from hardened.drill._target import Target
from hardened.drill._wire import cut_after, raw_exchange

__all__ = ["DRILLS"]

DEFAULT_LIMIT = 1024 * 1024  # the gate's default body limit, when the report names none
DEFAULT_HEADER_TIMEOUT = 10.0
RSS_GROWTH_LIMIT = 64 * 1024 * 1024


def _upload(target: Target) -> dict[str, Any]:
    """The declared upload request, or a POST to `/` (the service-wide limit applies there)."""
    try:
        return target.declared("upload")
    except Skip:
        return {"method": "POST", "path": "/", "headers": {}}


def _matches(template: str, path: str) -> bool:
    """True when `path` is an instance of the route `template` (`/payments/{id}`)."""
    parts, given = template.split("/"), path.split("?", 1)[0].split("/")
    return len(parts) == len(given) and all(
        part == value or (part.startswith("{") and part.endswith("}"))
        for part, value in zip(parts, given, strict=True)
    )


def _body_limit(target: Target, path: str) -> int:
    """The limit in force on `path`: its route's own, else the service's (from /gates)."""
    evidence = target.evidence("lifecycle").get("body_limit", {})
    for template, limit in (evidence.get("route_bytes") or {}).items():
        if _matches(str(template), path):
            return int(limit)
    return int(evidence.get("default_bytes", DEFAULT_LIMIT))


def _head(target: Target, spec: dict[str, Any], framing: str) -> bytes:
    """The request line and headers of the declared request, with the drill's body framing."""
    headers = {
        **target.headers_for(spec),
        "Content-Type": "application/octet-stream",
    }
    lines = [f"{spec['method']} {spec['path']} HTTP/1.1", "Host: drill"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join([*lines, framing]) + "\r\n\r\n").encode()


def oversized(target: Target) -> Outcome:
    spec = _upload(target)
    limit = _body_limit(target, spec["path"])
    head = _head(target, spec, f"Content-Length: {limit + 1}")
    answer = raw_exchange(target.url, head, timeout=5.0)
    closes = answer.headers.get("connection", "").lower() == "close"
    failures = []
    if answer.status != 413:
        failures.append(
            f"declared {limit + 1} bytes and got {answer.status or 'no answer'} after "
            f"{answer.seconds:.2f} s, not 413: the server waited to read the body"
        )
    elif not closes:
        failures.append("413 without Connection: close (the unread body poisons the connection)")
    measured = {"limit_bytes": limit, "status": answer.status, "seconds": round(answer.seconds, 3)}
    return measure(measured, failures, f"413 + close in {answer.seconds * 1000:.0f} ms")


def _rss(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def chunked(target: Target) -> Outcome:
    spec = target.declared("upload")
    require_safe(target, spec, "upload")
    limit = _body_limit(target, spec["path"])
    chunk = b"x" * 65536
    count = min(4 * limit // len(chunk) + 1, 256)  # 4x the limit, 16 MiB at most
    framed = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    pid = target.server.pid if target.server else None
    before = _rss(pid) if pid else None
    head = _head(target, spec, "Transfer-Encoding: chunked")
    answer = raw_exchange(target.url, head, (framed,) * count + (b"0\r\n\r\n",), timeout=10.0)
    after = _rss(pid) if pid else None
    growth = after - before if after is not None and before is not None else None
    failures = []
    if answer.status != 413:
        failures.append(f"streamed {count * len(chunk)} bytes, answered {answer.status}, not 413")
    if growth is not None and growth > RSS_GROWTH_LIMIT:
        failures.append(f"RSS grew {growth / 2**20:.0f} MiB while refusing one body")
    measured = {
        "limit_bytes": limit,
        "sent_bytes": count * len(chunk),
        "status": answer.status,
        "rss_growth_bytes": growth,
    }
    return measure(measured, failures, f"413 at the limit, RSS growth {growth} bytes")


def slow_clients(target: Target) -> Outcome:
    evidence = target.evidence("lifecycle").get("slow_clients", {})
    timeout = float(evidence.get("header_timeout_s") or DEFAULT_HEADER_TIMEOUT)
    limit = timeout + 3.0
    cuts: dict[str, float | None] = {}

    def probe(kind: str) -> None:
        cuts[kind] = cut_after(target.url, trickle=kind == "trickle", limit=limit)

    threads = [threading.Thread(target=probe, args=(kind,)) for kind in ("trickle", "silent")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(limit + 5.0)
    failures = [
        f"a {kind} socket was still open after {limit:.1f} s (header timeout {timeout:g} s)"
        if cuts.get(kind) is None
        else f"a {kind} socket was cut after {cuts[kind]:.2f} s, past the {timeout:g} s timeout"
        for kind in ("trickle", "silent")
        if cuts.get(kind) is None or (cuts[kind] or 0) > timeout + 1.5
    ]
    measured = {
        "header_timeout_s": timeout,
        "trickle_cut_s": None if cuts.get("trickle") is None else round(cuts["trickle"] or 0, 2),
        "silent_cut_s": None if cuts.get("silent") is None else round(cuts["silent"] or 0, 2),
    }
    return measure(measured, failures, "both cut at the header timeout")


def _namespace_pid1(pid: int) -> tuple[int, bool]:
    """The process `unshare --fork` started, and whether it is PID 1 of its namespace."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    if not children:
        raise Skip("unshare started no child")
    child = int(children[0])
    for line in Path(f"/proc/{child}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return child, line.split()[-1] == "1"
    return child, False


def pid1_sigterm(target: Target) -> Outcome:
    with target.fresh(pid1=True) as inside:
        assert inside.server is not None
        child, is_pid1 = _namespace_pid1(inside.server.pid)
        started = time.monotonic()
        os.kill(child, signal.SIGTERM)
        code = inside.server.wait(timeout=60)
        seconds = time.monotonic() - started
    failures = []
    if not is_pid1:
        failures.append("the server was not PID 1 of its namespace")
    if code != 0:
        failures.append(f"PID 1 exited {code} after SIGTERM, not 0")
    measured: dict[str, float | int | str | None] = {
        "is_pid1": str(is_pid1),
        "exit_code": code,
        "seconds": round(seconds, 3),
    }
    return measure(measured, failures, f"exit 0 in {seconds:.2f} s as PID 1")


DRILLS = (
    Drill(
        gate="lifecycle",
        name="oversized_body",
        did="send the upload request with a Content-Length one byte over its limit, no body",
        expected="413 before the body is read, with Connection: close",
        run=oversized,
        safe=True,
    ),
    Drill(
        gate="lifecycle",
        name="chunked_body",
        did="stream a chunked body of 4x the limit to the declared upload route",
        expected="413 once the limit is passed; RSS grows less than 64 MiB",
        run=chunked,
        safe=True,
    ),
    Drill(
        gate="lifecycle",
        name="slow_clients",
        did="open a header-trickling socket and a silent one",
        expected="both cut within 1.5 s of the header timeout in /gates",
        run=slow_clients,
        safe=True,
    ),
    Drill(
        gate="lifecycle",
        name="pid1_sigterm",
        did="start the server as PID 1 of a new PID namespace and send it SIGTERM",
        expected="exit 0",
        run=pid1_sigterm,
        needs_process=True,
    ),
)
