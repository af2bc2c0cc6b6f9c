"""Celery settings for the workers that run these DAGs:
`AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=learnosity_provider.worker.CELERY_CONFIG`.

Airflow's defaults, plus `learnosity_provider.preload`: a worker imports it once at start, before
it forks its pool, so every task process is forked with the task runner and these DAGs' modules
already loaded instead of importing them itself (a second or more per task, several on a pool
process's first task, all on the run's critical path). Nothing heavy is imported here: the
scheduler reads this dict too.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG: dict[str, Any] = {
    **DEFAULT_CELERY_CONFIG,
    "imports": (*DEFAULT_CELERY_CONFIG.get("imports", ()), "learnosity_provider.preload"),
}
