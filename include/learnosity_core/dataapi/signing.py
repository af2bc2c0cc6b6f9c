"""Request signing through the official SDK, so our signatures match Learnosity's byte for byte."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from learnosity_sdk._version import __version__ as SDK_VERSION
from learnosity_sdk.request import Init

from learnosity_core.dataapi.settings import DataApiSettings


def sign(
    settings: DataApiSettings,
    action: str,
    request: Mapping[str, Any],
    *,
    timestamp: str | None = None,
) -> dict[str, str]:
    """Form fields `security`, `request`, `action` for one attempt.

    Called once per attempt: without `timestamp` the SDK stamps the current UTC minute, so a
    retry long after the first attempt is not refused as out of range (41004). `Init` copies the
    request before adding its `meta.sdk` telemetry, so the caller's mapping is not changed.
    """
    security: dict[str, Any] = {"consumer_key": settings.consumer_key, "domain": settings.domain}
    if timestamp is not None:
        security["timestamp"] = timestamp
    init = Init("data", security, settings.consumer_secret.get_secret_value(), dict(request), action)
    fields = init.generate()
    if not isinstance(fields, dict):  # the SDK always returns a dict for the `data` service
        raise TypeError("learnosity_sdk returned an unexpected form for the data service")
    return {str(name): str(value) for name, value in fields.items()}


def routing_headers(settings: DataApiSettings, endpoint: str, action: str) -> dict[str, str]:
    """The `X-Learnosity-*` headers the SDK (0.3.13) sends for load-balancer routing."""
    return {
        "X-Learnosity-Consumer": settings.consumer_key,
        "X-Learnosity-Action": f"{action}_/{endpoint.strip('/')}",
        "X-Learnosity-SDK": f"Python:{SDK_VERSION.lstrip('v')}",
    }
