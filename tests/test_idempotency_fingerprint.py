"""Request fingerprints and derived downstream keys: what tells two requests apart, what does
not, and that neither changes from one release to the next."""

from __future__ import annotations

from typing import Any

import pytest

from hardened.idempotency import derive_key
from hardened.idempotency._fingerprint import canonical_body, fingerprint

JSON = b"application/json"


def print_of(**changes: Any) -> bytes:
    request: dict[str, Any] = {
        "method": "POST",
        "route": "/orders/{order}/cancel",
        "path_params": {"order": "12"},
        "query_string": b"rush=1&note=&a=2",
        "body": '{"qty": 2, "item": "café"}'.encode(),
        "content_type": b"application/json; charset=utf-8",
    }
    request.update(changes)
    return fingerprint(**request)


def test_fingerprints_and_derived_keys_never_change_between_releases() -> None:
    """A key stored by the previous release must match its retry after a rolling deploy, and a
    resumed payment must send the processor the key it sent before: these values are fixed."""
    assert print_of().hex() == "7fcf6250fb799b8aa83ce3ce4ca49e5865d0e7a5831ca44dc11e3ed693835dee"
    assert (
        print_of(secret=b"k3y").hex()
        == "522f26a18e2ea3488ce1254858622ca93bf853ff16d0128d168bdaaf3766394e"
    )
    assert (
        derive_key("tenant-a", "pay-1", "charge")
        == "7b34a9ac1a69ccc8cdecd5245a19f7cfe0355fb0436e58ea3dda165f148df72e"
    )
    bare = print_of(route="/orders", path_params={}, query_string=b"")  # nothing to sort
    assert bare.hex() == "7f25391ef534abc5de54e7f531e6b14f1261f30fbced4a8ac5fdf541de7ad081"


def test_a_secret_keys_the_fingerprint() -> None:
    """With a secret the digest is an HMAC: it differs from the plain one and per secret."""
    plain, keyed, other = print_of(), print_of(secret=b"k3y"), print_of(secret=b"k4y")
    assert len({plain, keyed, other}) == 3
    assert keyed == print_of(secret=b"k3y")
    assert len(keyed) == 32


@pytest.mark.parametrize(
    "content_type",
    [
        b"application/json",
        b"Application/JSON",
        b"application/json; charset=utf-8",
        b"application/json; charset=utf-8; profile=x",
        b"application/merge-patch+json",
        b"application/vnd.api+JSON ; v=2",
    ],
)
def test_json_bodies_are_compared_in_canonical_form(content_type: bytes) -> None:
    """Key order and spacing do not tell JSON bodies apart, under any JSON media type."""
    assert canonical_body(b'{ "b": [1, 2],\n "a": "\\u00e9" }', content_type) == (
        '{"a":"é","b":[1,2]}'.encode()
    )
    assert print_of(body=b'{"a":1,"b":2}', content_type=content_type) == print_of(
        body=b'{"b": 2, "a": 1}', content_type=content_type
    )


@pytest.mark.parametrize("content_type", [b"", b"text/plain", b"application/jsonx", b"json"])
def test_other_bodies_are_compared_byte_for_byte(content_type: bytes) -> None:
    """A body that is not declared JSON is hashed as sent, even when it parses as JSON."""
    assert canonical_body(b'{"b": 2, "a": 1}', content_type) == b'{"b": 2, "a": 1}'
    assert print_of(body=b'{"a":1,"b":2}', content_type=content_type) != print_of(
        body=b'{"b":2,"a":1}', content_type=content_type
    )


@pytest.mark.parametrize(
    "body",
    [b"", b'{"a": 1', b'{"a": NaN}', b"[1e400]", b"[" * 100_000 + b"]" * 100_000],
    ids=["empty", "truncated", "nan", "overflowing-number", "too-deep"],
)
def test_a_body_the_canonical_form_cannot_hold_is_hashed_as_sent(body: bytes) -> None:
    """Malformed JSON, NaN, a number past a float, or nesting too deep: the bytes as they are."""
    assert canonical_body(body, JSON) == body


def test_every_part_of_the_request_tells_two_requests_apart() -> None:
    """Method, route, a path parameter, the query (a blank value included) and the body."""
    base = print_of()
    others = [
        print_of(method="PUT"),
        print_of(route="/orders/{order}/refund"),
        print_of(path_params={"order": "13"}),
        print_of(query_string=b"rush=1&a=2"),
        print_of(query_string=b"rush=1&note=x&a=2"),
        print_of(body=b'{"qty": 3, "item": "caf\\u00e9"}'),
    ]
    assert base not in others
    assert len(set(others)) == len(others)


def test_query_order_does_not_tell_requests_apart_but_repeated_values_do() -> None:
    """Sorted query pairs: a=2&rush=1 equals rush=1&a=2; a=1&a=1 is not a=1."""
    assert print_of(query_string=b"note=&a=2&rush=1") == print_of()
    assert print_of(query_string=b"a=1&a=1") != print_of(query_string=b"a=1")


def test_parts_cannot_run_into_each_other() -> None:
    """Length prefixes keep /orders/12 + 3 apart from /orders/123 + (nothing)."""
    assert print_of(route="/orders/12", body=b"3") != print_of(route="/orders/123", body=b"")
    assert print_of(path_params={"a": "1", "b": "2"}) != print_of(path_params={"a": "1b=2"})


def test_an_equals_sign_inside_a_query_name_cannot_move_the_pair_boundary() -> None:
    """`a%3Db=c` (name "a=b") and `a=b%3Dc` (value "b=c") decode to pairs that would both read
    "a=b=c": they stay apart. So do name "a\\" with value "=b" and name "a=" with value "b",
    which an escape of "=" alone would both write as "a\\==b"."""
    assert print_of(query_string=b"a%3Db=c") != print_of(query_string=b"a=b%3Dc")
    assert print_of(query_string=b"a%5C=%3Db") != print_of(query_string=b"a%3D=b")
    # The escaped form is fixed too: a key stored with such a query matches its retry later.
    escaped = print_of(query_string=b"a%3Db%5C=c")  # name a=b\ hashed as a\=b\\
    assert escaped.hex() == "02bdbc27e82ee40ec34046fc4372e0c8d34a6d5444c75e2bfe6a8eb1d8f2e8a5"


def test_downstream_keys_are_64_hex_and_unique_per_tenant_key_and_step() -> None:
    """A derived key is a SHA-256 in hex, different for every (scope, key, step)."""
    keys = {
        derive_key(scope, key, step)
        for scope in ("a", "ab")
        for key in ("k", "bk")
        for step in ("charge", "refund")
    }
    assert len(keys) == 8
    assert all(len(k) == 64 and int(k, 16) >= 0 for k in keys)
