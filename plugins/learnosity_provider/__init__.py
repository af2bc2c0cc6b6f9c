"""Airflow-facing layer: the Learnosity hook, connection type, operators, sensors and triggers.

Installed as a distribution with an `apache_airflow_provider` entry point, because Airflow only
takes connection types (and their UI form) from providers, never from `plugins/` modules.
"""

from __future__ import annotations

from typing import Any

# The Airflow-free client owns the defaults; the connection form shows the same values.
from learnosity_core.dataapi.settings import DEFAULT_BASE_URL as DEFAULT_HOST
from learnosity_core.dataapi.settings import DEFAULT_DOMAIN, DEFAULT_LTS_VERSION

__all__ = ["DEFAULT_DOMAIN", "DEFAULT_HOST", "DEFAULT_LTS_VERSION", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow's ProvidersManager (connection type and its form)."""
    return {
        "package-name": "learnosity-airflow",
        "name": "Learnosity",
        "description": "Learnosity Data API: template and failed-submission session uploads.",
        "versions": ["0.1.0"],
        "extra-links": ["learnosity_provider.links.LearnosityReportLink"],
        "connection-types": [
            {
                "connection-type": "learnosity",
                "hook-class-name": "learnosity_provider.hooks.LearnosityHook",
                "hook-name": "Learnosity Data API",
                "conn-fields": {
                    "lts_version": {
                        "label": "LTS version",
                        "description": "Data API version segment of every URL.",
                        "schema": {"type": ["string", "null"], "default": DEFAULT_LTS_VERSION},
                    },
                    "domain": {
                        "label": "Security domain",
                        "description": "The `domain` of the signed security packet.",
                        "schema": {"type": ["string", "null"], "default": DEFAULT_DOMAIN},
                    },
                },
                # Port stays visible: Airflow 3.3's Test button posts a stored empty port as 0 and the
                # API then refuses the test (400, "host or port ... differs"); a saved 443 matches.
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "extra"],
                    "relabeling": {
                        "host": "Data API base URL",
                        "port": "HTTPS port (443; needed by the Test button)",
                        "login": "Consumer key",
                        "password": "Consumer secret",
                    },
                    "placeholders": {
                        "host": DEFAULT_HOST,
                        "port": "443",
                        "login": "16-character consumer key",
                        "password": "consumer secret",
                    },
                },
            }
        ],
    }
