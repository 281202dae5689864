"""Shutdown: deregister, drain within the grace period, tear down in reverse, report (gate 7).

The policy lives here; `hardened.server` makes uvicorn follow it.
"""

from hardened.shutdown._background import BackgroundTasks, Worker
from hardened.shutdown._budget import ShutdownBudget, resolve_budget
from hardened.shutdown._config import DEFAULT_DEREGISTRATION_DELAY, ShutdownConfig
from hardened.shutdown._gate import ShutdownGate
from hardened.shutdown._install import Shutdown
from hardened.shutdown._manager import DRAIN_TIMEOUT, SECOND_SIGNAL, ShutdownManager
from hardened.shutdown._manifest import PodShutdownSpec, read_manifest
from hardened.shutdown._report import REPORT_ENV, ShutdownReport
from hardened.shutdown._stage import DrainStage
from hardened.shutdown._watchdog import WATCHDOG_EXIT_CODE

__all__ = [
    "DEFAULT_DEREGISTRATION_DELAY",
    "DRAIN_TIMEOUT",
    "REPORT_ENV",
    "SECOND_SIGNAL",
    "WATCHDOG_EXIT_CODE",
    "BackgroundTasks",
    "DrainStage",
    "PodShutdownSpec",
    "Shutdown",
    "ShutdownBudget",
    "ShutdownConfig",
    "ShutdownGate",
    "ShutdownManager",
    "ShutdownReport",
    "Worker",
    "read_manifest",
    "resolve_budget",
]
