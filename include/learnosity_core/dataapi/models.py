"""Typed Data API results; fields the API may add later are kept, never refused."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _ApiModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class Meta(_ApiModel):
    status: bool
    timestamp: int | None = None
    records: int | None = None
    next: str | None = None
    code: int | None = None
    message: str | None = None


class Envelope(_ApiModel):
    """Every reply: `meta` says whether it worked, `data` carries the endpoint's payload."""

    meta: Meta
    data: Any = None


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    HALTED = "halted"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.HALTED)


ALL_JOB_STATUSES = tuple(status.value for status in JobStatus)


class Job(_ApiModel):
    """One `jobs` entry. The documented answer is `reference, type, status, dt_created, dt_completed`;
    what `data` holds is not documented, so it is kept exactly as sent (any shape, or absent) and
    only `delivery/job_outcomes.py` interprets it."""

    reference: str
    status: JobStatus
    type: str | None = None
    dt_created: str | None = None
    dt_completed: str | None = None
    data: Any = None


class SessionResponse(_ApiModel):
    """One stored response; `response` is kept as the API sent it (value shape varies by type)."""

    response_id: str
    question_type: str | None = None
    attempted: bool | None = None
    response: dict[str, Any] | None = None


class SessionRecord(_ApiModel):
    """One session as `sessions/responses` returns it."""

    session_id: str
    user_id: str | None = None
    activity_id: str | None = None
    status: str | None = None
    num_attempted: int | None = None
    num_questions: int | None = None
    dt_saved: str | None = None
    dt_started: str | None = None
    dt_completed: str | None = None
    responses: list[SessionResponse] = Field(default_factory=list)
