"""Trigger-form fields the pipelines' DAGs share, each written once: title, section, and what
its default does (Airflow 3.3's form marks a field required unless its type allows null)."""

from __future__ import annotations

from airflow.sdk import Param


def dry_run(what_it_does: str) -> Param:
    """First in the form and in no section: the form opens only its default section."""
    return Param(
        False,
        type="boolean",
        title="Dry run (send nothing)",
        description=f"On: {what_it_does}. Default off: a real run that sends.",
    )


def verify() -> Param:
    return Param(
        True,
        type="boolean",
        title="Read sessions back",
        description="Default on: every completed session is read back from Learnosity before the"
        " report. A dry run never reads back.",
        section="Safety",
    )


def max_quarantine_share() -> Param:
    return Param(
        None,
        type=["null", "number"],
        minimum=0,
        maximum=1,
        title="Most rows that may be held back (share, 0-1)",
        description="Fail the run when more than this share of rows is quarantined or held back."
        " Default empty: Variable learnosity_max_quarantine_share, else 0.2.",
        section="Safety",
    )


def activity_ids(default_means: str) -> Param:
    return Param(
        [],
        type=["null", "array"],
        items={"type": "string"},
        title="Activities",
        description=f"Activity ids, one per line. Default empty: {default_means}.",
        section="What to send",
    )


def ignore_response_revisions() -> Param:
    return Param(
        False,
        type="boolean",
        title="Overwrite newer responses",
        description="On: overwrite stored responses whatever their revision. Default off: Learnosity"
        " keeps a response with a newer revision.",
        section="What to send",
    )


def reconcile_since() -> Param:
    return Param(
        None,
        type=["null", "string"],
        format="date-time",
        title="Reconcile start (UTC)",
        description="How far back a reconcile looks: the sessions changed since this time. Default"
        " empty: 30 days before the run.",
        section="Window",
    )


def require_approval() -> Param:
    return Param(
        False,
        type="boolean",
        title="Wait for approval before sending",
        description="On: after the plan, wait for a person to approve in Required Actions before"
        " anything is sent (Reject sends nothing). Default off: wait only when the plan passes an"
        " approval threshold below. A dry run never waits.",
        section="Safety",
    )


def approval_above_sessions() -> Param:
    return Param(
        None,
        type=["null", "integer"],
        minimum=0,
        title="Ask for approval above this many sessions",
        description="Wait for approval when the plan would send more sessions (a backfill). Default"
        " empty: Variable learnosity_approval_above_sessions, else 100000.",
        section="Safety",
    )


def approval_above_quarantine_share() -> Param:
    return Param(
        None,
        type=["null", "number"],
        minimum=0,
        maximum=1,
        title="Ask for approval above this held-back share (0-1)",
        description="Wait for approval when more than this share of what was read is quarantined or"
        " held back (a broken template or source). Default empty: Variable"
        " learnosity_approval_above_quarantine_share, else 0.05.",
        section="Safety",
    )
