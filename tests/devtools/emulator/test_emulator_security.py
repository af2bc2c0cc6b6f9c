"""Signature verification: the SDK reference vectors, then every 41xxx answer over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from learnosity_devtools.emulator.envelope import ApiError
from learnosity_devtools.emulator.security import hmac_signature, legacy_signatures, verify

# learnosity-sdk-python tests/unit/test_init.py (public demo consumer) and the notes' dummy vectors (§1.4).
DEMO_KEY, DEMO_SECRET = "yis0TYCu7U9V4o7M", "74c5fd430cf1242a527f6223aebd42d30464be22"
DUMMY_KEY, DUMMY_SECRET = "abcdEFGHijklMNOP", "s3cr3t"
VECTORS = [
    pytest.param(
        DEMO_KEY,
        DEMO_SECRET,
        "20140626-0528",
        '{"limit":100}',
        "get",
        "$02$e19c8a62fba81ef6baf2731e2ab0512feaf573ca5ca5929c2ee9a77303d2e197",
        "e1eae0b86148df69173cb3b824275ea73c9c93967f7d17d6957fcdd299c8a4fe",
        id="sdk-unit-test",
    ),
    pytest.param(
        DUMMY_KEY,
        DUMMY_SECRET,
        "20240101-1200",
        '{"data_format":"from_template","data":[]}',
        "set",
        "$02$8a5c502126903ef25f5ca8a0dfa0275b7d6f8a185013da9bb39924cb3b795e59",
        "2bcaa331e65faf248ef80a52a8d809c68d83fe26a146c0e7f440a3f13ac43a16",
        id="dummy-set",
    ),
    pytest.param(
        DUMMY_KEY,
        DUMMY_SECRET,
        "20240101-1200",
        '{"references":["9fd443d0-2b4f-4315-aec6-708da3d30d49"],"status":["queued","running","halted","completed"]}',
        "get",
        "$02$225aa575a8540504724bfbd04d92aed3c1abaa6beb183d32a9a02a36c078fb56",
        None,
        id="dummy-jobs",
    ),
]


def _at(timestamp: str) -> datetime:
    return datetime.strptime(timestamp, "%Y%m%d-%H%M").replace(tzinfo=UTC)


def _security(key: str, timestamp: str, signature: str) -> str:
    return json.dumps(
        {"consumer_key": key, "domain": "localhost", "timestamp": timestamp, "signature": signature}
    )


@pytest.mark.parametrize(
    ("key", "secret", "timestamp", "request_json", "action", "current", "legacy"), VECTORS
)
def test_reference_vectors(
    key: str, secret: str, timestamp: str, request_json: str, action: str, current: str, legacy: str | None
) -> None:
    security = {"consumer_key": key, "domain": "localhost", "timestamp": timestamp}
    assert hmac_signature(secret, security, request_json, action) == current
    if legacy is not None:
        assert legacy in legacy_signatures(secret, security, request_json, action)
    consumers = {key: SecretStr(secret)}
    for signature in filter(None, (current, legacy)):
        verified = verify(
            _security(key, timestamp, signature),
            request_json,
            action,
            consumers,
            now=_at(timestamp),
            timestamp_window_s=900,
        )
        assert verified == key


def test_legacy_get_may_leave_the_action_out_but_set_may_not() -> None:
    security = {"consumer_key": DUMMY_KEY, "domain": "localhost", "timestamp": "20240101-1200"}
    get_without_action = hashlib.sha256(
        "_".join([*security.values(), DUMMY_SECRET, '{"limit":1}']).encode()
    ).hexdigest()
    assert get_without_action in legacy_signatures(DUMMY_SECRET, security, '{"limit":1}', "get")
    assert get_without_action not in legacy_signatures(DUMMY_SECRET, security, '{"limit":1}', "set")


def test_a_signature_over_reserialised_json_does_not_verify() -> None:
    """The raw request string is signed: the same JSON with other spacing is another request."""
    security = {"consumer_key": DUMMY_KEY, "domain": "localhost", "timestamp": "20240101-1200"}
    signed = hmac_signature(DUMMY_SECRET, security, '{"limit": 1}', "get")
    with pytest.raises(ApiError) as raised:
        verify(
            _security(DUMMY_KEY, "20240101-1200", signed),
            '{"limit":1}',
            "get",
            {DUMMY_KEY: SecretStr(DUMMY_SECRET)},
            now=_at("20240101-1200"),
            timestamp_window_s=900,
        )
    assert raised.value.code == 41003


def _error(response: httpx.Response) -> tuple[int, int]:
    return response.status_code, response.json()["meta"]["code"]


def test_sdk_signed_request_with_telemetry_is_accepted(api) -> None:
    form = api.form({"activity_template_id": "demo-biology-cells-u3"}, "get")
    assert '"sdk"' in form["request"]  # telemetry is inside the signed string
    response = httpx.post(f"{api.url}/v2025.2.LTS/sessions/templates", data=form)
    assert response.status_code == 200, response.text


def test_non_ascii_and_slashes_are_verified_as_sent(api) -> None:
    response = api.post("sessions/templates", {"activity_template_id": "démo/ünit – 3"})
    assert _error(response) == (400, 20013)  # got past the signature check


def test_spacing_the_signer_chose_is_kept(api) -> None:
    request = '{"activity_template_id": "demo-biology-cells-u3"}'
    timestamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    pre_hash = "_".join([api.key, "localhost", timestamp, request, "get"])
    signature = "$02$" + hmac.new(api.secret.encode(), pre_hash.encode(), hashlib.sha256).hexdigest()
    form = {"security": _security(api.key, timestamp, signature), "request": request, "action": "get"}
    response = httpx.post(f"{api.url}/v2025.2.LTS/sessions/templates", data=form)
    assert response.status_code == 200, response.text


def test_tampered_request_is_a_mismatch(api) -> None:
    form = api.form({"activity_template_id": "demo-biology-cells-u3"}, "get")
    form["request"] = form["request"].replace("biology", "algebra")
    response = httpx.post(f"{api.url}/v2025.2.LTS/sessions/templates", data=form)
    assert _error(response) == (403, 41003)


def test_tampered_action_is_a_mismatch(api) -> None:
    form = api.form({"references": []}, "get")
    form["action"] = "set"
    assert _error(httpx.post(f"{api.url}/v2025.2.LTS/jobs", data=form)) == (403, 41003)


def test_wrong_secret_is_a_mismatch(api) -> None:
    api.secret = "not-the-secret"
    assert _error(api.post("jobs", {"references": []})) == (403, 41003)


def test_legacy_signature_is_accepted(api) -> None:
    request = '{"references":[]}'
    timestamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    for parts in (
        [api.key, "localhost", timestamp, api.secret, request, "get"],
        [api.key, "localhost", timestamp, api.secret, request],
    ):
        signature = hashlib.sha256("_".join(parts).encode()).hexdigest()
        form = {"security": _security(api.key, timestamp, signature), "request": request, "action": "get"}
        response = httpx.post(f"{api.url}/v2025.2.LTS/jobs", data=form)
        assert response.status_code == 200, response.text


def test_unknown_consumer(api) -> None:
    api.key = "someotherconsumr"
    assert _error(api.post("jobs", {"references": []})) == (403, 41002)


@pytest.mark.parametrize("drop", ["security", "signature", "consumer_key", "timestamp"])
def test_missing_security_parameters(api, drop: str) -> None:
    form = api.form({"references": []}, "get")
    if drop == "security":
        del form["security"]
    else:
        packet = json.loads(form["security"])
        del packet[drop]
        form["security"] = json.dumps(packet)
    assert _error(httpx.post(f"{api.url}/v2025.2.LTS/jobs", data=form)) == (400, 41000)


def test_a_json_body_carries_no_form_fields(api) -> None:
    form = api.form({"references": []}, "get")
    assert _error(httpx.post(f"{api.url}/v2025.2.LTS/jobs", json=form)) == (400, 41000)


def test_non_ascii_signature_is_a_mismatch(api) -> None:
    form = api.form({"references": []}, "get")
    packet = json.loads(form["security"])
    packet["signature"] = "$02$" + "é" * 64
    form["security"] = json.dumps(packet)
    assert _error(httpx.post(f"{api.url}/v2025.2.LTS/jobs", data=form)) == (403, 41003)


@pytest.mark.parametrize("signature", ["$02$abc", "abc", "$02$" + "0" * 65])
def test_signature_of_the_wrong_length(api, signature: str) -> None:
    form = api.form({"references": []}, "get")
    packet = json.loads(form["security"])
    packet["signature"] = signature
    form["security"] = json.dumps(packet)
    assert _error(httpx.post(f"{api.url}/v2025.2.LTS/jobs", data=form)) == (403, 41001)


def test_stale_timestamp(api) -> None:
    stale = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y%m%d-%H%M")
    assert _error(api.post("jobs", {"references": []}, timestamp=stale)) == (403, 41004)


def test_malformed_timestamp(api) -> None:
    assert _error(api.post("jobs", {"references": []}, timestamp="2024-01-01T12:00")) == (403, 41004)


def test_timestamp_window_is_configurable(make_emulator, client_for) -> None:
    api = client_for(make_emulator(timestamp_window_s=7200))
    earlier = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y%m%d-%H%M")
    assert api.post("jobs", {"references": []}, timestamp=earlier).status_code == 200


def test_expired_request(api) -> None:
    expired = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y%m%d-%H%M")
    assert _error(api.post("jobs", {"references": []}, expires=expired)) == (400, 41007)


def test_expires_in_the_future_is_accepted(api) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y%m%d-%H%M")
    assert api.post("jobs", {"references": []}, expires=later).status_code == 200


def test_malformed_expires(api) -> None:
    assert _error(api.post("jobs", {"references": []}, expires="tomorrow")) == (400, 41006)


def test_unknown_security_key(api) -> None:
    form = api.form({"references": []}, "get")
    packet = json.loads(form["security"])
    packet["role"] = "admin"
    form["security"] = json.dumps(packet)
    assert _error(httpx.post(f"{api.url}/v2025.2.LTS/jobs", data=form)) == (400, 41000)
