"""The fixed order of the request path and the contract of what fills its slots.

Outermost first::

    observe → shed → deadline → lifecycle → shutdown → idempotency → (errors) → application

A slot holds one `Layer`. A layer is either an edge `Stage` (plain methods the edge driver calls
inside its one frame) or an ASGI middleware (`wrap`). Gates fill slots through the install
interface; `hardened.stack.build_stack` assembles them in this order, whatever order they came in.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from starlette.types import ASGIApp

__all__ = ["MIDDLEWARE_ORDER", "Layer"]

MIDDLEWARE_ORDER: tuple[str, ...] = (
    "observe",  # RED timing of everything below, shed 503s included
    "shed",  # cheap rejection before the body is read
    "deadline",  # the request budget; 504 when spent
    "lifecycle",  # body limit, in-flight accounting, backpressure
    "shutdown",  # a request cut by the drain answered 503
    "idempotency",  # claim key → handler → store → replay on opted-in routes
)


@runtime_checkable
class Layer(Protocol):
    """Whatever occupies one slot of `MIDDLEWARE_ORDER`."""

    @property
    def slot(self) -> str:
        """The slot's name."""
        ...

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """Return `app` wrapped by this layer alone."""
        ...
