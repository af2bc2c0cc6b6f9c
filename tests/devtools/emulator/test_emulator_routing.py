"""`/{version}/{endpoint}`, POST only; unversioned paths are a plain-text 404."""

from __future__ import annotations

import httpx
import pytest

from learnosity_devtools.emulator.routing import Route, parse_path


@pytest.mark.parametrize(
    "version", ["v2025.2.LTS", "v1", "latest", "latest-lts", "developer", "v2025.3.preview1"]
)
def test_every_sdk_version_form_is_routed(api, version: str) -> None:
    response = api.post("jobs", {"references": []}, version=version)
    assert response.status_code == 200, response.text


def test_parse_path() -> None:
    assert parse_path("/v2025.2.LTS/sessions/templates") == Route("v2025.2.LTS", "sessions/templates")
    assert parse_path("/sessions/templates") is None
    assert parse_path("/v2025.2.LTS") is None


def test_unversioned_path_is_a_plain_text_404(api) -> None:
    response = httpx.post(f"{api.url}/sessions", data=api.form({"references": []}, "get"))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/plain")
    with pytest.raises(ValueError):
        response.json()


def test_unknown_endpoint_is_a_json_404(api) -> None:
    response = api.post("itembank/items", {})
    assert response.status_code == 404
    assert response.json()["meta"] == {**response.json()["meta"], "status": False, "code": 20012}


def test_http_get_is_not_allowed(api) -> None:
    response = httpx.get(f"{api.url}/v2025.2.LTS/jobs")
    assert response.status_code == 405
    assert response.json()["meta"]["code"] == 40001


def test_unsupported_action_is_not_allowed(api) -> None:
    response = api.post("jobs", {"references": []}, "delete")
    assert response.status_code == 405
    assert response.json()["meta"]["code"] == 40001
