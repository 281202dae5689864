"""The shutdown report: what one shutdown served, cancelled and dropped; each phase's duration.

Logged as one structured line (`shutdown-report {json}`), served by `/gates` while the drain
runs, and written to `report_path` (Kubernetes: `/dev/termination-log`, shown in the pod
status) so that it outlives the process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "REPORT_ENV",
    "ShutdownReport",
    "ensure_log_handler",
    "flush_logs",
    "read_report",
    "report_path",
    "teardown_steps",
    "write_report",
]

logger = logging.getLogger("hardened.shutdown")

REPORT_ENV = "HARDENED_SHUTDOWN_REPORT"
# Kubernetes reads at most 4096 bytes of the termination message.
_TERMINATION_MESSAGE_LIMIT = 4096


@dataclass(slots=True)
class ShutdownReport:
    """Filled in as the sequence runs; `to_json` is the evidence and the log line."""

    signal: str
    started_wall: float
    deregistration_delay_s: float
    drain_timeout_s: float
    forced: bool = False
    phases: dict[str, float] = field(default_factory=dict)  # phase → seconds it took
    phase_starts: dict[str, float] = field(default_factory=dict)  # phase → s after signal
    in_flight_at_signal: int = 0
    in_flight_at_drain: int = 0
    streams_at_drain: int = 0
    responses_completed: int = 0
    cancelled: int = 0
    dropped: int = 0
    background: dict[str, int] = field(default_factory=dict)
    teardown: list[dict[str, Any]] = field(default_factory=list)
    teardown_abandoned: bool = False
    watchdog_fired: bool = False
    outcome: str = "in progress"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)

    def line(self) -> str:
        """The one structured log line."""
        return "shutdown-report " + json.dumps(self.to_json(), separators=(",", ":"))


def teardown_steps(components: list[dict[str, Any]], step: float) -> list[dict[str, Any]]:
    """Per managed component (from `Components.describe()`), in stop order (reverse start)."""
    steps = []
    for entry in reversed(components):
        seconds = entry["stop_seconds"]
        if entry["lifecycle"] != "managed" or seconds is None:
            continue
        # asyncio.timeout may fire a hair before the clock reads `step`.
        timed_out = seconds >= step - 0.01
        steps.append({"component": entry["type"], "seconds": seconds, "timed_out": timed_out})
    return steps


def report_path(configured: str | os.PathLike[str] | None) -> Path | None:
    """Where the report is kept: the setting, else `HARDENED_SHUTDOWN_REPORT`, else nowhere."""
    value = configured if configured is not None else os.environ.get(REPORT_ENV)
    return Path(value) if value else None


def write_report(report: ShutdownReport, path: Path | None) -> None:
    """Write the report (compact JSON) to `path`; a failure is logged, never raised."""
    if path is None:
        return
    document = json.dumps(report.to_json(), separators=(",", ":"))
    if len(document) > _TERMINATION_MESSAGE_LIMIT:
        # Keep it parseable within the limit: drop the per-component list first.
        trimmed = {**report.to_json(), "teardown": f"{len(report.teardown)} steps (trimmed)"}
        document = json.dumps(trimmed, separators=(",", ":"))
    try:
        path.write_text(document)
    except OSError as exc:
        logger.warning("cannot write the shutdown report to %s: %s", path, exc)


def read_report(path: Path | None) -> dict[str, Any] | None:
    """The report a previous process left at `path`, if any."""
    if path is None:
        return None
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) and "outcome" in document else None


def ensure_log_handler() -> None:
    """Make `hardened.*` records visible when nobody configured logging (`hardened run`)."""
    root = logging.getLogger()
    ours = logging.getLogger("hardened")
    if root.handlers or ours.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s %(message)s"))
    ours.addHandler(handler)
    if ours.level == logging.NOTSET:
        ours.setLevel(logging.INFO)


def flush_logs() -> None:
    """Flush every handler and the standard streams (before a hard exit)."""
    for name in ("", "hardened", "uvicorn", "uvicorn.error"):
        for handler in logging.getLogger(name).handlers:
            with contextlib.suppress(Exception):  # a failing flush must not stop the exit
                handler.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
