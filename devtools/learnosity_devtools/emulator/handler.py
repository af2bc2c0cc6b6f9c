"""HTTP plumbing: one `POST /{version}/{endpoint}` with form fields `security`, `request`, `action`.

Order per Data API request: the arrival time (what the rate limit counts, as a gateway counts a
request when it comes in: the kernel's receive time of its request line, `arrival`, so neither a
busy emulator nor a large body moves it), simulated latency
(outside every lock: the time the service takes to answer), injected 429 burst and 500 errors,
signature, rate limit, the endpoint itself, and last the injected dropped connection (the job is
already committed, the client just never hears about it).
"""

from __future__ import annotations

import io
import json
import logging
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol, cast
from urllib.parse import parse_qs

from learnosity_devtools.emulator import admin, api
from learnosity_devtools.emulator.app import Emulator
from learnosity_devtools.emulator.arrival import ArrivalReader
from learnosity_devtools.emulator.envelope import (
    INTERNAL_ERROR,
    METHOD_NOT_ALLOWED,
    NO_RIGHTS,
    NOT_FOUND,
    RATE_LIMITED_BODY,
    ApiError,
)
from learnosity_devtools.emulator.routing import parse_path
from learnosity_devtools.emulator.security import verify
from learnosity_devtools.emulator.stats import DROPPED

log = logging.getLogger(__name__)
FORM_TYPE = "application/x-www-form-urlencoded"


class _AppServer(Protocol):
    app: Emulator


class DataApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients pool connections
    timeout = 60  # an idle keep-alive connection frees its thread after this
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    @property
    def app(self) -> Emulator:
        return cast(_AppServer, self.server).app

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # read through the stamping reader instead
        self._reader = ArrivalReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.next_request()
        super().handle_one_request()

    def parse_request(self) -> bool:
        self._arrived = self._arrival()
        return super().parse_request()

    def _arrival(self) -> float:
        """On the limiter's clock: when the request line was received, else now."""
        now = self.app.limiter.now()
        received = self._reader.arrived
        return now if received is None else now - max(0.0, time.time() - received)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, body: Any, stats_key: str | None = None) -> None:
        if stats_key is not None:
            self.app.stats.record(stats_key, status)
        self._send(status, json.dumps(body, ensure_ascii=False).encode("utf-8"))

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        body = self._body()
        if self.path.startswith(admin.PREFIX):
            self._send_json(*admin.handle(self.app, method, self.path, body))
            return
        route = parse_path(self.path)
        if route is None:
            self.app.stats.record("unversioned", 404)
            self._send(404, b"Not Found", "text/plain; charset=utf-8")
            return
        if route.endpoint not in api.KNOWN_ENDPOINTS:
            error = ApiError(404, NOT_FOUND, f"Not found: /{route.version}/{route.endpoint}")
            self._send_json(404, error.body(), f"unknown /{route.endpoint}")
            return
        if method != "POST":
            error = ApiError(405, METHOD_NOT_ALLOWED, "The Data API takes POST only")
            self._send_json(405, error.body(), f"{method} /{route.endpoint}")
            return
        fields = self._form(body)
        action = fields.get("action")
        key = f"{action or 'get'} /{route.endpoint}"
        try:
            with self.app.stats.answering(key):
                status, answer = self._data_api(route.endpoint, action or "get", fields, action)
        except ApiError as exc:
            status, answer = exc.http_status, exc.body()
        except Exception:
            log.exception("Request to %s failed", key)
            status, answer = 500, ApiError(500, INTERNAL_ERROR, "Internal error").body()
        if answer is None:
            self.app.stats.record(key, DROPPED)
            self.close_connection = True
            return
        self._send_json(status, answer, key)

    def _form(self, body: bytes) -> dict[str, str]:
        if self.headers.get_content_type() != FORM_TYPE:
            return {}
        parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        return {name: values[0] for name, values in parsed.items()}

    def _data_api(
        self, endpoint: str, action: str, fields: dict[str, str], signed_action: str | None
    ) -> tuple[int, dict[str, Any] | None]:
        """(status, body) of a Data API request; body None means: close without answering."""
        app = self.app
        arrived = self._arrived  # before the body and the answer's latency: load must not move it
        is_set_sessions = (action, endpoint) == ("set", "sessions")
        latency = app.faults.latency(is_set_sessions)
        if latency > 0:
            time.sleep(latency)
        if app.faults.take("burst_429"):
            return 429, RATE_LIMITED_BODY
        if app.faults.internal_error():
            raise ApiError(500, INTERNAL_ERROR, "Internal error (injected fault)")
        consumer_key = verify(
            fields.get("security"),
            fields.get("request"),
            signed_action,
            app.config.consumers,
            now=datetime.now(UTC),
            timestamp_window_s=app.config.timestamp_window_s,
        )
        if not app.limiter.allow(consumer_key, action, endpoint, arrived):
            return 429, RATE_LIMITED_BODY
        if is_set_sessions and app.faults.current().deny_sets:
            raise ApiError(403, NO_RIGHTS, "Consumer lacks the rights to write sessions (injected fault)")
        if is_set_sessions:
            app.stats.record_set_arrival(arrived)
        answer = api.dispatch(app, action, endpoint, consumer_key, fields.get("request"))
        if is_set_sessions and app.faults.take("drop_after_commit"):
            return 200, None
        return 200, answer
