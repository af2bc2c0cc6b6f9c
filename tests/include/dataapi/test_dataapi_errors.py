"""Reply classification: which error class a reply becomes, and what its text may contain."""

from __future__ import annotations

import json

import pytest

from learnosity_core.dataapi.errors import (
    AuthenticationError,
    DataApiError,
    DataApiValidationError,
    RateLimitedError,
    TransientError,
    classify,
)
from learnosity_core.dataapi.exchange import Call, HttpReply, NetworkFailure, read_reply

CALL = Call("jobs", "get", {})
SECRET = "topsecret-value"


def reply(status: int, meta: dict[str, object], data: object = None) -> HttpReply:
    return HttpReply(status, json.dumps({"meta": meta, "data": data}).encode())


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (403, 41003, AuthenticationError),
        (400, 41000, AuthenticationError),
        (403, 40003, AuthenticationError),
        (400, 20009, DataApiValidationError),
        (400, 20002, DataApiValidationError),
        (429, 42000, RateLimitedError),
        (429, None, RateLimitedError),
        (500, 10000, TransientError),
        (503, None, TransientError),
        (200, 42000, RateLimitedError),
        (200, 20004, DataApiValidationError),
        (200, None, DataApiError),
    ],
)
def test_classification(status: int, code: int | None, expected: type[DataApiError]) -> None:
    error = classify(status, code, "server says", endpoint="get jobs")
    assert type(error) is expected
    assert (error.http_status, error.code, error.server_message) == (status, code, "server says")
    assert "server says" in str(error) and str(status) in str(error)


def test_meta_status_false_on_200_is_an_error() -> None:
    with pytest.raises(DataApiValidationError, match="20004"):
        read_reply(reply(200, {"status": False, "code": 20004, "message": "bad include"}), CALL)


def test_success_returns_the_envelope() -> None:
    envelope = read_reply(reply(200, {"status": True, "records": 0}, []), CALL)
    assert envelope.data == []


def test_invalid_json_from_5xx_is_transient_and_from_404_is_not() -> None:
    with pytest.raises(TransientError, match="not a Data API envelope"):
        read_reply(HttpReply(502, b"<html>Bad gateway</html>"), CALL)
    with pytest.raises(DataApiValidationError, match="404"):
        read_reply(HttpReply(404, b"Not Found"), CALL)


def test_redirect_explains_the_fix() -> None:
    with pytest.raises(DataApiError, match="https") as info:
        read_reply(HttpReply(301, b"", "https://data.learnosity.com/v2025.2.LTS/jobs"), CALL)
    assert not info.value.retryable


def test_network_failure_is_transient() -> None:
    with pytest.raises(TransientError, match="ConnectError"):
        read_reply(NetworkFailure("ConnectError", "refused"), CALL)


def test_secret_and_signature_scrubbed_from_server_text() -> None:
    echoed = reply(403, {"status": False, "code": 41003, "message": f"bad {SECRET} and $02$abc"})
    with pytest.raises(AuthenticationError) as info:
        read_reply(echoed, CALL, SECRET, "$02$abc")
    assert SECRET not in str(info.value) and "$02$abc" not in str(info.value)
    with pytest.raises(TransientError) as network:
        read_reply(NetworkFailure("ReadError", f"peer sent {SECRET}"), CALL, SECRET)
    assert SECRET not in str(network.value)
