"""What the task processes of these DAGs import, for a Celery worker to import once at start
(`worker.CELERY_CONFIG`); never imported by a DAG file or a task."""

from __future__ import annotations

from importlib import import_module

MODULES = (
    # Airflow's task runner: every task process imports it before anything of ours.
    "airflow.sdk.execution_time.supervisor",
    "airflow.sdk.execution_time.task_runner",
    # What the DAG files import while a task parses them.
    "learnosity_provider.pipeline",
    "learnosity_provider.operators.connection_check",
    "learnosity_provider.operators.template_submission",
    "learnosity_provider.operators.verify",
    # What the operators import when they run (kept out of DAG parsing).
    "learnosity_core.delivery.streaming",
    "learnosity_core.template_submission.plan",
    "learnosity_core.template_submission.report",
    "learnosity_core.failed_submission.plan",
)

for _module in MODULES:
    import_module(_module)
