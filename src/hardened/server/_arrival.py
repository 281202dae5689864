"""When a new connection's request arrived: the wait in the kernel's accept queue (Linux).

A request on a new connection waits in the listen socket's accept queue before the server
sees it, a queue no heartbeat measures. At accept, TCP_INFO's `tcpi_last_data_recv` says how
long ago the peer's last data arrived and `tcpi_state` whether the peer has already closed; the
receive queue (FIONREAD) says whether the request is already there. One `getsockopt` and one
`ioctl` per new connection, nothing per keep-alive request.
"""

from __future__ import annotations

import fcntl
import socket
import struct
import termios
from typing import Any

__all__ = ["accept_wait"]

_TCP_CLOSE_WAIT = 8
_LAST_DATA_RECV = struct.Struct("=I")  # tcpi_last_data_recv, milliseconds, at offset 52
_TCP_INFO_SIZE = 104


def accept_wait(sock: Any) -> tuple[float | None, bool]:
    """(seconds the pending request has waited, or None when nothing is pending or unknown;
    whether the peer has already closed its side)."""
    if sock is None or not hasattr(socket, "TCP_INFO"):
        return None, False
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
        pending = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    except (OSError, ValueError, TypeError):
        return None, False
    if len(info) < 56:
        return None, False
    gone = info[0] == _TCP_CLOSE_WAIT
    if not struct.unpack("=i", pending)[0]:
        return None, gone
    return _LAST_DATA_RECV.unpack_from(info, 52)[0] / 1000, gone
