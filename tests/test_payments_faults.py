"""The payments API against a failing and a hanging processor: fast 503s, bounded waits, and
never a second charge for one Idempotency-Key."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.payments_stack import KEYS, Stack, answered, new_key, payments_stack, retryable

REQUEST_BUDGET_S = 5.0  # the POST routes' route_timeout in examples/payments_api/handlers.py


@pytest.fixture
def stack(postgres_url: str, tmp_path: Path) -> Iterator[Stack]:
    """A fresh API (closed breaker) and processor (empty ledger) for each test."""
    with payments_stack(Path(__file__).resolve().parent.parent, postgres_url, tmp_path) as running:
        yield running


@pytest.mark.long_running
def test_a_failing_processor_gets_fast_503s_and_never_a_second_charge(stack: Stack) -> None:
    """Processor failing: retries keep one key, the breaker gives fast 503s; one charge each."""
    stack.faults(error_rate=1.0, error_after_charge=True)
    keys: list[str] = []
    fast = None
    for _ in range(40):  # the breaker needs 20 calls in its window before it may open
        keys.append(new_key())
        began = time.monotonic()
        answer = stack.pay(keys[-1])
        elapsed = time.monotonic() - began
        assert answer.status_code == 503, answer.text
        assert int(answer.headers["retry-after"]) >= 1
        if answer.json()["type"].endswith("/circuit-open"):
            fast = elapsed
            break
    assert fast is not None, "the breaker never opened"
    assert fast < 0.5
    assert httpx.get(f"{stack.api.url}/readyz").status_code == 200  # degraded, still ready
    report = httpx.get(f"{stack.api.admin_url}/gates").json()
    assert {g["name"]: g["status"] for g in report["gates"]}["breaker"] == "warn"
    charged = stack.charges_for(keys)
    assert len(charged) == len({charge["key"] for charge in charged})
    assert any(charge["requests"] > 1 for charge in charged), "no charge was retried"

    stack.faults()
    for key in keys:
        answer = answered(functools.partial(stack.pay, key), attempts=40, refused=retryable)
        assert answer.status_code == 201
    charged = stack.charges_for(keys)
    assert len(charged) == len(keys)


def test_a_hanging_processor_is_cut_at_the_attempt_timeout_within_the_budget(stack: Stack) -> None:
    """Processor hanging: attempts cut at 1 s, answers within each budget; one charge."""
    stack.faults(hang=True)
    key = new_key()
    began = time.monotonic()
    answer = stack.pay(key, timeout=30)
    elapsed = time.monotonic() - began
    assert answer.status_code == 503, answer.text
    assert "retry-after" in answer.headers
    assert 1.0 <= elapsed < REQUEST_BUDGET_S + 0.5

    headers = {
        "Authorization": f"Bearer {KEYS['acme']}",
        "Idempotency-Key": key,
        "X-Request-Timeout": "1.5",
    }
    began = time.monotonic()
    short = httpx.post(
        f"{stack.api.url}/payments",
        json={"amount": 1250, "currency": "EUR", "source": "tok_visa"},
        headers=headers,
        timeout=30,
    )
    elapsed = time.monotonic() - began
    # 504 when the budget ran out during an attempt; 503 when the first attempt's cut left too
    # little of it for a retry. Either way the answer comes inside the caller's budget.
    assert short.status_code in {503, 504}, short.text
    assert short.headers["content-type"] == "application/problem+json"
    assert elapsed < 1.5 + 0.5

    stack.faults()
    assert answered(lambda: stack.pay(key), refused=retryable).status_code == 201
    assert len(stack.charges_for([key])) == 1
