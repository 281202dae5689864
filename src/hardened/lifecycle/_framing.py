"""Request-head checks the parsers lack: a size bound (431) and unambiguous framing (400).

A request head is bounded in bytes, in line length and in line count before the parser buffers
it (httptools keeps no bound at all; h11 stops near 16 KiB with a 400). Defaults follow nginx
and Envoy: 16 KiB per line, 64 KiB and 100 header fields in all. Over a bound the answer is
`431` and the connection is closed.

On h11, a head that frames its body ambiguously is refused with `400` and the connection closed
(RFC 9112 §6.3, §5.2, §2.2): `Content-Length` together with `Transfer-Encoding`, obs-fold
(a line starting with a space or tab) and bare-LF line endings. httptools refuses these itself;
both parsers refuse differing duplicate `Content-Length`s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hardened.errors import ConfigError

__all__ = [
    "BAD_FRAMING",
    "HEAD_CONTINUES",
    "HEAD_TOO_LARGE",
    "TOO_LARGE_RESPONSE",
    "HeadMeter",
    "HeaderLimits",
    "buffered_head_refusal",
    "framing_fault",
    "refusal",
]

HEAD_CONTINUES = -1  # `HeadMeter.feed`: every byte fed so far belongs to the head
HEAD_TOO_LARGE = -2  # `HeadMeter.feed`: a bound was passed
_END = b"\r\n\r\n"
_FRAMING_FIELDS = re.compile(rb"\r\n(content-length|transfer-encoding)[ \t]*:", re.IGNORECASE)


@dataclass(frozen=True, slots=True, kw_only=True)
class HeaderLimits:
    """Bounds on one request head: per line (the request line or one field), in all, in fields."""

    max_line_bytes: int = 16 * 1024
    max_total_bytes: int = 64 * 1024
    max_fields: int = 100

    def __post_init__(self) -> None:
        if not 256 <= self.max_line_bytes <= self.max_total_bytes <= 1024 * 1024:
            raise ConfigError(
                "header limits need 256 <= max_line_bytes <= max_total_bytes <= 1 MiB, got "
                f"{self.max_line_bytes} and {self.max_total_bytes}"
            )
        if not 1 <= self.max_fields <= 10_000:
            raise ConfigError(f"max_fields must be in 1..10000, got {self.max_fields}")


def _response(status: int, reason: bytes, text: bytes) -> bytes:
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (status, reason, len(text), text)
    )


TOO_LARGE_RESPONSE = _response(
    431, b"Request Header Fields Too Large", b"Request Header Fields Too Large"
)
BAD_FRAMING = _response(400, b"Bad Request", b"Ambiguous request framing")


def refusal(status: int) -> bytes:
    """The complete response (with `Connection: close`) for a refused head: 431 or 400."""
    return TOO_LARGE_RESPONSE if status == 431 else BAD_FRAMING


class HeadMeter:
    """Measures one request head as its bytes arrive, before a parser buffers them.

    `feed(data)` answers `HEAD_CONTINUES`, `HEAD_TOO_LARGE`, or the index in `data` just past
    the blank line that ends the head (the meter is then ready for the next head).
    """

    __slots__ = ("_line", "_lines", "_tail", "_total", "limits")

    def __init__(self, limits: HeaderLimits) -> None:
        self.limits = limits
        self.reset()

    def reset(self) -> None:
        """Forget the head measured so far."""
        self._total = 0
        self._line = 0  # bytes of the line not yet ended
        self._lines = 0  # lines ended
        self._tail = b""  # up to the last 3 bytes, to find an end split across reads

    def feed(self, data: bytes) -> int:
        """Measure the next bytes of a head (see the class docstring for the answer)."""
        tail = self._tail
        end = (tail + data).find(_END) if tail else data.find(_END)
        taken = len(data) if end < 0 else end + 4 - len(tail)
        limits = self.limits
        self._total += taken
        if self._total > limits.max_total_bytes:
            return HEAD_TOO_LARGE
        part = data if taken == len(data) else data[:taken]
        newlines = part.count(b"\n")
        self._lines += newlines
        if self._lines > limits.max_fields + 2:  # the request line and the blank line
            return HEAD_TOO_LARGE
        if newlines == 0:
            self._line += taken
        else:
            first, last = part.find(b"\n"), part.rfind(b"\n")
            longest = max(self._line + first, taken - last - 1)
            if taken > limits.max_line_bytes and newlines > 1:
                longest = max(longest, _longest_inner_line(part, first, last))
            self._line = taken - last - 1
            if longest > limits.max_line_bytes:
                return HEAD_TOO_LARGE
        if self._line > limits.max_line_bytes:
            return HEAD_TOO_LARGE
        if end >= 0:
            self.reset()
            return taken
        self._tail = (tail + data)[-3:]
        return HEAD_CONTINUES


def _longest_inner_line(part: bytes, first: int, last: int) -> int:
    longest, start = 0, first + 1
    while start <= last:  # at most max_fields + 2 lines (checked before)
        stop = part.find(b"\n", start)
        longest = max(longest, stop - start)
        start = stop + 1
    return longest


def framing_fault(head: bytes) -> str | None:
    """Why a complete (or partial) raw head frames its body ambiguously, or None.

    Checked on bytes, because h11 unfolds obs-fold and accepts bare LF before anyone sees them.
    """
    if head.count(b"\n") != head.count(b"\r\n"):
        return "bare LF line ending"
    if b"\n " in head or b"\n\t" in head:
        return "obs-fold"
    fields = {name.lower() for name in _FRAMING_FIELDS.findall(head)}
    if len(fields) == 2:
        return "Content-Length with Transfer-Encoding"
    return None


def buffered_head_refusal(buffered: bytes, meter: HeadMeter) -> int:
    """0, or the status (431, 400) refusing the head at the start of a parser's buffer (h11
    keeps a head's bytes until it is complete, so the whole head so far is checked each time)."""
    if not buffered:
        return 0
    end = meter.feed(buffered)
    meter.reset()
    if end == HEAD_TOO_LARGE:
        return 431
    return 400 if framing_fault(buffered[:end] if end > 0 else buffered) else 0
