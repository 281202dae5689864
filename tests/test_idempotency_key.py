"""The Idempotency-Key header as read: one value, 1-255 printable ASCII, a quoted form, and the
reason each refusal gives the client."""

from __future__ import annotations

import pytest

from hardened.errors import IdempotencyKeyInvalid
from hardened.idempotency._key import MAX_KEY_LENGTH, read_key

NAME = b"idempotency-key"


def key_of(*values: bytes) -> str | None:
    headers = [(b"content-type", b"application/json")]
    headers += [(NAME, value) for value in values]
    return read_key(headers, NAME)


def test_the_key_is_the_header_value_and_absent_is_none() -> None:
    """A bare token is taken as it is; without the header there is no key."""
    assert key_of(b"order-1:charge") == "order-1:charge"
    assert key_of(b" spaced key ") == " spaced key "
    assert key_of() is None


def test_a_structured_field_string_is_unquoted() -> None:
    """`"abc"` is the key abc; a lone quote character or `"` alone are not keys."""
    assert key_of(b'"abc"') == "abc"
    assert key_of(b'"a"') == "a"
    assert key_of(b'"' + b"k" * MAX_KEY_LENGTH + b'"') == "k" * MAX_KEY_LENGTH


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'""', "the key must be 1 to 255 printable ASCII characters"),
        (b"", "the key must be 1 to 255 printable ASCII characters"),
        (b"k" * 256, "the key must be 1 to 255 printable ASCII characters"),
        (b"tab\tkey", "the key must be 1 to 255 printable ASCII characters"),
        (b'"', "a key must not contain quotes or backslashes"),
        (b'"abc', "a key must not contain quotes or backslashes"),
        (b'a"b', "a key must not contain quotes or backslashes"),
        (b"a\\b", "a key must not contain quotes or backslashes"),
        (b'"a\\b"', "a key must not contain quotes or backslashes"),
        ("clé".encode(), "the key must be printable ASCII"),
    ],
    ids=[
        "empty-quoted",
        "empty",
        "256",
        "control",
        "lone-quote",
        "open-quote",
        "inner-quote",
        "backslash",
        "quoted-backslash",
        "non-ascii",
    ],
)
def test_a_malformed_key_is_refused_with_its_reason(value: bytes, reason: str) -> None:
    """Each malformed key is refused, and the client is told what is wrong with it."""
    with pytest.raises(IdempotencyKeyInvalid) as refused:
        key_of(value)
    assert str(refused.value) == reason


def test_a_key_sent_twice_is_refused_even_when_equal() -> None:
    """Two Idempotency-Key headers are ambiguous: refused, whatever their values."""
    with pytest.raises(IdempotencyKeyInvalid) as refused:
        key_of(b"a", b"a")
    assert str(refused.value) == "the Idempotency-Key header was sent more than once"
