"""The first-contact check as a task: connection, templates understood, request bodies written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel, Field

from learnosity_core.delivery.warehouse import SourceError
from learnosity_core.first_contact.check import CheckFailed, CheckReport, report_lines, run_check
from learnosity_core.template_submission.templates import TemplateMapError, fetcher
from learnosity_provider import resources
from learnosity_provider.hooks import LearnosityHook
from learnosity_provider.operators.common import dag_and_run, typed_request

REQUESTS_FILE = "requests.jsonl"


class CheckRequest(BaseModel):
    """The trigger form's choices: which activities, and how many sample sessions each."""

    activity_ids: list[str] = Field(default_factory=list)
    sample_sessions: int = Field(default=50, ge=1, le=1000)


def first_contact(
    learnosity_conn_id: str, warehouse_conn_id: str, request: CheckRequest, out: Any
) -> CheckReport:
    """Resolve the deployment's connections and run the check, writing request bodies to `out`;
    configuration problems fail with the setting named."""
    try:
        with LearnosityHook(learnosity_conn_id).get_client() as client:
            return run_check(
                ping=client.ping,
                conn_id=learnosity_conn_id,
                engine=resources.sql_engine(warehouse_conn_id),
                source=resources.source(),
                template_map=resources.template_map(warehouse_conn_id),
                fetch=fetcher(client),
                activity_ids=request.activity_ids,
                out=out,
                sessions_per_activity=request.sample_sessions,
            )
    except (CheckFailed, TemplateMapError, SourceError) as exc:
        raise AirflowFailException(str(exc)) from None


class LearnosityConnectionCheckOperator(BaseOperator):
    """Check a new account once before the first night: sends one harmless signed request, no
    sessions. The request bodies go to `requests.jsonl` in the run's report folder.

    :param activity_ids: activities to check (empty: those in the warehouse, at most 50).
    :param sample_sessions: sessions per activity to transform into request bodies.
    """

    template_fields: Sequence[str] = ("activity_ids", "sample_sessions")

    def __init__(
        self,
        *,
        activity_ids: Any = (),
        sample_sessions: Any = 50,
        learnosity_conn_id: str = LearnosityHook.default_conn_name,
        warehouse_conn_id: str = resources.WAREHOUSE_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.activity_ids = activity_ids
        self.sample_sessions = sample_sessions
        self.learnosity_conn_id = learnosity_conn_id
        self.warehouse_conn_id = warehouse_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        request = typed_request(
            CheckRequest, activity_ids=self.activity_ids or [], sample_sessions=self.sample_sessions
        )
        dag_id, run_id = dag_and_run(context)
        path = resources.reports_path(dag_id, run_id) / REQUESTS_FILE
        with path.open("w", encoding="utf-8") as out:
            report = first_contact(self.learnosity_conn_id, self.warehouse_conn_id, request, out)
        report.requests_file = str(path)
        for line in report_lines(report):
            self.log.info("%s", line)
        held_back = [c.activity_id for c in report.activities if c.held_back]
        return {"requests_file": str(path), "activities": len(report.activities), "held_back": held_back}
