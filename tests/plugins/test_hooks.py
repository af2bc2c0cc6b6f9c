"""The Learnosity hooks: settings from Airflow connections, test_connection, the async hook,
secret masking, and the connection type as Airflow's ProvidersManager registers it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from airflow.sdk import BaseHook, Connection
from airflow.sdk.log import redact

from learnosity_core.dataapi import DEFAULT_LTS_VERSION, DataApiClient
from learnosity_devtools.emulator import EmulatorServer, Faults
from learnosity_provider.hooks import LearnosityAsyncHook, LearnosityHook, settings_from_connection

KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"
Define = Callable[..., str]


def conn(**fields: Any) -> Connection:
    return Connection(conn_id="in_memory", conn_type="learnosity", **fields)


def test_settings_from_an_env_json_connection(learnosity_env: Define) -> None:
    learnosity_env(
        host="https://eu.data.example",
        login="abcdEFGHijklMNOP",
        password="from-env-secret",
        extra={"lts_version": "v2024.3.LTS", "domain": "lms.example.org"},
    )
    settings = LearnosityHook().get_settings()
    assert settings.base_url == "https://eu.data.example"
    assert (settings.consumer_key, settings.consumer_secret.get_secret_value()) == (
        "abcdEFGHijklMNOP",
        "from-env-secret",
    )
    assert (settings.lts_version, settings.domain) == ("v2024.3.LTS", "lms.example.org")


def test_ui_prefixed_extras_and_tuning_fields(learnosity_env: Define) -> None:
    learnosity_env(
        "learnosity_ui",
        login="k",
        password="s",
        extra={
            "extra__learnosity__lts_version": "v2025.1.LTS",
            "extra__learnosity__domain": "",
            "read_timeout_s": "12.5",
            "unrelated": "ignored",
        },
    )
    settings = LearnosityHook("learnosity_ui").get_settings()
    assert settings.lts_version == "v2025.1.LTS"
    assert settings.domain == "localhost"  # a blank form field means the default
    assert settings.read_timeout_s == 12.5


@pytest.mark.parametrize(
    ("host", "port", "base_url"),
    [
        (None, None, "https://data.learnosity.com"),
        ("data.example.com", None, "https://data.example.com"),
        ("data.example.com", 8443, "https://data.example.com:8443"),
        ("http://127.0.0.1:8765", 9999, "http://127.0.0.1:8765"),
        (None, 443, "https://data.learnosity.com"),  # the form's port for the Test button
        ("data.example.com", 0, "https://data.example.com"),  # an empty port as the UI posts it
        ("http://data.example.com", 443, "http://data.example.com:443"),
    ],
)
def test_base_url_from_host_and_port(host: str | None, port: int | None, base_url: str) -> None:
    settings = settings_from_connection(conn(host=host, port=port, login="k", password="s"), {})
    assert settings.base_url == base_url
    assert settings.lts_version == DEFAULT_LTS_VERSION


def test_missing_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="consumer key"):
        settings_from_connection(conn(login="k"), {})


def test_get_client_takes_a_rate_share(emulator_conn: str) -> None:
    with LearnosityHook(emulator_conn).get_client(set_requests_per_window=12) as client:
        assert isinstance(client, DataApiClient)
        assert client.settings.set_requests_per_window == 12


def test_connection_resolves_to_this_hook(emulator_conn: str) -> None:
    hook = BaseHook.get_connection(emulator_conn).get_hook()
    assert isinstance(hook, LearnosityHook)
    assert hook.learnosity_conn_id == emulator_conn


def test_test_connection_succeeds_against_the_emulator(emulator_conn: str, emulator: EmulatorServer) -> None:
    ok, message = LearnosityHook(emulator_conn).test_connection()
    assert ok, message
    assert emulator.stats()["requests"]["get /jobs"] == {"200": 1}


def test_test_connection_through_airflow_connection(emulator: EmulatorServer) -> None:
    """The path the UI's "Test" button takes: Connection.test_connection -> hook.test_connection."""
    form = Connection(
        conn_id="learnosity_form", conn_type="learnosity", host=emulator.url, login=KEY, password=SECRET
    )
    assert form.test_connection()[0] is True


@pytest.mark.parametrize(
    ("password", "expected"), [("a-wrong-secret-value", "41003"), ("emulator-demo-secret", "TransientError")]
)
def test_test_connection_failure_explains_without_the_secret(
    emulator: EmulatorServer, learnosity_env: Define, password: str, expected: str
) -> None:
    emulator.set_faults(Faults(error_rate=1.0 if expected == "TransientError" else 0.0))
    learnosity_env(host=emulator.url, login=KEY, password=password)
    ok, message = LearnosityHook().test_connection()
    assert not ok
    assert expected in message
    assert password not in message
    assert sum(emulator.stats()["statuses"].values()) == 1  # one attempt, no retries


def test_test_connection_reports_incomplete_connections(learnosity_env: Define) -> None:
    learnosity_env(host="https://data.example", login="k")
    ok, message = LearnosityHook().test_connection()
    assert not ok and "consumer key (login) and secret (password)" in message


def test_hook_registers_the_secret_with_the_masker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections built in memory skip the SDK's own masking; the hook must mask the secret itself."""
    secret = "in-memory-secret-to-mask"
    monkeypatch.setattr(
        LearnosityHook, "get_connection", classmethod(lambda cls, conn_id: conn(login="k", password=secret))
    )
    assert redact(f"leaked {secret}") == f"leaked {secret}"
    LearnosityHook().get_settings()
    assert redact(f"leaked {secret}") == "leaked ***"


async def test_async_hook_polls_jobs_without_the_sync_lookup(
    emulator_conn: str, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def blocking_lookup(conn_id: str) -> Connection:
        raise AssertionError("the async hook must not use the blocking connection lookup")

    monkeypatch.setattr(
        BaseHook, "get_connection", classmethod(lambda cls, conn_id: blocking_lookup(conn_id))
    )
    hook = LearnosityAsyncHook(emulator_conn)
    assert await hook.get_jobs(["00000000-0000-0000-0000-000000000001"]) == []
    settings = await hook.get_settings()
    assert settings is await hook.get_settings()  # looked up once per hook
    assert settings.base_url == emulator.url


async def test_async_hook_masks_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "async-in-memory-secret"

    async def lookup(conn_id: str) -> Connection:
        await asyncio.sleep(0)
        return conn(login="k", password=secret)

    monkeypatch.setattr(LearnosityAsyncHook, "aget_connection", staticmethod(lookup))
    await LearnosityAsyncHook().get_settings()
    assert redact(secret) == "***"


def test_provider_registers_the_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hook_info = ProvidersManagerTaskRuntime().hooks["learnosity"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "learnosity_provider.hooks.LearnosityHook"
    assert hook_info.connection_id_attribute_name == "learnosity_conn_id"
    assert hook_info.hook_name == "Learnosity Data API"
    manager = ProvidersManager()  # the API server's view: the connection form
    behaviour = manager.field_behaviours["learnosity"]
    assert behaviour["relabeling"] == {
        "host": "Data API base URL",
        "port": "HTTPS port (443; needed by the Test button)",
        "login": "Consumer key",
        "password": "Consumer secret",
    }
    assert "schema" in behaviour["hidden_fields"]
    # Visible, so a port can be saved: the 3.3 Test button posts a stored empty port as 0 (a 400).
    assert "port" not in behaviour["hidden_fields"] and behaviour["placeholders"]["port"] == "443"
    widgets = manager.connection_form_widgets
    assert widgets["extra__learnosity__lts_version"].field["value"] == DEFAULT_LTS_VERSION
    assert widgets["extra__learnosity__domain"].field_name == "domain"
