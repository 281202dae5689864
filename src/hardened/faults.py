"""Client faults: what a client did to end its own request, and the status policy for them.

Whoever sees a fault first notes it in the request's scope (the server's protocols: a malformed
or too slow body, a disconnect; the stages: a caller whose own budget was spent, a body the
application waited on past the budget); the first note wins, so a connection closed after a
malformed body is a 400, not also a 499. The SLO counts what the service did wrong, not what
clients did:

| what happened                                              | answer      | recorded as          |
|------------------------------------------------------------|-------------|----------------------|
| the caller's own budget spent (arrived late, or its header | 504         | 504 on `__caller__`, |
| budget, shorter than ours, ran out)                        |             | in no SLO            |
| the budget ran out while the application waited on the     | 408 + close | 408                  |
| client's body                                              |             |                      |
| a malformed body (the server answered 400 and closed)      | 400         | 400                  |
| the server's body timeout fired                            | 408 + close | 408                  |
| the client went away (Starlette's `ClientDisconnect` too)  | —           | 499                  |
| anything else that ended without an answer                 | —           | 500 (cancelled: 499) |

The deadline stage asks `expiry_error` when the budget ran out; the observe stage asks
`recorded` for every request it counts; `absorbs` says whether an error escaping the
application is the client's doing; `client_gone_handler` answers Starlette's `ClientDisconnect`
inside a Starlette application, so a client that left is no server error and no traceback.
"""

from __future__ import annotations

import enum
from collections.abc import MutableMapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Message, Receive

from hardened.errors import BodyTimeout, DeadlineExceeded, HardenedError

__all__ = [
    "CALLER",
    "CLIENT_FAULT",
    "FAULT_STATUS",
    "STATUS_CLIENT_CLOSED",
    "BodyWait",
    "ClientFault",
    "absorbs",
    "client_gone_handler",
    "expiry_error",
    "note_fault",
    "recorded",
]

CLIENT_FAULT = "hardened.client_fault"  # the scope key
CALLER = "__caller__"  # the route label of a request its caller's own budget decided
# nginx's code for a client that went away before the answer; never an SLO error.
STATUS_CLIENT_CLOSED = 499


class ClientFault(enum.StrEnum):
    """What the client did."""

    BUDGET = "budget"  # its own budget was spent: it arrived late or asked for less time
    DISCONNECT = "disconnect"  # it went away before the answer
    MALFORMED = "malformed"  # its body broke the framing (a bad chunk)
    SLOW_BODY = "slow_body"  # it was too slow sending the body the application waited on


FAULT_STATUS: dict[str, int] = {
    ClientFault.BUDGET: 504,
    ClientFault.DISCONNECT: STATUS_CLIENT_CLOSED,
    ClientFault.MALFORMED: 400,
    ClientFault.SLOW_BODY: 408,
}


def note_fault(scope: MutableMapping[str, Any], fault: ClientFault) -> None:
    """Note `fault` for the request of `scope` unless another was noted first."""
    scope.setdefault(CLIENT_FAULT, fault)


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
) -> HardenedError:
    """The answer when the request's budget ran out before its response started.

    The budget stays a hard bound on the server's time; who spent it decides the answer: the
    client, when the application was waiting on its body (408, `BodyTimeout`, which closes the
    connection: the rest of the body is never read); the caller, when the budget was its own
    header's (504, the caller's); else the service (504).
    """
    if body is not None and body.waiting:
        note_fault(scope, ClientFault.SLOW_BODY)
        return BodyTimeout(f"the body did not arrive within the {source} budget of {timeout:g}s")
    if source == "header":
        note_fault(scope, ClientFault.BUDGET)
    return DeadlineExceeded(f"the {source} budget of {timeout:g}s was spent")


def absorbs(scope: MutableMapping[str, Any], error: BaseException) -> bool:
    """True when `error` escaping the application is the client's doing (it went away, or the
    server already answered its bad body); noted. (Starlette's error middleware may have
    "sent" a 500 first: it reached no one.)"""
    if isinstance(error, ClientDisconnect):
        note_fault(scope, ClientFault.DISCONNECT)
        return True
    return CLIENT_FAULT in scope and isinstance(error, Exception)


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


async def client_gone_handler(request: Request, exc: Exception) -> Response:
    """A Starlette exception handler for `ClientDisconnect`: the client left (or the server
    already answered its broken body), so nothing is logged and the empty 499 reaches no one;
    the status is recorded by `recorded`."""
    absorbs(request.scope, exc)
    return Response(status_code=STATUS_CLIENT_CLOSED)
