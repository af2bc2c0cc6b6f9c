"""Every refused request names the setting to fix."""

from __future__ import annotations

import pytest

from learnosity_core.dataapi.diagnosis import explain, setting_to_fix
from learnosity_core.dataapi.errors import (
    AuthenticationError,
    DataApiValidationError,
    RateLimitedError,
    TransientError,
    classify,
)

CONN = "learnosity_default"


@pytest.mark.parametrize(
    ("http_status", "code", "expected"),
    [
        (403, 41003, "consumer key (login) / consumer secret (password) of connection learnosity_default"),
        (403, 41002, "consumer key (login) of connection learnosity_default"),
        (403, 41005, "domain (extra `domain`) of connection learnosity_default"),
        (403, 41004, "clock of this machine: the signed timestamp is out of Learnosity's range"),
        (400, 43000, "LTS version (extra `lts_version`) of connection learnosity_default: it is lower"),
        (403, 40003, "consumer's rights at Learnosity: it may be read-only"),
        (404, None, "host (the Data API base URL) or LTS version (extra `lts_version`) of connection"),
        (401, None, "consumer key (login) / consumer secret (password) of connection learnosity_default"),
        (429, 42000, "Variable learnosity_parallel_shards"),
    ],
)
def test_refusals_name_the_setting(http_status: int, code: int | None, expected: str) -> None:
    error = classify(http_status, code, "refused", endpoint="jobs")
    setting = setting_to_fix(error, CONN)
    assert setting is not None and expected in setting


def test_an_unreachable_host_names_the_base_url() -> None:
    error = TransientError("Data API jobs: connection refused")
    assert setting_to_fix(error, "my_conn") == (
        "host (the Data API base URL) of connection my_conn: it could not be reached"
    )


def test_errors_that_are_not_settings_name_nothing() -> None:
    assert setting_to_fix(DataApiValidationError("no template", http_status=400, code=20013), CONN) is None
    assert setting_to_fix(TransientError("5xx", http_status=503, code=10000), CONN) is None
    assert setting_to_fix(ValueError("bad"), CONN) is None


def test_explain_appends_the_setting_and_keeps_the_error() -> None:
    error = AuthenticationError("Data API jobs: HTTP 403, code 41003: Signatures do not match", code=41003)
    assert explain(error, CONN) == (
        "Data API jobs: HTTP 403, code 41003: Signatures do not match; check the consumer key (login) / "
        "consumer secret (password) of connection learnosity_default"
    )
    assert explain(RateLimitedError("slow down", http_status=429), CONN).endswith(
        "learnosity_parallel_shards)"
    )
    assert explain(ValueError("plain"), CONN) == "plain"
