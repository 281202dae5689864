"""The payments API end to end: the API and the processor as real processes, real PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.payments_stack import CARD, KEYS, Stack, answered, new_key, payments_stack


@pytest.fixture(scope="module")
def stack(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One API and one processor for this module's tests."""
    logs = tmp_path_factory.mktemp("payments-api")
    with payments_stack(Path(__file__).resolve().parent.parent, postgres_url, logs) as running:
        yield running


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def test_a_payment_is_created_replayed_and_refunded(stack: Stack) -> None:
    """201 with the contract's fields; the same key replays it with one charge; refunds add up."""
    key = new_key()
    created = stack.pay(key)
    assert created.status_code == 201
    payment = created.json()
    assert payment["status"] == "succeeded"
    assert (payment["amount"], payment["currency"]) == (1250, "EUR")
    assert created.headers["location"] == f"/payments/{payment['id']}"

    replayed = stack.pay(key)
    assert replayed.status_code == 201
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == payment
    assert len(stack.charges_for([key])) == 1

    first = stack.refund(payment["id"], new_key(), {"amount": 500, "reason": "one item back"})
    assert first.status_code == 201
    assert first.json()["amount"] == 500
    rest = stack.refund(payment["id"], new_key())
    assert rest.status_code == 201
    assert rest.json()["amount"] == 750
    assert stack.get(payment["id"]).json()["refunded"] == 1250
    body = _problem(stack.refund(payment["id"], new_key(), {"amount": 1}), 422)
    assert body["type"].endswith("/refund-exceeds-payment")


def test_a_refund_replayed_with_its_key_refunds_once(stack: Stack) -> None:
    """The same refund key twice: one refund, the second answer marked as a replay."""
    payment = stack.pay(new_key()).json()
    key = new_key()
    first = stack.refund(payment["id"], key, {"amount": 300})
    again = stack.refund(payment["id"], key, {"amount": 300})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert stack.get(payment["id"]).json()["refunded"] == 300


def test_another_tenant_can_neither_read_nor_refund_a_payment(stack: Stack) -> None:
    """globex gets 404 for acme's payment, exactly as for one that does not exist."""
    payment = stack.pay(new_key()).json()
    _problem(stack.get(payment["id"], tenant="globex"), 404)
    _problem(stack.refund(payment["id"], new_key(), tenant="globex"), 404)
    assert stack.get(payment["id"]).json()["refunded"] == 0


def test_a_request_without_a_valid_api_key_is_401(stack: Stack) -> None:
    """No key, a wrong key, or another scheme: 401 problem, and no charge."""
    key = new_key()
    url = f"{stack.api.url}/payments"
    for auth in (None, "Bearer sk_test_wrong", f"Basic {KEYS['acme']}"):
        headers = {"Idempotency-Key": key} | ({"Authorization": auth} if auth else {})
        _problem(answered(functools.partial(httpx.post, url, json=CARD, headers=headers)), 401)
    assert stack.charges_for([key]) == []


def test_a_key_reused_for_another_payment_is_422_and_charges_nothing_more(stack: Stack) -> None:
    """Same key, different amount: 422 idempotency-key-reused; one charge stays one."""
    key = new_key()
    assert stack.pay(key).status_code == 201
    body = _problem(stack.pay(key, {**CARD, "amount": 9999}), 422)
    assert body["type"].endswith("/idempotency-key-reused")
    assert [c["amount"] for c in stack.charges_for([key])] == [1250]


def test_the_idempotency_key_is_required_and_checked(stack: Stack) -> None:
    """A missing, empty, over-long or non-ASCII key is 400 before anything is charged."""
    url = f"{stack.api.url}/payments"
    auth = {"Authorization": f"Bearer {KEYS['acme']}"}
    for extra in ({}, {"Idempotency-Key": ""}, {"Idempotency-Key": "k" * 256}):
        send = functools.partial(httpx.post, url, json=CARD, headers=auth | extra)
        _problem(answered(send), 400)
    raw = [
        (b"authorization", f"Bearer {KEYS['acme']}".encode()),
        (b"idempotency-key", b"\xe9t\xe9"),
    ]
    _problem(answered(lambda: httpx.post(url, json=CARD, headers=raw)), 400)


INVALID_BODIES: list[tuple[bytes, int]] = [
    (b"not json", 400),
    (b"[1, 2]", 400),
    (b'{"currency": "EUR", "source": "tok_visa"}', 422),
    (b'{"amount": 0, "currency": "EUR", "source": "tok_visa"}', 422),
    (b'{"amount": -5, "currency": "EUR", "source": "tok_visa"}', 422),
    (b'{"amount": 12.5, "currency": "EUR", "source": "tok_visa"}', 422),
    (b'{"amount": true, "currency": "EUR", "source": "tok_visa"}', 422),
    (b'{"amount": "1250", "currency": "EUR", "source": "tok_visa"}', 422),
    (b'{"amount": 100000001, "currency": "EUR", "source": "tok_visa"}', 422),
    (b'{"amount": 1e400, "currency": "EUR", "source": "tok_visa"}', 422),
    (b'{"amount": 1250, "currency": "eur", "source": "tok_visa"}', 422),
    (b'{"amount": 1250, "currency": "XXX", "source": "tok_visa"}', 422),
    (b'{"amount": 1250, "currency": "EUR", "source": "4242424242424242"}', 422),
    (b'{"amount": 1250, "currency": "EUR", "source": "tok_visa\\n"}', 422),
    (b'{"amount": 1250, "currency": "EUR", "source": "tok_visa", "description": "a\\u0000b"}', 422),
    (b'{"amount": 1250, "currency": "EUR", "source": "tok_visa", "description": "\\ud800"}', 422),
    (b'{"amount": 1250, "currency": "EUR", "source": "tok_visa", "capture": false}', 422),
    (b"[" * 10_000, 400),
    (b"[" * 100_000, 413),  # past the route's 16 KiB body limit
]


@pytest.mark.parametrize(("body", "status"), INVALID_BODIES)
def test_every_invalid_payment_body_is_a_4xx_problem(
    stack: Stack, body: bytes, status: int
) -> None:
    """Bad JSON 400, a bad field 422, a body past the limit 413, all problem+json; no charge."""
    key = new_key()
    headers = {"Authorization": f"Bearer {KEYS['acme']}", "Idempotency-Key": key}
    url = f"{stack.api.url}/payments"
    _problem(answered(lambda: httpx.post(url, content=body, headers=headers)), status)
    assert stack.charges_for([key]) == []


def test_concurrent_refunds_never_refund_more_than_was_paid(stack: Stack) -> None:
    """Twenty refunds of 100 race for a payment of 1000: ten succeed, the rest are 422."""
    payment = stack.pay(new_key(), {**CARD, "amount": 1000}).json()

    def refund(_: int) -> httpx.Response:
        return stack.refund(payment["id"], new_key(), {"amount": 100})

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(refund, range(20)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * 10 + [422] * 10
    assert stack.get(payment["id"]).json()["refunded"] == 1000


def test_the_openapi_document_describes_the_routes(stack: Stack) -> None:
    """`/openapi.json` is served and lists the three operations with the required key."""
    document = answered(lambda: httpx.get(f"{stack.api.url}/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    create = document["paths"]["/payments"]["post"]
    assert {"name": "Idempotency-Key", "required": True}.items() <= create["parameters"][0].items()
    assert set(document["paths"]) == {
        "/payments",
        "/payments/{payment_id}",
        "/payments/{payment_id}/refunds",
    }


def test_the_same_key_sent_concurrently_charges_once(stack: Stack) -> None:
    """One key sent five times at once: one runs, the rest 409 + Retry-After; one charge."""
    key = new_key()
    stack.faults(latency_s=0.5)
    try:
        with ThreadPoolExecutor(max_workers=5) as pool:
            answers = list(pool.map(lambda _: stack.pay(key), range(5)))
    finally:
        stack.faults()
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses[0] == 201
    assert set(statuses) <= {201, 409}
    assert all("retry-after" in a.headers for a in answers if a.status_code == 409)
    assert stack.pay(key).headers["idempotent-replayed"] == "true"
    assert len(stack.charges_for([key])) == 1
