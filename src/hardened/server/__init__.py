"""server: how uvicorn is made to follow the gates' policies.

The hardened runner behind `hardened run` (signals that end in exit 0, the admin listener), the
h11 and httptools protocol subclasses (header, body and linger timeouts), and the shutdown
sequence that drives the shutdown gate's phases on uvicorn's server state. The gate folders
say what to do; this folder makes uvicorn do it.
"""

from hardened.server._protocols import EdgeTimeouts, HardenedConfig, protocol_class
from hardened.server._runner import HardenedServer, RunConfig, build_server, run
from hardened.server._shutdown import ShutdownSequence

__all__ = [
    "EdgeTimeouts",
    "HardenedConfig",
    "HardenedServer",
    "RunConfig",
    "ShutdownSequence",
    "build_server",
    "protocol_class",
    "run",
]
