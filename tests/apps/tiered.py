"""A service whose verdict depends on the tier: one gate passes at internal, fails at critical.

The other seven gates are waived, so the tier alone decides `hardened check`'s exit code.
"""

from __future__ import annotations

import datetime as dt

from hardened import GateResult, Service, Status, Tier, Waiver
from hardened.gates import GATE_NAMES, GATE_QUESTIONS


class SloGate:
    """The observe gate of a service with no SLO: fine for an internal tool, not for critical."""

    name = "observe"

    def check(self, tier: Tier) -> GateResult:
        status = {Tier.INTERNAL: Status.PASS, Tier.STANDARD: Status.WARN}.get(tier, Status.FAIL)
        return GateResult(
            name=self.name,
            question=GATE_QUESTIONS[self.name],
            status=status,
            evidence={"slos": []},
            caveats=("no SLO is declared",),
        )


app = Service(
    "tiered",
    tier="standard",
    waivers={
        name: Waiver(reason="prototype", expires=dt.date(2999, 1, 1))
        for name in GATE_NAMES
        if name != "observe"
    },
)
app.gates.register(SloGate())
