"""Client faults: what a client did to end its own request, noted in the ASGI scope.

Whoever sees the fault first notes it (the server protocol: a malformed or too slow body, a
disconnect; the edge: a caller whose own budget ran out); the status policy
(`hardened.observe._status`) turns the note into the status a request is recorded with. The
first note wins: a connection closed after a malformed body is a 400, not also a 499.
"""

from __future__ import annotations

import enum
from collections.abc import MutableMapping
from typing import Any

__all__ = ["CLIENT_FAULT", "ClientFault", "note_fault"]

CLIENT_FAULT = "hardened.client_fault"  # the scope key


class ClientFault(enum.StrEnum):
    """What the client did."""

    BUDGET = "budget"  # its own budget was spent: it arrived late or asked for less time
    DISCONNECT = "disconnect"  # it went away before the answer
    MALFORMED = "malformed"  # its body broke the framing (a bad chunk)
    SLOW_BODY = "slow_body"  # it was too slow sending the body the application waited on


def note_fault(scope: MutableMapping[str, Any], fault: ClientFault) -> None:
    """Note `fault` for the request of `scope` unless another was noted first."""
    scope.setdefault(CLIENT_FAULT, fault)
