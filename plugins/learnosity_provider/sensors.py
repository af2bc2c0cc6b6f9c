"""Sensor that waits for the run's Data API jobs: deferrable by default, poke and reschedule too."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf

from learnosity_core.dataapi.models import JobStatus
from learnosity_core.delivery.run_progress import JobsWait, run_progress
from learnosity_provider import resources
from learnosity_provider.deadlines import JOB_WAIT_SETTING
from learnosity_provider.hooks import LearnosityHook
from learnosity_provider.operators.common import failing_fast
from learnosity_provider.triggers import LearnosityJobsTrigger


def flatten_references(values: Iterable[Any]) -> list[str]:
    """Job references from a flat list, a mapped task's list of lists, or shard results."""
    refs: list[str] = []
    for value in values:
        if isinstance(value, str):
            refs.append(value)
        elif isinstance(value, dict):
            refs.extend(value.get("job_references", []))
        elif value is not None:
            refs.extend(flatten_references(value))
    return list(dict.fromkeys(refs))


class LearnosityJobsSensor(BaseSensorOperator):
    """Wait until every job is `completed` or `halted`, or `wait_timeout` runs out.

    Unfinished jobs at the wait timeout do not fail this task: they are returned as `pending`
    so the recording step can mark their sessions and the report can say so. The sensor never
    defers when the jobs are already done.

    :param job_references: references, or the output of the mapped submit task.
    :param learnosity_conn_id: the Data API connection.
    :param wait_timeout: seconds to wait for jobs before reporting them unfinished.
    :param state_conn_id: the ledger, read for the run's progress lines (sessions planned, sent,
        processed, rate, time left) that this task's log shows while it waits.
    :param deferrable: wait in the triggerer (default from `[operators] default_deferrable`,
        overridden to True by the DAGs).
    """

    template_fields: Sequence[str] = ("job_references",)

    def __init__(
        self,
        *,
        job_references: Any,
        learnosity_conn_id: str = LearnosityHook.default_conn_name,
        wait_timeout: float = 6 * 3600,
        state_conn_id: str = resources.STATE_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_references = job_references
        self.learnosity_conn_id = learnosity_conn_id
        self.wait_timeout = wait_timeout
        self.state_conn_id = state_conn_id
        self.deferrable = deferrable

    def _pending(self, refs: list[str]) -> list[str]:
        if not refs:
            return []
        with (
            failing_fast(self.learnosity_conn_id),
            LearnosityHook(self.learnosity_conn_id).get_client() as client,
        ):
            jobs = client.get_jobs(refs)
        finished = {j.reference for j in jobs if JobStatus(j.status).is_terminal}
        return [r for r in refs if r not in finished]

    def _progress(self, context: Context, refs: list[str], pending: list[str]) -> JobsWait | None:
        """Log the run's own counters from the ledger (the mapped submit tasks each log only their
        shard) and return what the wait counts from here. Counters never fail the wait."""
        dag, run_id = context.get("dag"), context.get("run_id")
        if dag is None or not run_id:
            return None
        try:
            ledger = resources.ledger(self.state_conn_id)
            progress = run_progress(ledger, dag.dag_id, run_id)
            sessions = ledger.jobs_of_run(dag.dag_id, run_id)
        except Exception as exc:
            self.log.warning("Run progress not available (%s)", type(exc).__name__)
            return None
        self.log.info("%s", progress.line())
        waiting = set(pending)
        wait = JobsWait(
            planned=progress.planned,
            job_sessions={ref: len(sessions.get(ref, [])) for ref in refs},
            finished_jobs=[ref for ref in refs if ref not in waiting],
        )
        self.log.info("%s", wait.line(rate=None))
        return wait

    def poke(self, context: Context) -> PokeReturnValue:
        refs = flatten_references(self.job_references or [])
        pending = self._pending(refs)
        self.log.info("%d of %d jobs finished", len(refs) - len(pending), len(refs))
        self._progress(context, refs, pending)
        start = context["ti"].start_date
        waited = time.time() - start.timestamp() if start else 0.0
        if pending and waited < self.wait_timeout:
            return PokeReturnValue(is_done=False)
        self._warn_open(pending)
        return PokeReturnValue(is_done=True, xcom_value={"jobs": refs, "pending": pending})

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        refs = flatten_references(self.job_references or [])
        pending = self._pending(refs)
        wait = self._progress(context, refs, pending)
        if not pending:
            self.log.info("All %d jobs already finished; not deferring", len(refs))
            return {"jobs": refs, "pending": []}
        self.log.info("Deferring: %d of %d jobs still running", len(pending), len(refs))
        self.defer(
            trigger=LearnosityJobsTrigger(
                conn_id=self.learnosity_conn_id,
                job_references=pending,
                poll_interval=float(self.poke_interval),
                deadline=time.time() + self.wait_timeout,
                progress=wait.model_dump() if wait else None,
            ),
            method_name="execute_complete",
            kwargs={"jobs": refs},
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, jobs: list[str] | None = None
    ) -> dict[str, Any]:
        if not event or event.get("status") not in {"done", "timeout"}:
            raise RuntimeError(f"unexpected trigger event: {event!r}")
        pending = list(event.get("pending", []))
        self._warn_open(pending)
        return {"jobs": jobs or [], "pending": pending}

    def _warn_open(self, pending: list[str]) -> None:
        """Name the jobs still open at the wait limit (their sessions are then recorded as failed)."""
        if not pending:
            return
        shown = ", ".join(pending[:20]) + (f" and {len(pending) - 20} more" if len(pending) > 20 else "")
        self.log.warning(
            "Job wait limit reached after %g min (%s): %d jobs still open: %s. Their sessions are "
            "recorded as failed and sent again by the next run.",
            self.wait_timeout / 60,
            JOB_WAIT_SETTING,
            len(pending),
            shown,
        )
