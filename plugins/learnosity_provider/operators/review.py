"""Review before sending: Airflow's human-in-the-loop approval between plan and submit, asked only
when the plan needs a person (the core decides), answered in the UI's Required Actions."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Literal

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import Context, Variable, conf
from airflow.sdk.timezone import utcnow

from learnosity_core.delivery.review import (
    DEFAULT_ABOVE_QUARANTINE_SHARE,
    DEFAULT_ABOVE_SESSIONS,
    PlanFigures,
    ReviewAnswer,
    ReviewThresholds,
    decide_review,
    record_refusal,
    report_url,
    review_request,
)
from learnosity_core.delivery.staging import read_plan_summary
from learnosity_provider import resources
from learnosity_provider.operators.common import dag_and_run, typed_param, typed_request

TIMEOUT_SETTING = "LEARNOSITY_APPROVAL_TIMEOUT_H"
PlanKind = Literal["template", "replay"]


def approval_timeout() -> timedelta:
    """How long a run waits for an answer (`LEARNOSITY_APPROVAL_TIMEOUT_H`, default 12 h); past it
    the request resolves to Reject, so a run nobody reviewed sends nothing."""
    raw = os.environ.get(TIMEOUT_SETTING, "").strip()
    try:
        hours = float(raw) if raw else 12.0
    except ValueError:
        raise ValueError(f"{TIMEOUT_SETTING}={raw!r} is not a number of hours") from None
    if hours <= 0:
        raise ValueError(f"{TIMEOUT_SETTING}={raw!r} must be more than 0 hours")
    return timedelta(hours=hours)


def _setting(requested: object, variable: str, default: object) -> object:
    """The trigger form's value, else the Variable, else the built-in default."""
    if requested not in (None, ""):
        return requested
    return Variable.get(variable, default=default)


def review_thresholds(above_sessions: object, above_quarantine_share: object) -> ReviewThresholds:
    """The approval thresholds of a run: the trigger form's values, else the Variables, else the defaults."""
    return typed_request(
        ReviewThresholds,
        approval_above_sessions=_setting(
            above_sessions, "learnosity_approval_above_sessions", DEFAULT_ABOVE_SESSIONS
        ),
        approval_above_quarantine_share=_setting(
            above_quarantine_share,
            "learnosity_approval_above_quarantine_share",
            DEFAULT_ABOVE_QUARANTINE_SHARE,
        ),
    )


def _sent_while_planning(dag_id: str, run_id: str) -> int:
    """Sessions of the run that have a job before the review answered: sent while planning."""
    return sum(len(ids) for ids in resources.ledger().jobs_of_run(dag_id, run_id).values())


def plan_figures(kind: PlanKind, dag_id: str, run_id: str) -> PlanFigures:
    """The numbers of this run's plan (plan.json in its stage folder)."""
    stage = resources.stage_path(dag_id, run_id)
    if kind == "replay":
        from learnosity_core.failed_submission.plan import ReplaySummary

        return read_plan_summary(stage, ReplaySummary).review_figures()
    from learnosity_core.template_submission.plan import PlanSummary

    return read_plan_summary(stage, PlanSummary).review_figures()


class LearnosityReviewOperator(ApprovalOperator):
    """Wait for a person to approve the plan when it was asked for or looks unusual; otherwise
    approve at once (and log why). Reject, or no answer within the timeout, skips submit: nothing
    is sent and the report says so.

    :param plan: which pipeline's plan this reviews (`template` or `replay`).
    :param require_approval: always ask (unless nothing is to be sent).
    :param above_sessions: ask when more sessions are to be sent; empty: Variable
        `learnosity_approval_above_sessions`, else 100,000.
    :param above_quarantine_share: ask when a larger share (0-1) of what was read is quarantined or
        held back; empty: Variable `learnosity_approval_above_quarantine_share`, else 0.05.
    """

    template_fields: Sequence[str] = (
        *ApprovalOperator.template_fields,
        "require_approval",
        "above_sessions",
        "above_quarantine_share",
    )

    def __init__(
        self,
        *,
        plan: PlanKind,
        require_approval: Any = False,
        above_sessions: Any = None,
        above_quarantine_share: Any = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("response_timeout", approval_timeout())
        super().__init__(subject="Review before sending", defaults=self.REJECT, **kwargs)
        self.plan = plan
        self.require_approval = require_approval
        self.above_sessions = above_sessions
        self.above_quarantine_share = above_quarantine_share

    def execute(self, context: Context) -> Any:
        dag_id, run_id = dag_and_run(context)
        requested = typed_param(bool, self.require_approval, "require_approval")
        thresholds = review_thresholds(self.above_sessions, self.above_quarantine_share)
        figures = plan_figures(self.plan, dag_id, run_id)
        decision = decide_review(figures, thresholds, requested)
        if not decision.needed:
            self.log.info("No review needed (%s): approved automatically", decision.reason)
            return {"chosen_options": [self.APPROVE], "approved_automatically": decision.reason}
        figures.sent_while_planning = _sent_while_planning(dag_id, run_id)
        base = conf.get("api", "base_url", fallback="http://localhost:8080/")
        self.subject, self.body = review_request(figures, decision, report_url(base, dag_id, run_id))
        self.log.info("Waiting for approval in Required Actions: %s", decision.reason)
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        if "error" not in event and event.get("chosen_options") == [self.REJECT]:
            dag_id, run_id = dag_and_run(context)
            user = event.get("responded_by_user") or {}
            timed_out = bool(event.get("timedout")) or not user
            answer = ReviewAnswer(
                rejected_by=None if timed_out else user.get("name") or user.get("id"),
                at=event.get("responded_at") or utcnow(),
                timeout=self._timeout_text() if timed_out else None,
                sent_before=_sent_while_planning(dag_id, run_id),
            )
            record_refusal(resources.stage_path(dag_id, run_id), answer)
            self.log.warning("Nothing will be sent: %s", answer.statement())
        return super().execute_complete(context, event)

    def _timeout_text(self) -> str:
        hours = self.response_timeout.total_seconds() / 3600 if self.response_timeout else 0
        return f"{hours:g} h ({TIMEOUT_SETTING})"
