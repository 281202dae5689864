"""A charge endpoint with no Idempotency-Key layer: every retry of a key is another charge.

Charges are lines in the file `DRILL_EFFECTS_FILE` names, so two replicas count together.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hardened import Service
from hardened.drill import DrillConfig, DrillHooks, DrillRequest


def _ledger() -> Path:
    return Path(os.environ["DRILL_EFFECTS_FILE"])


async def charge(request: Request) -> Response:
    body = await request.body()
    with _ledger().open("ab") as ledger:
        ledger.write(body.replace(b"\n", b" ") + b"\n")
    return JSONResponse({"charged": True}, status_code=201)


async def charges() -> int:
    """How many charges the ledger holds."""
    ledger = _ledger()
    return len(ledger.read_bytes().splitlines()) if ledger.exists() else 0


no_key = Service(
    "no-idempotency",
    routes=[Route("/charges", charge, methods=["POST"])],
    mechanisms=[
        DrillHooks(
            DrillConfig(
                idempotent=DrillRequest(
                    path="/charges", method="POST", body='{"amount": 100, "currency": "EUR"}'
                ),
                effects=charges,
            )
        )
    ],
)
