"""shed: the adaptive load shedder at the edge — queue delay, Gradient2, priorities."""

from hardened.shed._config import SHED_DEFAULTS, Priority, ShedConfig
from hardened.shed._install import Shed
from hardened.shed._limited import LimitedShedder
from hardened.shed._signals import CoDel, Gradient2, QueueDelayMonitor
from hardened.shed._stage import Shedder

__all__ = [
    "SHED_DEFAULTS",
    "CoDel",
    "Gradient2",
    "LimitedShedder",
    "Priority",
    "QueueDelayMonitor",
    "Shed",
    "ShedConfig",
    "Shedder",
]
