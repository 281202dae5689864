"""Idempotency drill: one key sent 20 times at once over two replicas; the key with another body."""

from __future__ import annotations

import contextlib
import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from hardened.drill._declared import require_safe
from hardened.drill._model import Drill, Outcome, Skip, measure
from hardened.drill._target import Target
from hardened.drill._wire import Answer, request

__all__ = ["DRILLS"]

SENDS = 20


def _effects(target: Target) -> int:
    answer = target.hook_get("effects")
    count = (answer.json() or {}).get("count") if answer.status == 200 else None
    if not isinstance(count, int):
        raise Skip("the service declares no effect counter (DrillConfig(effects=...))")
    return count


def _other_body(body: str) -> str:
    """The same request with another body (another fingerprint)."""
    try:
        document = json.loads(body)
    except ValueError:
        return body + "-other"
    if isinstance(document, dict):
        return json.dumps({**document, "drill_variant": "other"})
    return json.dumps([document, "other"])


def _send(url: str, spec: dict[str, Any], key: str, body: str) -> Answer:
    headers = {**spec.get("headers", {}), spec.get("key_header") or "Idempotency-Key": key}
    try:
        return request(
            url, spec["method"], spec["path"], headers=headers, body=body.encode(), timeout=30.0
        )
    except OSError:
        return Answer(0)


def one_effect(target: Target) -> Outcome:
    spec = target.declared("idempotent")
    require_safe(target, spec, "idempotent")
    before = _effects(target)
    key = f"drill-{secrets.token_hex(12)}"
    body = str(spec.get("body", ""))
    with contextlib.ExitStack() as stack:
        urls = [target.url]
        if target.launcher is not None:  # a second replica on the same database
            urls.append(stack.enter_context(target.launcher(False)).url)
        with ThreadPoolExecutor(SENDS) as pool:
            answers = list(
                pool.map(lambda i: _send(urls[i % len(urls)], spec, key, body), range(SENDS))
            )
    effects = _effects(target) - before
    other = _send(target.url, spec, key, _other_body(body))
    ok = [a for a in answers if 200 <= a.status < 300]
    replayed = [a for a in ok if a.headers.get("idempotent-replayed") == "true"]
    statuses = sorted({a.status for a in answers})
    failures = []
    if effects != 1:
        failures.append(
            f"{SENDS} sends of one key over {len(urls)} replicas made {effects} effects"
        )
    if not ok:
        failures.append(f"no send of the key succeeded (statuses {statuses})")
    if not set(statuses) <= {200, 201, 202, 204, 409}:
        failures.append(f"sends of one key answered {statuses}, not 2xx or 409 in flight")
    if other.status != 422:
        failures.append(f"the key with another body got {other.status}, not 422")
    measured = {
        "sends": SENDS,
        "replicas": len(urls),
        "effects": effects,
        "succeeded": len(ok),
        "replayed": len(replayed),
        "in_flight_409": sum(1 for a in answers if a.status == 409),
        "other_body_status": other.status,
    }
    return measure(measured, failures, f"1 effect for {SENDS} sends, 422 on another body")


DRILLS = (
    Drill(
        gate="idempotency",
        name="one_key_one_effect",
        did=f"send the declared idempotent request {SENDS}x at once with one key over 2 replicas, "
        "then the key with another body",
        expected="one effect; every answer 2xx (replays) or 409 in flight; 422 for another body",
        run=one_effect,
    ),
)
