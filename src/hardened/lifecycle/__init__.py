"""Lifecycle: signals and PID 1, body limit, backpressure, slow clients.

The server that enforces the slow-client timeouts lives in `hardened.server`.
"""

from hardened.lifecycle._config import LifecycleConfig, MiB, body_limit
from hardened.lifecycle._framing import HeaderLimits
from hardened.lifecycle._gate import LifecycleGate, RunnerFacts
from hardened.lifecycle._install import Lifecycle
from hardened.lifecycle._process import ProcessFacts, inspect_process
from hardened.lifecycle._stage import LifecycleStage
from hardened.lifecycle._state import LifecycleStats, SlowClientStats

__all__ = [
    "HeaderLimits",
    "Lifecycle",
    "LifecycleConfig",
    "LifecycleGate",
    "LifecycleStage",
    "LifecycleStats",
    "MiB",
    "ProcessFacts",
    "RunnerFacts",
    "SlowClientStats",
    "body_limit",
    "inspect_process",
]
