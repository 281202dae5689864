"""A service with one client behind its Dependency and one that bypasses it."""

from __future__ import annotations

import httpx

from hardened import Service
from hardened.outbound import Dependency

processor = Dependency("processor")
guarded = httpx.AsyncClient(transport=processor.transport())
raw = httpx.AsyncClient()
app = Service("bypass", mechanisms=[processor])
