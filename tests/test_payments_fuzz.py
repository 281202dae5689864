"""Requests generated from the API's own OpenAPI document (and deliberate near-misses of it)
against the running service: no input produces a 5xx, every refusal is problem+json."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.payments_stack import CARD, KEYS, Stack, answered, new_key, payments_stack

EXAMPLES = 60  # per operation: bounded, about 20 s in all
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def stack(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One API and processor for the fuzz run."""
    logs = tmp_path_factory.mktemp("payments-fuzz")
    with payments_stack(Path(__file__).resolve().parent.parent, postgres_url, logs) as running:
        yield running


@pytest.fixture(scope="module")
def document(stack: Stack) -> dict[str, Any]:
    """The OpenAPI document the service serves."""
    found: dict[str, Any] = httpx.get(f"{stack.api.url}/openapi.json").json()
    return found


@pytest.fixture(scope="module")
def payment_id(stack: Stack) -> str:
    """A real payment of tenant acme, so generated ids sometimes hit one."""
    created: str = stack.pay(new_key()).json()["id"]
    return created


def _resolve(node: Any, document: dict[str, Any]) -> Any:
    """Inline the document's local `$ref`s."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _resolve(target, document)
        return {key: _resolve(value, document) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, document) for item in node]
    return node


def _body_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    operation = document["paths"][path]["post"]
    schema: dict[str, Any] = operation["requestBody"]["content"]["application/json"]["schema"]
    resolved: dict[str, Any] = _resolve(schema, document)
    return resolved


def from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid against the subset of JSON Schema the document uses (objects with required
    and optional properties, enums, bounded integers, patterned or bounded strings, null)."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return st.one_of([from_schema({**schema, "type": kind}) for kind in kinds])
    if kinds == "null":
        return st.none()
    if kinds == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kinds == "string":
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength"))
    if kinds == "object":
        properties = {name: from_schema(sub) for name, sub in schema["properties"].items()}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {name: value for name, value in properties.items() if name in required},
            optional={name: value for name, value in properties.items() if name not in required},
        )
    raise ValueError(f"the fuzz test does not generate {schema!r}")


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=10,
)


def _bodies(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid bodies, bodies with one field broken, and any JSON at all."""
    valid = from_schema(schema)
    broken = st.tuples(valid, st.sampled_from(sorted(schema["properties"])), JSON).map(
        lambda parts: {**parts[0], parts[1]: parts[2]} if isinstance(parts[0], dict) else parts[0]
    )
    return st.one_of(valid, broken, JSON)


def _headers() -> st.SearchStrategy[dict[str, str]]:
    """A known or unknown API key (or none), a key from the schema's pattern, or none."""
    auth = st.sampled_from([f"Bearer {KEYS['acme']}", f"Bearer {KEYS['globex']}", "Bearer x", ""])
    # Printable ASCII; no space at either end (HTTP strips it, so a client cannot send it).
    key = st.one_of(st.from_regex(r"[!-~]([ -~]{0,38}[!-~])?", fullmatch=True), st.just(""))
    return st.builds(
        lambda a, k: {n: v for n, v in (("Authorization", a), ("Idempotency-Key", k)) if v},
        auth,
        key,
    )


def _ids(known: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(known),
        st.uuids().map(str),
        st.text(
            st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="/?#%"),
            min_size=1,
            max_size=40,
        ),
    )


def _checked(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", response.text


def _post(stack: Stack, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    url = f"{stack.api.url}{path}"
    return answered(lambda: httpx.post(url, json=body, headers=headers, timeout=30))


def test_generated_payments_never_get_a_5xx(stack: Stack, document: dict[str, Any]) -> None:
    """`POST /payments` with generated bodies and headers: 2xx or a 4xx problem, never 5xx."""
    seen: set[int] = set()

    @FUZZ
    @given(body=_bodies(_body_schema(document, "/payments")), headers=_headers())
    def run(body: Any, headers: dict[str, str]) -> None:
        response = _post(stack, "/payments", body, headers)
        seen.add(response.status_code)
        _checked(response)

    run()
    assert 201 in seen  # valid requests got through
    assert {400, 422} <= seen  # and the validation was reached


def test_generated_refunds_and_reads_never_get_a_5xx(
    stack: Stack, document: dict[str, Any], payment_id: str
) -> None:
    """Refunds and reads with generated ids, bodies and headers: never a 5xx."""
    seen: set[int] = set()

    @FUZZ
    @given(
        target=_ids(payment_id),
        body=_bodies(_body_schema(document, "/payments/{payment_id}/refunds")),
        headers=_headers(),
    )
    def run(target: str, body: Any, headers: dict[str, str]) -> None:
        refund = _post(stack, f"/payments/{target}/refunds", body, headers)
        read = answered(lambda: httpx.get(f"{stack.api.url}/payments/{target}", headers=headers))
        seen.update((refund.status_code, read.status_code))
        _checked(refund)
        _checked(read)

    run()
    assert {200, 404} <= seen


def test_generated_bodies_follow_the_schema(document: dict[str, Any]) -> None:
    """The generator's valid bodies pass the API's own validation."""
    from examples.payments_api.validation import parse_payment

    @FUZZ
    @given(body=from_schema(_body_schema(document, "/payments")))
    def run(body: dict[str, Any]) -> None:
        parse_payment(json.dumps(body).encode())

    run()


def test_the_fuzz_check_would_see_a_5xx() -> None:
    """The check used above fails on a 500 and on a 4xx that is not problem+json."""
    request = httpx.Request("POST", "http://t/payments")
    with pytest.raises(AssertionError):
        _checked(httpx.Response(500, request=request))
    with pytest.raises(AssertionError):
        _checked(httpx.Response(404, text="Not Found", request=request))
    _checked(httpx.Response(201, json={**CARD, "id": str(uuid.uuid4())}, request=request))
