"""Parsing of what the load tools, /proc and HTTP servers print, as the benchmarks read it."""

from __future__ import annotations

import os

import pytest

from benchmarks._client import parse_head
from benchmarks._loadgen import missing_tool_message, parse_duration, parse_hey, parse_wrk
from benchmarks._servers import ServerSpec, cpu_seconds, parse_proc_stat

WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:18123/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   431.36us  229.09us   4.67ms   89.80%
    Req/Sec    19.09k     4.10k   27.50k    66.67%
  Latency Distribution
     50%  405.00us
     75%  490.00us
     90%  639.00us
     99%    1.05ms
  39837 requests in 2.10s, 5.24MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 12
Requests/sec:  18971.46
Transfer/sec:      2.50MB
"""

HEY_OUTPUT = """
Summary:
  Total:\t2.0014 secs
  Requests/sec:\t14710.4727

Latency distribution:
  10% in 0.0002 secs
  50% in 0.0005 secs
  99% in 0.0017 secs

Status code distribution:
  [200]\t29441 responses
  [503]\t9 responses

Error distribution:
  [4]\tGet "http://127.0.0.1:1/": dial tcp 127.0.0.1:1: connect: connection refused
  [1]\tGet "http://127.0.0.1:1/": EOF
"""


def test_parse_wrk_reads_counts_errors_and_percentiles() -> None:
    """wrk's request count, duration, socket errors, non-2xx and latency percentiles are read."""
    result = parse_wrk(WRK_OUTPUT)
    assert (result.tool, result.requests, result.non_2xx, result.errors) == ("wrk", 39837, 12, 6)
    assert result.seconds == pytest.approx(2.10)
    assert result.rps == pytest.approx(39837 / 2.10)
    assert result.latency_s["p50"] == pytest.approx(405e-6)
    assert result.latency_s["p99"] == pytest.approx(1.05e-3)


def test_parse_wrk_without_a_count_is_an_error() -> None:
    """Output with no request line (wrk could not connect) is refused, not read as zero."""
    with pytest.raises(ValueError, match="no request count"):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_parse_hey_reads_statuses_errors_and_percentiles() -> None:
    """hey's status and error distributions add up to requests, non-2xx and errors."""
    result = parse_hey(HEY_OUTPUT)
    assert (result.tool, result.requests, result.non_2xx, result.errors) == ("hey", 29450, 9, 5)
    assert result.seconds == pytest.approx(2.0014)
    assert result.latency_s == {"p50": 0.0005, "p99": 0.0017}


def test_parse_duration_units() -> None:
    """wrk's duration units (us, ms, s, m) convert to seconds; anything else is refused."""
    assert parse_duration("405.00us") == pytest.approx(405e-6)
    assert parse_duration("2.5ms") == pytest.approx(2.5e-3)
    assert parse_duration("1.00m") == 60.0
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("fast")


def test_missing_tool_message_names_the_install_command() -> None:
    """The message printed without wrk and hey says what to install and how."""
    message = missing_tool_message()
    assert "wrk" in message
    assert "apt-get install -y wrk hey" in message


def test_parse_proc_stat_counts_user_and_system_ticks() -> None:
    """utime + stime are read after the last ')', even when the command name holds ') ('."""
    line = "4242 (odd) (name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 2000 30"
    assert parse_proc_stat(line, 100) == 3.0


def test_cpu_seconds_of_this_process_grows() -> None:
    """The CPU time read from /proc for this very process is positive and never decreases."""
    first = cpu_seconds(os.getpid())
    sum(i * i for i in range(200_000))
    assert 0 < first <= cpu_seconds(os.getpid())


def test_parse_head_reads_status_and_lowercases_headers() -> None:
    """An HTTP/1.1 response head yields its status and lower-cased header names."""
    head = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n"
    assert parse_head(head) == (503, {"retry-after": "2", "content-length": "0"})
    with pytest.raises(ValueError, match="status line"):
        parse_head(b"SSH-2.0-OpenSSH\r\n\r\n")


def test_server_spec_builds_uvicorn_and_hardened_commands() -> None:
    """A uvicorn variant turns its access log off by default; a hardened one runs without admin."""
    uvicorn = ServerSpec(label="a", app="m:app", args=("--limit-concurrency", "5")).command(81)
    assert uvicorn[1:4] == ["-m", "uvicorn", "m:app"]
    assert "--no-access-log" in uvicorn
    assert uvicorn[-2:] == ["--limit-concurrency", "5"]
    hardened = ServerSpec(label="b", app="m:svc", runner="hardened").command(82)
    assert hardened[1:5] == ["-m", "hardened", "run", "m:svc"]
    assert hardened[hardened.index("--admin-port") + 1] == "0"
    with pytest.raises(ValueError, match="runner"):
        ServerSpec(label="c", app="m:app", runner="gunicorn")
