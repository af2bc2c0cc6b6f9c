"""Signing goes through the official SDK and reproduces Learnosity's published vectors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from learnosity_sdk.request import Init

from learnosity_core.dataapi.settings import DataApiSettings
from learnosity_core.dataapi.signing import routing_headers, sign

DUMMY = DataApiSettings(
    base_url="https://data.example", consumer_key="abcdEFGHijklMNOP", consumer_secret="s3cr3t"
)
# The SDK's own unit-test consumer (public demo credentials shipped in learnosity-sdk's tests).
SDK_DEMO = DataApiSettings(
    base_url="https://data.example",
    consumer_key="yis0TYCu7U9V4o7M",
    consumer_secret="74c5fd430cf1242a527f6223aebd42d30464be22",
)


@pytest.fixture
def no_telemetry() -> Iterator[None]:
    """The vectors were computed without `meta.sdk`; the flag is class-wide, so restore it."""
    was_enabled = Init("data", {"consumer_key": "k"}, "s").is_telemetry_enabled()
    Init.disable_telemetry()
    yield
    if was_enabled:
        Init.enable_telemetry()


@pytest.mark.parametrize(
    ("settings", "timestamp", "request_", "action", "signature"),
    [
        (
            SDK_DEMO,
            "20140626-0528",
            {"limit": 100},
            "get",
            "$02$e19c8a62fba81ef6baf2731e2ab0512feaf573ca5ca5929c2ee9a77303d2e197",
        ),
        (
            DUMMY,
            "20240101-1200",
            {"data_format": "from_template", "data": []},
            "set",
            "$02$8a5c502126903ef25f5ca8a0dfa0275b7d6f8a185013da9bb39924cb3b795e59",
        ),
        (
            DUMMY,
            "20240101-1200",
            {
                "references": ["9fd443d0-2b4f-4315-aec6-708da3d30d49"],
                "status": ["queued", "running", "halted", "completed"],
            },
            "get",
            "$02$225aa575a8540504724bfbd04d92aed3c1abaa6beb183d32a9a02a36c078fb56",
        ),
    ],
)
def test_reference_vectors(
    no_telemetry: None,
    settings: DataApiSettings,
    timestamp: str,
    request_: dict[str, object],
    action: str,
    signature: str,
) -> None:
    form = sign(settings, action, request_, timestamp=timestamp)
    security = json.loads(form["security"])
    assert security == {
        "consumer_key": settings.consumer_key,
        "domain": "localhost",
        "timestamp": timestamp,
        "signature": signature,
    }
    assert form["request"] == json.dumps(request_, separators=(",", ":"))
    assert form["action"] == action


def test_fields_are_the_signed_strings_and_telemetry_is_signed_in() -> None:
    request = {"references": ["r"]}
    form = sign(DUMMY, "get", request)
    assert request == {"references": ["r"]}  # the caller's mapping is not mutated
    assert json.loads(form["request"])["meta"]["sdk"]["lang"] == "python"
    security = json.loads(form["security"])
    again = sign(DUMMY, "get", json.loads(form["request"]), timestamp=security["timestamp"])
    assert json.loads(again["security"])["signature"] == security["signature"]


def test_every_attempt_gets_the_current_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    stamps = iter(["20240101-1200", "20240101-1206"])
    monkeypatch.setattr("learnosity_sdk.request.init.format_utc_time", lambda: next(stamps))
    first = json.loads(sign(DUMMY, "get", {"limit": 1})["security"])
    second = json.loads(sign(DUMMY, "get", {"limit": 1})["security"])
    assert (first["timestamp"], second["timestamp"]) == ("20240101-1200", "20240101-1206")
    assert first["signature"] != second["signature"]


def test_secret_is_the_hmac_key_never_a_field() -> None:
    form = sign(DUMMY, "set", {"data": []})
    assert all("s3cr3t" not in value for value in form.values())


def test_routing_headers_match_the_sdk() -> None:
    assert routing_headers(DUMMY, "sessions", "set") == {
        "X-Learnosity-Consumer": "abcdEFGHijklMNOP",
        "X-Learnosity-Action": "set_/sessions",
        "X-Learnosity-SDK": "Python:0.3.13",
    }
