"""A request's arrival is when the kernel received it, however late the emulator reads it."""

from __future__ import annotations

import io
import socket
import sys
import time

import pytest

from learnosity_devtools.emulator.arrival import ArrivalReader, stamp_arrivals

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_TIMESTAMPNS is Linux's")


def _connected() -> tuple[socket.socket, socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    return client, server


def test_the_first_bytes_of_each_request_carry_their_receive_time() -> None:
    client, server = _connected()
    with client, server:
        reader = ArrivalReader(server)
        rfile = io.BufferedReader(reader)
        sent = time.time()
        client.sendall(b"POST /v2025.3.LTS/sessions HTTP/1.1\r\n")
        time.sleep(0.3)  # a busy emulator gets to the bytes late
        assert rfile.readline().startswith(b"POST")
        assert reader.arrived is not None and abs(reader.arrived - sent) < 0.1

        client.sendall(b"body")
        assert rfile.read(4) == b"body"
        assert abs(reader.arrived - sent) < 0.1, "later bytes of the same request keep its stamp"

        reader.next_request()
        again = time.time()
        client.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.2)
        rfile.readline()
        assert reader.arrived is not None and abs(reader.arrived - again) < 0.1


def test_bytes_already_buffered_are_not_stamped() -> None:
    client, server = _connected()
    with client, server:
        reader = ArrivalReader(server)
        rfile = io.BufferedReader(reader)
        client.sendall(b"first\r\nsecond\r\n")  # pipelined: both lines come in one read
        time.sleep(0.05)
        rfile.readline()
        reader.next_request()
        assert rfile.readline() == b"second\r\n"
        assert reader.arrived is None, "the handler then uses its own clock"


def test_bytes_that_came_before_the_connection_was_accepted_carry_their_receive_time() -> None:
    """Stamping set on the listening socket covers a request queued while the emulator was busy."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        assert stamp_arrivals(listener)
        with socket.create_connection(listener.getsockname()) as client:
            sent = time.time()
            client.sendall(b"POST /v2025.3.LTS/sessions HTTP/1.1\r\n")
            time.sleep(0.3)  # not accepted yet
            server, _ = listener.accept()
            with server:
                reader = ArrivalReader(server)
                io.BufferedReader(reader).readline()
                assert reader.arrived is not None and abs(reader.arrived - sent) < 0.1
