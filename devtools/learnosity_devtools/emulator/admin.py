"""Unsigned loopback tooling under `/_emulator/`: health, stored sessions, faults, stats, reset."""

from __future__ import annotations

import json
from typing import Any

from learnosity_devtools.emulator.app import Emulator
from learnosity_devtools.emulator.faults import Faults

PREFIX = "/_emulator/"


def handle(app: Emulator, method: str, path: str, body: bytes) -> tuple[int, Any]:
    """(HTTP status, JSON body) for an admin request."""
    name = path.split("?", 1)[0][len(PREFIX) :].strip("/")
    if (method, name) == ("GET", "health"):
        return 200, {"status": "ok"}
    if (method, name) == ("GET", "sessions"):
        return 200, app.stored_sessions()
    if (method, name) == ("GET", "stats"):
        return 200, app.stats_snapshot()
    if (method, name) == ("GET", "faults"):
        return 200, app.faults.current().model_dump()
    if (method, name) == ("POST", "faults"):
        try:
            faults = Faults.model_validate(json.loads(body or b"{}"))
        except ValueError as exc:  # bad JSON or a pydantic ValidationError
            return 400, {"error": f"invalid faults: {exc}"}
        app.faults.set(faults)
        return 200, faults.model_dump()
    if (method, name) == ("POST", "reset"):
        app.reset()
        return 200, {"status": "reset"}
    if name in {"health", "sessions", "stats", "faults", "reset"}:
        return 405, {"error": f"{method} is not allowed on {PREFIX}{name}"}
    return 404, {"error": f"unknown admin endpoint {PREFIX}{name}"}
