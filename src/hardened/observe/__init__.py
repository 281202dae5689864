"""observe: RED metrics with bounded cardinality, mechanism state, SLOs and burn rates."""

from hardened.observe._config import DEFAULT_BUCKETS, OBSERVE_DEFAULTS, SLO, ObserveConfig
from hardened.observe._gate import ObserveGate
from hardened.observe._install import Observability, install_observe
from hardened.observe._multiprocess import multiprocess_evidence, sweep_dead_processes
from hardened.observe._red import ObserveLayer, RedMetrics
from hardened.observe._routes import OVERFLOW, UNMATCHED, RouteTemplates, method_label
from hardened.observe._slo import BURN_WINDOWS, SLOTracker
from hardened.state import MechanismStates, StateReader, StateValue

__all__ = [
    "BURN_WINDOWS",
    "DEFAULT_BUCKETS",
    "OBSERVE_DEFAULTS",
    "OVERFLOW",
    "SLO",
    "UNMATCHED",
    "MechanismStates",
    "Observability",
    "ObserveConfig",
    "ObserveGate",
    "ObserveLayer",
    "RedMetrics",
    "RouteTemplates",
    "SLOTracker",
    "StateReader",
    "StateValue",
    "install_observe",
    "method_label",
    "multiprocess_evidence",
    "sweep_dead_processes",
]
