"""`EmulatorServer`: the emulator on a loopback port, served from background threads.

`restart()` behaves like killing and restarting the process: the port refuses connections
for the downtime, open connections are cut, and the new instance reopens the same SQLite file
and resumes the jobs that were pending.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Any

from learnosity_devtools.emulator.app import Emulator
from learnosity_devtools.emulator.arrival import stamp_arrivals
from learnosity_devtools.emulator.config import EmulatorConfig
from learnosity_devtools.emulator.faults import Faults
from learnosity_devtools.emulator.handler import DataApiHandler


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: Emulator) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, DataApiHandler)

    def server_bind(self) -> None:
        super().server_bind()
        stamp_arrivals(self.socket)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Close kept-alive connections too, as a dying process would."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class EmulatorServer:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self._port = config.port
        self._app: Emulator | None = None
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def app(self) -> Emulator:
        if self._app is None:
            raise RuntimeError("the emulator is not started")
        return self._app

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self._port}"

    def start(self) -> EmulatorServer:
        self._app = Emulator(self.config)
        self._listen()
        return self

    def _listen(self) -> None:
        self._httpd = _HttpServer((self.config.host, self._port), self.app)
        self._port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="emulator-http",
            daemon=True,
        )
        self._thread.start()

    def _stop_listening(self) -> None:
        if self._httpd is not None and self._thread is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.cut_connections()
            self._thread.join()
        self._httpd = self._thread = None

    def stop(self) -> None:
        self._stop_listening()
        if self._app is not None:
            self._app.close()
            self._app = None

    def restart(self, downtime_s: float = 0.5) -> None:
        """Go away for `downtime_s` (connections refused), then come back on the same port and file."""
        self._stop_listening()
        self.app.close()
        time.sleep(downtime_s)
        self.app.reopen()
        self._listen()

    def set_faults(self, faults: Faults) -> None:
        self.app.faults.set(faults)

    def faults(self) -> Faults:
        return self.app.faults.current()

    def stored_sessions(self) -> list[dict[str, Any]]:
        """What was stored: session_id, user_id, activity_id, dt_saved, writes, responses by id."""
        return self.app.stored_sessions()

    def stats(self) -> dict[str, Any]:
        return self.app.stats_snapshot()

    def reset(self) -> None:
        self.app.reset()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
