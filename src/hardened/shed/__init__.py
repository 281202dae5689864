"""shed: the adaptive load shedder at the edge — queue delay, Gradient2, priorities."""

from hardened.shed._config import SHED_DEFAULTS, Priority, ShedConfig
from hardened.shed._middleware import Shedder, install_shed
from hardened.shed._signals import CoDel, Gradient2, QueueDelayMonitor

__all__ = [
    "SHED_DEFAULTS",
    "CoDel",
    "Gradient2",
    "Priority",
    "QueueDelayMonitor",
    "ShedConfig",
    "Shedder",
    "install_shed",
]
