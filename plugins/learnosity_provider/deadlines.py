"""How long a task, the job wait and a whole run may take, and when a late run raises an alert.

A stuck job must never block the next night silently (the DAGs run one at a time): the job wait
gives up at a limit and reports the jobs still open, every task has an `execution_timeout`, the
run has a `dagrun_timeout`, and a `DeadlineAlert` mails when a run has not finished in time.
All limits are environment variables in minutes, read when the DAG file is parsed (cheap).
"""

from __future__ import annotations

import os
from datetime import timedelta

# The public names are airflow.sdk.AsyncCallback etc.; their typed home is imported for mypy.
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

TASK_TIMEOUT_SETTING = "LEARNOSITY_TASK_TIMEOUT_MIN"
JOB_WAIT_SETTING = "LEARNOSITY_JOB_WAIT_MIN"


def minutes(setting: str, default: float) -> timedelta:
    """The environment variable `setting` (minutes, > 0) as a timedelta; a bad value names it."""
    raw = os.environ.get(setting, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{setting}={raw!r} is not a number of minutes") from None
    if value <= 0:
        raise ValueError(f"{setting}={raw!r} must be more than 0 minutes")
    return timedelta(minutes=value)


def task_timeout() -> timedelta:
    """`execution_timeout` of every task but the job wait (default 3 h)."""
    return minutes(TASK_TIMEOUT_SETTING, 180)


def job_wait_limit() -> timedelta:
    """How long the job wait waits before reporting the jobs still open (default 4 h)."""
    return minutes(JOB_WAIT_SETTING, 240)


def run_timeout(pipeline: str, default_minutes: float) -> timedelta:
    """`dagrun_timeout` from `LEARNOSITY_<PIPELINE>_RUN_TIMEOUT_MIN`: past it Airflow fails the
    run, so the next scheduled one can start."""
    return minutes(f"LEARNOSITY_{pipeline}_RUN_TIMEOUT_MIN", default_minutes)


def overdue_alert(pipeline: str, default_minutes: float) -> DeadlineAlert | None:
    """Alert (through the configured notifier) when a run has not finished
    `LEARNOSITY_<PIPELINE>_DEADLINE_MIN` minutes after it was queued, e.g. 240 for a 02:00 run
    that must be done by 06:00; `off` for none. The callback runs in the triggerer, so it is an
    awaitable in this installed package.

    `off` exists for `dag.test()` / `airflow dags test` (the tests and `make demo`): in Airflow
    3.3.2 a run of a DAG with a deadline that *succeeds* there crashes, because `dag.test()`
    builds its scheduler DAG in memory, where the deadline alerts are not yet the database ids
    that `DagRun.update_state` looks up. The scheduler is not affected.
    """
    setting = f"LEARNOSITY_{pipeline}_DEADLINE_MIN"
    if os.environ.get(setting, "").strip().lower() == "off":
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=minutes(setting, default_minutes),
        callback=AsyncCallback("learnosity_provider.notifications.run_overdue"),
        name="run not finished in time",
    )
