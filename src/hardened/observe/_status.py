"""The status policy for client faults: the answer and the recorded status, in one place.

The SLO counts what the service did wrong, not what clients did:

| what happened                                   | answer | recorded as                   |
|-------------------------------------------------|--------|-------------------------------|
| the caller's own budget spent (arrived late, or  | 504    | 504, route `__caller__`, left |
| its header budget shorter than ours ran out)    |        | out of every SLO              |
| the budget ran out while the application waited | 408    | 408                           |
| on the client's body                            |        |                               |
| a malformed body (the server answered 400)       | 400    | 400                           |
| the server's body timeout fired                  | 408    | 408                           |
| the client went away (or `ClientDisconnect`)     | —      | 499                           |
| anything else that ended without an answer       | —      | 500 (cancelled: 499)          |

The edge asks `expiry_error` when a budget timer fires, `absorbs` when the application raises,
and `recorded` once per request when it counts it.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from hardened.errors import BodyTimeout, DeadlineExceeded, HardenedError
from hardened.faults import CLIENT_FAULT, ClientFault, note_fault
from hardened.routes import CALLER

__all__ = [
    "CALLER",
    "FAULT_STATUS",
    "STATUS_CLIENT_CLOSED",
    "BodyWait",
    "absorbs",
    "expiry_error",
    "recorded",
]

# nginx's code for a client that went away before the answer; never an SLO error.
STATUS_CLIENT_CLOSED = 499
FAULT_STATUS: dict[str, int] = {
    ClientFault.BUDGET: 504,
    ClientFault.DISCONNECT: STATUS_CLIENT_CLOSED,
    ClientFault.MALFORMED: 400,
    ClientFault.SLOW_BODY: 408,
}


class BodyWait:
    """`receive` that knows whether the application is waiting on the client right now.

    A cancelled wait (the budget's timer fired in it) stays marked as waiting."""

    __slots__ = ("receive", "waiting")

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.waiting = False

    async def __call__(self) -> Message:
        self.waiting = True
        message = await self.receive()
        self.waiting = False
        return message


def expiry_error(
    scope: MutableMapping[str, Any], source: str, timeout: float, body: BodyWait | None
) -> tuple[HardenedError, bool]:
    """The answer when the request's budget ran out before its response started, and whether
    it closes the connection.

    The budget stays a hard bound on the server's time; who spent it decides the answer: the
    client, when the application was waiting on its body (408 and close: the rest of the body
    is never read); the caller, when the budget was its own header's (504, the caller's);
    else the service (504).
    """
    if body is not None and body.waiting:
        note_fault(scope, ClientFault.SLOW_BODY)
        late = f"the body did not arrive within the {source} budget of {timeout:g}s"
        return BodyTimeout(late), True
    if source == "header":
        note_fault(scope, ClientFault.BUDGET)
    return DeadlineExceeded(f"the {source} budget of {timeout:g}s was spent"), False


def absorbs(scope: MutableMapping[str, Any], error: Exception) -> bool:
    """True when `error` escaping the application is the client's doing (it went away, or the
    server already answered its bad body): noted, not re-raised, so no traceback is logged.
    (Starlette's error middleware may have "sent" a 500 first; it reached no one.)"""
    if isinstance(error, ClientDisconnect):
        note_fault(scope, ClientFault.DISCONNECT)
        return True
    return CLIENT_FAULT in scope


def recorded(
    scope: MutableMapping[str, Any], sent: int, route: str, *, cancelled: bool
) -> tuple[int, str]:
    """(status, route) a finished request is counted with; `sent` is 0 when no answer started.

    A noted fault decides: it is noted only before any status reached the client, so what
    the application sent after it went nowhere.
    """
    fault = scope.get(CLIENT_FAULT)
    if fault is None:
        return sent or (STATUS_CLIENT_CLOSED if cancelled else 500), route
    return FAULT_STATUS[fault], CALLER if fault == ClientFault.BUDGET else route
