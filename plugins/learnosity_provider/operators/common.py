"""What every operator does the same way: name its run, type its params, fail on a failed report."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from airflow.sdk import Context
from airflow.sdk.exceptions import AirflowFailException
from pydantic import BaseModel, TypeAdapter, ValidationError

from learnosity_core.dataapi.diagnosis import explain
from learnosity_core.dataapi.errors import DataApiError
from learnosity_core.delivery.staging import PlanMissingError
from learnosity_core.reporting.report import PublishedReport
from learnosity_provider.outcome import record_outcome

Model = TypeVar("Model", bound=BaseModel)


@contextmanager
def failing_fast(conn_id: str) -> Iterator[None]:
    """Data API refusals that no retry can fix (signature, consumer, permission, a refused
    request) fail the task at once, naming the setting to fix; timeouts, 5xx and 429 (already
    retried inside the client) propagate so that the task's own retries apply."""
    try:
        yield
    except DataApiError as exc:
        if exc.retryable:
            raise
        raise AirflowFailException(explain(exc, conn_id)) from None


def dag_and_run(context: Context) -> tuple[str, str]:
    return context["dag"].dag_id, context["run_id"]


def _bad_param(exc: ValidationError, prefix: str = "") -> AirflowFailException:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    name = f"{prefix}{where}" if where else prefix
    return AirflowFailException(f"param {name}: {first['msg']}; fix it in the trigger form or the DAG file")


def typed_request(model: type[Model], **values: Any) -> Model:
    """The operator's rendered fields as the core's request model; a bad value fails the task at
    once (no retry can fix it) with the param named."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise _bad_param(exc) from None


def typed_param(kind: Any, value: Any, param: str) -> Any:
    """One rendered field as `kind` ("false" is False, "7" is 7), or a failure naming the param."""
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        raise _bad_param(exc, param) from None


def publish_or_fail(publish: Callable[[], PublishedReport], consequence: str) -> PublishedReport:
    """Run a report publisher; fail the task when the plan never ran or the run did not deliver
    everything (after the report is written), each with one message that says why."""
    try:
        published = publish()
    except PlanMissingError as exc:
        record_outcome(None, problem=str(exc))
        raise AirflowFailException(str(exc)) from None
    record_outcome(published)
    fail_if_failed(published, consequence)
    return published


def fail_if_failed(published: PublishedReport, consequence: str) -> None:
    """Fail the report task, after everything is recorded and reported, unless the run delivered
    everything: a session failed (`consequence` says what happens to it) or was rejected, or the
    report found a problem."""
    if published.delivered_everything:
        return
    reasons = []
    if published.failed:
        reasons.append(f"{published.failed} sessions failed ({consequence})")
    if published.rejected:
        reasons.append(
            f"{published.rejected} sessions were rejected by the Data API (sent again only once their"
            " content changes)"
        )
    reasons += published.problems
    raise AirflowFailException(f"{'; '.join(reasons)}; see {published.report}")
