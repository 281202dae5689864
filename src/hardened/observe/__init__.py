"""observe: RED metrics with bounded cardinality, mechanism state, SLOs and burn rates."""

from hardened.observe._config import DEFAULT_BUCKETS, OBSERVE_DEFAULTS, SLO, ObserveConfig
from hardened.observe._gate import ObserveGate
from hardened.observe._install import Observability, Observe
from hardened.observe._multiprocess import multiprocess_evidence, sweep_dead_processes
from hardened.observe._red import RedMetrics
from hardened.observe._slo import BURN_WINDOWS, SLOTracker
from hardened.observe._stage import ObserveStage

__all__ = [
    "BURN_WINDOWS",
    "DEFAULT_BUCKETS",
    "OBSERVE_DEFAULTS",
    "SLO",
    "Observability",
    "Observe",
    "ObserveConfig",
    "ObserveGate",
    "ObserveStage",
    "RedMetrics",
    "SLOTracker",
    "multiprocess_evidence",
    "sweep_dead_processes",
]
