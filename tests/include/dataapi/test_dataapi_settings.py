"""Settings validate at the boundary and never show the secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from learnosity_core.dataapi.settings import DataApiSettings

SECRET = "very-secret-value"


def test_defaults_and_url() -> None:
    settings = DataApiSettings(consumer_key="k" * 16, consumer_secret=SECRET)
    assert settings.url("sessions/templates") == "https://data.learnosity.com/v2025.2.LTS/sessions/templates"
    assert (settings.domain, settings.set_requests_per_window, settings.get_requests_per_window) == (
        "localhost",
        50,
        1000,
    )
    assert settings.window_s == 5.0


def test_secret_hidden_in_repr_str_and_json() -> None:
    settings = DataApiSettings(consumer_key="k" * 16, consumer_secret=SECRET)
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text
    assert settings.consumer_secret.get_secret_value() == SECRET


@pytest.mark.parametrize("base_url", ["data.learnosity.com", "ftp://x", "https://"])
def test_base_url_needs_a_scheme(base_url: str) -> None:
    with pytest.raises(ValidationError):
        DataApiSettings(base_url=base_url, consumer_key="k", consumer_secret=SECRET)


def test_trailing_slash_dropped() -> None:
    settings = DataApiSettings(base_url="http://127.0.0.1:1/", consumer_key="k", consumer_secret=SECRET)
    assert settings.url("/jobs") == "http://127.0.0.1:1/v2025.2.LTS/jobs"


def test_validation_errors_do_not_echo_inputs() -> None:
    with pytest.raises(ValidationError) as info:
        DataApiSettings(consumer_key="k", consumer_secret=[SECRET], max_attempts=0)  # type: ignore[arg-type]
    assert "consumer_secret" in str(info.value)
    assert SECRET not in str(info.value)


def test_empty_secret_refused() -> None:
    with pytest.raises(ValidationError, match="consumer_secret"):
        DataApiSettings(consumer_key="k", consumer_secret="")
