"""Who may read the delivery page: Airflow's own users, with Airflow's own token and permissions.

The api-server's login leaves a JWT in the `_token` cookie (the UI, and so the iframe of the
navigation entry) or the client sends it as `Authorization: Bearer`; Airflow's `get_user` checks
either and answers 401 (none, expired) or 403 (invalid). Reports and the ledger hold learner data,
so reading them needs the right to read the pipelines' runs, as their pages in Airflow do.
"""

from __future__ import annotations

from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, HTTPException, status

# The DAGs that write run reports and share the ledger.
PIPELINES = (
    "learnosity_template_submission",
    "learnosity_template_reconcile",
    "learnosity_failed_submission_replay",
)


def may_read_runs(user: BaseUser, dag_id: str) -> bool:
    return get_auth_manager().is_authorized_dag(
        method="GET", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
    )


def pipeline_reader(user: GetUserDep) -> BaseUser:
    """A user who may read the runs of every pipeline: the ledger is shared by all of them."""
    if not all(may_read_runs(user, dag_id) for dag_id in PIPELINES):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Forbidden")
    return user


PipelineReader = Annotated[BaseUser, Depends(pipeline_reader)]
