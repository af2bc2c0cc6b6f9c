"""Signed Data API calls (through the official SDK's `Init`) and valid sessions for the emulator tests."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from learnosity_sdk.request import Init
from learnosity_sdk.request.init import format_utc_time

from learnosity_core.content.question_types import count_characters, count_words, encode_text
from learnosity_core.content.questions import TemplateQuestion, find_questions
from learnosity_devtools.emulator import EmulatorConfig, EmulatorServer
from learnosity_devtools.emulator.seed import demo_templates

KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"
VERSION = "v2025.2.LTS"
ACTIVITY = "demo-biology-cells-u3"
TERMINAL = {"completed", "halted"}


class DataApiClient:
    """Signs like `learnosity_sdk.request.DataApi` (telemetry on), posts with httpx."""

    def __init__(self, http: httpx.Client, url: str, key: str = KEY, secret: str = SECRET) -> None:
        self.http = http
        self.url = url
        self.key = key
        self.secret = secret

    def form(self, request: Any, action: str | None, **security: str) -> dict[str, str]:
        packet = {"consumer_key": self.key, "domain": "localhost", **security}
        form = Init("data", packet, self.secret, request, action).generate()
        assert isinstance(form, dict)
        return form

    def raw_form(self, request: str, action: str) -> dict[str, str]:
        """Sign a request string the SDK would not produce (it only signs dicts it serialises)."""
        packet = {"consumer_key": self.key, "domain": "localhost", "timestamp": format_utc_time()}
        pre_hash = "_".join([*packet.values(), request, action])
        digest = hmac.new(self.secret.encode(), pre_hash.encode(), hashlib.sha256).hexdigest()
        return {
            "security": json.dumps({**packet, "signature": "$02$" + digest}),
            "request": request,
            "action": action,
        }

    def post(
        self, endpoint: str, request: Any, action: str = "get", *, version: str = VERSION, **security: str
    ) -> httpx.Response:
        return self.http.post(f"{self.url}/{version}/{endpoint}", data=self.form(request, action, **security))

    def ok(self, endpoint: str, request: Any, action: str = "get") -> dict[str, Any]:
        response = self.post(endpoint, request, action)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert body["meta"]["status"] is True
        return body

    def set_sessions(self, request: dict[str, Any]) -> str:
        return str(self.ok("sessions", request, "set")["data"]["job_reference"])

    def job(self, reference: str) -> dict[str, Any] | None:
        data = self.ok("jobs", {"references": [reference], "include": ["data"]})["data"]
        return data[0] if data else None

    def wait(self, reference: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """Poll the job (all states) until it is completed or halted."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.job(reference)
            if job is not None and job["status"] in TERMINAL:
                return job
            assert time.monotonic() < deadline, f"job {reference} still {job and job['status']}"
            time.sleep(0.02)

    def submit(self, request: dict[str, Any]) -> dict[str, Any]:
        """SET /sessions and wait for its job; the job's `data`."""
        job = self.wait(self.set_sessions(request))
        assert job["status"] == "completed", job
        return dict(job["data"])


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """One connection pool for the whole run (a client per test costs more than the test)."""
    with httpx.Client(timeout=30) as client:
        yield client


@pytest.fixture
def client_for(http: httpx.Client) -> Callable[[EmulatorServer | str], DataApiClient]:
    """Signed clients for other emulators (or their URLs)."""
    return lambda server: DataApiClient(http, server if isinstance(server, str) else server.url)


@pytest.fixture
def api(emulator: EmulatorServer, client_for: Callable[[EmulatorServer], DataApiClient]) -> DataApiClient:
    return client_for(emulator)


@pytest.fixture
def make_emulator(tmp_path: Path) -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators with other settings (each on its own SQLite file unless `db_path` is given)."""
    started: list[EmulatorServer] = []

    def make(**settings: Any) -> EmulatorServer:
        settings.setdefault("db_path", tmp_path / f"emulator-{len(started)}.db")
        config = EmulatorConfig(port=0, consumers={KEY: SECRET}, **{"job_delay_s": 0.05, **settings})
        server = EmulatorServer(config).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


class Build:
    """Valid requests built from the seeded templates; tests change one thing to break one rule."""

    activity = ACTIVITY

    @staticmethod
    def template(activity_id: str = ACTIVITY) -> dict[str, Any]:
        return demo_templates()[activity_id]

    @staticmethod
    def questions(activity_id: str = ACTIVITY) -> dict[str, TemplateQuestion]:
        return find_questions(demo_templates()[activity_id])

    @staticmethod
    def response(q: TemplateQuestion) -> dict[str, Any]:
        """A response object `check_response` accepts for this question."""
        response: dict[str, Any] = {"question_id": q.id, "type": "array"}
        slots = q.slot_count or 1
        if q.type in {"mcq", "association", "clozetext", "clozeinlinetext"}:
            options = sorted(q.allowed_values) if q.allowed_values else ["answer"]
            response["value"] = (
                options[:1] if q.type == "mcq" else [options[i % len(options)] for i in range(slots)]
            )
        elif q.type == "clozeformula":
            response["value"] = response["responses"] = [["2x+1"] for _ in range(slots)]
        elif q.type == "choicematrix":
            response["value"] = [[0] for _ in range(slots)]
        elif q.type == "orderlist":
            response["value"] = list(reversed(range(q.list_length or 3)))
        elif q.type == "gridded":
            response.update(type="string", value="12.5")
        else:
            text = (
                "<p>cells divide</p> by mitosis"
                if q.type in {"longtext", "longtextV2"}
                else "photo synthesis"
            )
            response.update(type="string", value=encode_text(text))
            if q.type == "shorttext":
                response["characterCount"] = count_characters(text)
            elif q.type != "formulaV2":
                response["wordCount"] = count_words(text, q.type)
        return response

    @classmethod
    def session(
        cls, activity_id: str = ACTIVITY, user_id: str = "student-00001", session_id: str | None = None
    ) -> dict[str, Any]:
        """A valid `from_template` entry answering every question of the activity."""
        return {
            "user_id": user_id,
            "activity_id": activity_id,
            "session_id": session_id or str(uuid.uuid4()),
            "responses": [cls.response(q) for q in cls.questions(activity_id).values()],
        }

    @classmethod
    def from_template(
        cls, *entries: dict[str, Any], activity_id: str = ACTIVITY, **extra: Any
    ) -> dict[str, Any]:
        return {
            "data_format": "from_template",
            "template": cls.template(activity_id),
            "data": list(entries),
            **extra,
        }


@pytest.fixture
def build() -> type[Build]:
    return Build
