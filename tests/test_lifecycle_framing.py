"""Request-head bounds and framing checks, on bytes, without a server."""

from __future__ import annotations

import pytest

from hardened.errors import ConfigError
from hardened.lifecycle._framing import (
    HEAD_CONTINUES,
    HEAD_TOO_LARGE,
    HeaderLimits,
    HeadMeter,
    framing_fault,
    refusal,
)

LIMITS = HeaderLimits(max_line_bytes=1024, max_total_bytes=4096, max_fields=10)
HEAD = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


def test_a_whole_head_in_one_read_ends_where_the_blank_line_ends() -> None:
    """The answer is the index just past the blank line; the bytes after it are not head."""
    meter = HeadMeter(LIMITS)
    assert meter.feed(HEAD + b"body") == len(HEAD)


def test_a_head_split_anywhere_is_found_and_measured_once() -> None:
    """Split at every byte, the end is found in the read that completes it."""
    for split in range(1, len(HEAD)):
        meter = HeadMeter(LIMITS)
        assert meter.feed(HEAD[:split]) == HEAD_CONTINUES
        assert meter.feed(HEAD[split:] + b"next") == len(HEAD) - split


def test_total_bytes_over_the_bound_are_refused_across_reads() -> None:
    """Lines of 100 bytes trickled in: the read that passes 4096 bytes in all is refused."""
    meter = HeadMeter(HeaderLimits(max_line_bytes=1024, max_total_bytes=4096, max_fields=100))
    line = b"X: " + b"a" * 95 + b"\r\n"
    answers = [meter.feed(line) for _ in range(41)]
    assert answers[:40] == [HEAD_CONTINUES] * 40
    assert answers[40] == HEAD_TOO_LARGE


def test_a_long_line_is_refused_even_when_it_arrives_in_pieces() -> None:
    """One field longer than the line bound, sent 100 bytes at a time, is refused."""
    meter = HeadMeter(LIMITS)
    meter.feed(b"GET / HTTP/1.1\r\nX: ")
    answers = [meter.feed(b"a" * 100) for _ in range(11)]
    assert answers[-1] == HEAD_TOO_LARGE
    assert HEAD_TOO_LARGE not in answers[:10]


def test_a_long_line_between_short_ones_in_one_read_is_refused() -> None:
    """A long middle line inside one read is found (not only the first and last)."""
    head = b"GET / HTTP/1.1\r\nA: b\r\nX: " + b"a" * 1100 + b"\r\nC: d\r\n\r\n"
    assert HeadMeter(HeaderLimits(max_line_bytes=1024, max_fields=10)).feed(head) == (
        HEAD_TOO_LARGE
    )


def test_more_fields_than_the_bound_are_refused() -> None:
    """Eleven tiny fields against a bound of ten: refused; ten are fine."""
    ten = b"GET / HTTP/1.1\r\n" + b"".join(b"X%d: v\r\n" % i for i in range(10)) + b"\r\n"
    eleven = ten[:-2] + b"Y: v\r\n\r\n"
    assert HeadMeter(LIMITS).feed(ten) == len(ten)
    assert HeadMeter(LIMITS).feed(eleven) == HEAD_TOO_LARGE


def test_framing_faults_are_named() -> None:
    """CL with TE, obs-fold and bare LF are faults; a clean head or a body with LF is not."""
    assert framing_fault(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked")
    assert framing_fault(b"POST / HTTP/1.1\r\ntransfer-encoding:\r\n chunked\r\n") == "obs-fold"
    assert framing_fault(b"GET / HTTP/1.1\nHost: t\n\n") == "bare LF line ending"
    assert framing_fault(HEAD) is None
    assert framing_fault(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nX-TE: chunked\r\n\r\n") is None


def test_refusals_close_the_connection() -> None:
    """431 and 400 answers carry Connection: close and a correct Content-Length."""
    for status in (431, 400):
        answer = refusal(status)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 %d " % status)
        assert b"connection: close" in head
        assert b"content-length: %d" % len(body) in head


def test_limits_are_validated() -> None:
    """A line bound above the total bound, or no fields at all, is a configuration error."""
    with pytest.raises(ConfigError):
        HeaderLimits(max_line_bytes=8192, max_total_bytes=4096)
    with pytest.raises(ConfigError):
        HeaderLimits(max_fields=0)
