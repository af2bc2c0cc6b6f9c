"""Airflow hooks for the Learnosity Data API: connection in, typed client out.

Connection fields: host = base URL with scheme (default https://data.learnosity.com), login =
consumer key, password = consumer secret; extras `lts_version` and `domain` (also in the UI's
`extra__learnosity__<name>` form) plus any `DataApiSettings` tuning field such as
`read_timeout_s` or `set_requests_per_window`.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook, Connection
from airflow.sdk.log import amask_secret, mask_secret

from learnosity_core.dataapi import (
    DEFAULT_BASE_URL,
    AsyncDataApiClient,
    DataApiClient,
    DataApiError,
    DataApiSettings,
    Job,
)

CONN_TYPE = "learnosity"
# httpx logs every request at INFO; task logs keep our own progress lines instead.
logging.getLogger("httpx").setLevel(logging.WARNING)
_FROM_CONNECTION = {"base_url", "consumer_key", "consumer_secret"}
TUNABLE_EXTRAS = frozenset(DataApiSettings.model_fields) - _FROM_CONNECTION


_SCHEME_PORTS = {"https": 443, "http": 80}


def _base_url(conn: Connection) -> str:
    """Host plus port; the scheme's own port (the form's 443) and 0 (an empty port as Airflow's
    Test button posts it) leave the URL as written."""
    host = (conn.host or "").strip() or DEFAULT_BASE_URL
    if "://" not in host:
        host = f"https://{host}"
    parts = urlsplit(host)
    if conn.port and parts.port is None and conn.port != _SCHEME_PORTS.get(parts.scheme):
        host = parts._replace(netloc=f"{parts.netloc}:{conn.port}").geturl()
    return host


def _settings_extras(extra: dict[str, Any]) -> dict[str, Any]:
    """Known extras, unprefixed or in the UI's `extra__learnosity__` form; blank values ignored."""
    prefix = f"extra__{CONN_TYPE}__"
    found: dict[str, Any] = {}
    for name in TUNABLE_EXTRAS:
        value = extra.get(name, extra.get(prefix + name))
        if value not in (None, ""):
            found[name] = value
    return found


def settings_from_connection(conn: Connection, extra: dict[str, Any], **overrides: Any) -> DataApiSettings:
    """Client settings from a connection and its parsed `extra`; `overrides` win (e.g. a rate share).

    The caller parses `extra` because the sync and async ways to do it differ (masking inside).
    """
    if not conn.login or not conn.password:
        raise ValueError(f"connection {conn.conn_id!r} needs the consumer key (login) and secret (password)")
    return DataApiSettings.model_validate(
        {
            "base_url": _base_url(conn),
            "consumer_key": conn.login,
            "consumer_secret": conn.password,
            **_settings_extras(extra),
            **overrides,
        }
    )


class LearnosityHook(BaseHook):
    """Builds a `DataApiClient` from a `learnosity` connection.

    :param learnosity_conn_id: the connection id (default `learnosity_default`).
    """

    conn_name_attr = "learnosity_conn_id"
    default_conn_name = "learnosity_default"
    conn_type = CONN_TYPE
    hook_name = "Learnosity Data API"

    def __init__(self, learnosity_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.learnosity_conn_id = learnosity_conn_id

    def get_settings(self, **overrides: Any) -> DataApiSettings:
        conn = self.get_connection(self.learnosity_conn_id)
        if conn.password:
            mask_secret(conn.password)
        return settings_from_connection(conn, conn.extra_dejson, **overrides)

    def get_client(self, **overrides: Any) -> DataApiClient:
        """A new client (close it, or use it as a context manager); `overrides` as in `DataApiSettings`."""
        return DataApiClient(self.get_settings(**overrides))

    def get_conn(self) -> DataApiClient:
        return self.get_client()

    def test_connection(self) -> tuple[bool, str]:
        """One signed request with no retries: (True, ...) when Learnosity accepts the credentials."""
        try:
            with self.get_client(max_attempts=1) as client:
                client.ping()
        except (DataApiError, ValueError) as exc:
            return False, f"{type(exc).__name__}: {exc}"
        return True, "Learnosity Data API accepted the signed request"


class LearnosityAsyncHook(BaseHook):
    """Async counterpart for triggers: connection lookup and HTTP never block the event loop.

    The settings are read once per hook; each call opens a short-lived pooled client.
    """

    conn_name_attr = LearnosityHook.conn_name_attr
    default_conn_name = LearnosityHook.default_conn_name
    conn_type = CONN_TYPE
    hook_name = LearnosityHook.hook_name

    def __init__(self, learnosity_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.learnosity_conn_id = learnosity_conn_id
        self._settings: DataApiSettings | None = None

    async def get_settings(self) -> DataApiSettings:
        if self._settings is None:
            conn = await self.aget_connection(self.learnosity_conn_id)
            if conn.password:
                await amask_secret(conn.password)
            self._settings = settings_from_connection(conn, await conn.aextra_dejson())
        return self._settings

    async def get_client(self) -> AsyncDataApiClient:
        """A new async client; use it with `async with`."""
        return AsyncDataApiClient(await self.get_settings())

    async def get_jobs(self, references: list[str]) -> list[Job]:
        async with await self.get_client() as client:
            return await client.get_jobs(references)
