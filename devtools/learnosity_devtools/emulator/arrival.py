"""When a request arrived: the kernel's receive time of its first bytes.

A gateway in front of the real service counts a request as it comes in. The emulator is one
Python process sharing its cores with the whole cluster under test: the thread that reads a
request line may run tens of milliseconds after the bytes came, late by different amounts for
different requests, which can put 51 SETs in a window the client spaced correctly. The kernel
stamps each received segment (`SO_TIMESTAMPNS`, Linux) regardless of how busy the process is;
where that is not available the reader stamps nothing and the handler falls back to its own clock.
Set on the listening socket too (`stamp_arrivals`): the kernel then stamps segments from the
start, including the first bytes of a connection that come before the emulator accepts it.
"""

from __future__ import annotations

import io
import socket
import struct
import sys
from typing import Any

# Linux's value where Python does not name it (it does not, as of 3.11).
_LINUX_SO_TIMESTAMPNS = 35
SO_TIMESTAMPNS: int | None = getattr(
    socket, "SO_TIMESTAMPNS", _LINUX_SO_TIMESTAMPNS if sys.platform.startswith("linux") else None
)
_TIMESPEC = struct.Struct("@qq")  # struct timespec {time_t tv_sec; long tv_nsec;}, 64-bit
_ANCILLARY_SPACE = socket.CMSG_SPACE(_TIMESPEC.size) if hasattr(socket, "CMSG_SPACE") else 0


class ArrivalReader(io.RawIOBase):
    """A socket's bytes, remembering the kernel's receive time (wall clock, `time.time()` seconds)
    of the first bytes read after `next_request()`."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self._stamping = stamp_arrivals(sock)
        self._first_due = True
        self.arrived: float | None = None

    def readable(self) -> bool:
        return True

    def next_request(self) -> None:
        """The next bytes read begin a request (bytes already buffered leave it unstamped)."""
        self._first_due = True
        self.arrived = None

    def readinto(self, buffer: Any) -> int:
        if not self._stamping:
            return self._sock.recv_into(buffer)
        count, ancillary, _flags, _address = self._sock.recvmsg_into([buffer], _ANCILLARY_SPACE)
        if self._first_due and count:
            self._first_due = False
            self.arrived = _receive_time(ancillary)
        return count


def stamp_arrivals(sock: socket.socket) -> bool:
    """Ask the kernel to stamp what `sock` receives (or, listening, what its connections will)."""
    if SO_TIMESTAMPNS is None or not _ANCILLARY_SPACE:
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def _receive_time(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return seconds + nanoseconds / 1e9
    return None
