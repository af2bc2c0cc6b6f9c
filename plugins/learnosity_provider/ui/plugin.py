"""Registers the delivery page with Airflow (entry point `airflow.plugins` in pyproject.toml).

Kept out of the plugins-folder scan (`plugins/.airflowignore`): that scan would load this package's
modules again under bare file names and register the plugin twice (listed as an import error).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from learnosity_provider.ui.links import URL_PREFIX


@cache
def _delivery_apps() -> list[dict[str, Any]]:
    from learnosity_provider.ui.app import create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Learnosity deliveries"}]


class _BuiltWhenRead:
    """`fastapi_apps`, built when first read. Only the API server reads it, but every task process
    loads the plugins (for their macros and listeners): building the app there would import FastAPI
    and Airflow's API server (1.6 s) into each task's start-up."""

    def __get__(self, instance: object, owner: type | None = None) -> list[dict[str, Any]]:
        return _delivery_apps()


class LearnosityDeliveryPlugin(AirflowPlugin):
    """The FastAPI app under /learnosity and its entry in the UI's navigation."""

    name = "learnosity_delivery"
    fastapi_apps: Any = _BuiltWhenRead()
    # AirflowPlugin declares these as plain class attributes (lists), so they are overridden alike.
    external_views: list[Any] = [  # noqa: RUF012
        {
            "name": "Learnosity deliveries",
            "href": f"{URL_PREFIX}/",
            "url_route": "learnosity-deliveries",
            "destination": "nav",
        }
    ]
