"""A service whose every gate is waived (valid waivers): `hardened check` exits 0."""

from __future__ import annotations

import datetime as dt

from hardened import Service, Waiver
from hardened.gates import GATE_NAMES

app = Service(
    "waived",
    tier="internal",
    waivers={
        name: Waiver(reason="prototype, not serving users", expires=dt.date(2999, 1, 1))
        for name in GATE_NAMES
    },
)
