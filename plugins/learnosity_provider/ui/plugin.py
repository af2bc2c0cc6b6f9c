"""Registers the delivery page with Airflow (entry point `airflow.plugins` in pyproject.toml).

Kept out of the plugins-folder scan (`plugins/.airflowignore`): that scan would load this package's
modules again under bare file names and register the plugin twice (listed as an import error).
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from learnosity_provider.ui.app import create_app
from learnosity_provider.ui.links import URL_PREFIX


class LearnosityDeliveryPlugin(AirflowPlugin):
    """The FastAPI app under /learnosity and its entry in the UI's navigation."""

    name = "learnosity_delivery"
    # AirflowPlugin declares these as plain class attributes (lists), so they are overridden alike.
    fastapi_apps: list[Any] = [  # noqa: RUF012
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "Learnosity deliveries"}
    ]
    external_views: list[Any] = [  # noqa: RUF012
        {
            "name": "Learnosity deliveries",
            "href": f"{URL_PREFIX}/",
            "url_route": "learnosity-deliveries",
            "destination": "nav",
        }
    ]
