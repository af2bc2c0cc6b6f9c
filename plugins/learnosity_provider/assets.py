"""The Assets the pipelines update, so that a downstream DAG can be scheduled on deliveries.

Each report task that succeeds emits an event on its pipeline's Asset whose `extra` holds the
run's counts (`run_id`, `delivered`, `failed`, `quarantined`, `report`); see `outcome.py`.
"""

from __future__ import annotations

from airflow.sdk import Asset

TEMPLATE_SESSIONS = Asset("learnosity://sessions/from_template", group="learnosity")
FAILED_SUBMISSION_SESSIONS = Asset("learnosity://sessions/failed_submission", group="learnosity")
