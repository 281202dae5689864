"""The loop gate: lag monitor, blocking-call watchdog with attribution, offload(), strict mode.

`Service` installs it by default (`loop=LoopConfig()`): the heartbeat and the watchdog start in
the lifespan, `offload()` runs sync work on a bounded pool, and `/gates` shows lag percentiles
and recent blocked events with their culprits. Tests use `strict_loop()`.
"""

from hardened.loop._config import LoopConfig
from hardened.loop._frames import BlockedEvent, Frame
from hardened.loop._gate import LoopGate
from hardened.loop._install import Loop
from hardened.loop._monitor import LoopMonitor
from hardened.loop._offload import Offloader, offload, request_remaining
from hardened.loop._state import LAG_BUCKETS
from hardened.loop._strict import LoopBlocked, strict_loop

__all__ = [
    "LAG_BUCKETS",
    "BlockedEvent",
    "Frame",
    "Loop",
    "LoopBlocked",
    "LoopConfig",
    "LoopGate",
    "LoopMonitor",
    "Offloader",
    "offload",
    "request_remaining",
    "strict_loop",
]
