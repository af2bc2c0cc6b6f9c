"""`SET /sessions` envelope errors: answered at once, nothing committed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from learnosity_devtools.emulator import EmulatorServer


def _refused(emulator: EmulatorServer, api, request: Any, code: int) -> str:
    response = api.post("sessions", request, "set")
    assert response.status_code == 400, response.text
    meta = response.json()["meta"]
    assert (meta["status"], meta["code"]) == (False, code)
    assert sum(emulator.stats()["jobs"].values()) == 0
    return str(meta["message"])


def test_valid_request_returns_a_job_reference(emulator, api, build) -> None:
    body = api.ok("sessions", build.from_template(build.session()), "set")
    assert set(body["data"]) == {"job_reference"}
    assert emulator.stats()["jobs"]["queued"] + emulator.stats()["jobs"]["running"] <= 1


def test_missing_data_format(emulator, api, build) -> None:
    request = build.from_template(build.session())
    del request["data_format"]
    _refused(emulator, api, request, 20000)


def test_missing_request(emulator, api) -> None:
    _refused(emulator, api, None, 20000)


def test_unknown_data_format(emulator, api, build) -> None:
    _refused(emulator, api, build.from_template(build.session(), data_format="csv"), 20004)


@pytest.mark.parametrize("missing", ["data", "template"])
def test_missing_data_or_template(emulator, api, build, missing: str) -> None:
    request = build.from_template(build.session())
    del request[missing]
    _refused(emulator, api, request, 20000)


def test_more_than_50_sessions(emulator, api, build) -> None:
    entry = build.session()
    message = _refused(emulator, api, build.from_template(*[entry] * 51), 20002)
    assert "51" in message


def test_50_sessions_are_accepted(api, build) -> None:
    data = api.submit(build.from_template(*[build.session(user_id=f"u{i}") for i in range(50)]))
    assert len(data["sessions_stored"]) == 50


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"data": {"user_id": "u1"}}, "data must be an array"),
        ({"data": []}, "at least one entry"),
        ({"data": ["c2Vzc2lvbg=="]}, "data[0] must be an object"),
        ({"template": ["not", "an", "object"]}, "template must be an object"),
        ({"ignore_response_revisions": "yes"}, "ignore_response_revisions must be a boolean"),
        ({"callback_url": "http://example.org"}, "unsupported field"),
    ],
)
def test_schema_errors(emulator, api, build, change: dict[str, Any], expected: str) -> None:
    request = {**build.from_template(build.session()), **change}
    assert expected in _refused(emulator, api, request, 20009)


def test_schema_errors_are_listed_together(emulator, api, build) -> None:
    request = {**build.from_template(build.session(), 7), "ignore_response_revisions": 1}
    message = _refused(emulator, api, request, 20009)
    assert "data[1] must be an object" in message
    assert "ignore_response_revisions must be a boolean" in message


def test_failed_submission_entries_must_be_strings(emulator, api) -> None:
    request = {"data_format": "failed_submission", "data": ["YWJj", {"session_id": "x"}]}
    assert "data[1] must be a base64 string" in _refused(emulator, api, request, 20009)


def test_failed_submission_takes_no_template(emulator, api, build) -> None:
    request = {"data_format": "failed_submission", "data": ["YWJj"], "template": build.template()}
    assert "template" in _refused(emulator, api, request, 20009)


@pytest.mark.parametrize("raw", ['["data_format", "from_template"]', '{"data_format": '])
def test_request_that_is_not_a_json_object(emulator, api, raw: str) -> None:
    response = httpx.post(f"{api.url}/v2025.2.LTS/sessions", data=api.raw_form(raw, "set"))
    assert (response.status_code, response.json()["meta"]["code"]) == (400, 20009)
    assert sum(emulator.stats()["jobs"].values()) == 0
