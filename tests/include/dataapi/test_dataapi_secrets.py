"""The consumer secret (and the signature made with it) never reaches logs, output, reprs or
exception text, even at DEBUG."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from learnosity_core.dataapi import AsyncDataApiClient, DataApiClient, DataApiError, DataApiSettings
from learnosity_devtools.emulator import EmulatorServer, Faults

Settings = Callable[..., DataApiSettings]
WRONG_SECRET = "wrong-but-still-secret-value"


def test_secret_absent_everywhere(
    emulator: EmulatorServer,
    settings_for: Settings,
    template: dict[str, Any],
    new_session: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    settings = settings_for(emulator, window_s=0.05, window_margin_s=0.0)
    secret = settings.consumer_secret.get_secret_value()
    emulator.set_faults(Faults(burst_429=1, drop_after_commit=1))
    with DataApiClient(settings) as client:
        texts += [repr(client), repr(settings), str(settings), repr(AsyncDataApiClient(settings))]
        client.submit_template_sessions(template, [new_session()])
        emulator.set_faults(Faults(error_rate=1.0))
        with pytest.raises(DataApiError) as transient:
            DataApiClient(settings_for(emulator, max_attempts=2)).ping()
        texts += [str(transient.value), repr(transient.value)]
    emulator.set_faults(Faults())
    wrong = settings_for(emulator, consumer_secret=WRONG_SECRET)
    with DataApiClient(wrong) as client, pytest.raises(DataApiError) as refused:
        client.ping()
    texts += [str(refused.value), repr(refused.value), str(refused.value.server_message)]
    out, err = capsys.readouterr()
    texts += [caplog.text, out, err]
    assert any("attempt 1 of" in t for t in texts)  # retries were logged, so the check saw real output
    for text in texts:
        assert secret not in text
        assert WRONG_SECRET not in text
        assert "$02$" not in text  # nor the signed security packet
