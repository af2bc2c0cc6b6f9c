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


class JobError(_ApiModel):
    """One session the job could not store, and why."""

    index: int | None = None
    session_id: str | None = None
    user_id: str | None = None
    activity_id: str | None = None
    code: int | str | None = None
    message: str = ""


class JobResult(_ApiModel):
    """The job's `data` (asked for with `include: ["data"]`)."""

    data_format: str | None = None
    sessions_total: int | None = None
    sessions_stored: list[str] = Field(default_factory=list)
    errors: list[JobError] = Field(default_factory=list)
    halt_reason: str | None = None


class Job(_ApiModel):
    reference: str
    status: JobStatus
    type: str | None = None
    dt_created: str | None = None
    dt_completed: str | None = None
    data: JobResult | None = None


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
