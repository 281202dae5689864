"""The payments API behind a plain load balancer (HAProxy in the rolling-restart test). There is
no preStop hook here, so after SIGTERM the service itself keeps serving for the deregistration
delay, /readyz answering 503, while the balancer's health checks take it out of rotation."""

from __future__ import annotations

from examples.payments_api.app import build_service
from hardened import ShutdownConfig

# The balancer checks /readyz every 0.2 s and takes a replica out after two failures: 1.5 s
# covers a check in flight, the two that fail and the time to act on them, with room.
service = build_service(ShutdownConfig(deregistration_delay=1.5, orchestrated=True))
app = service
