"""What a job writes and reports: validated session writes, per-session errors, the job result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ResponseWrite(BaseModel):
    response_id: str
    question_type: str | None
    revision: int
    response: dict[str, Any]  # the stored response object: value, type, counts, apiVersion, revision


class SessionWrite(BaseModel):
    index: int  # position in the request's `data`
    session_id: str
    user_id: str
    activity_id: str
    num_questions: int
    dt_saved: float | None = None  # epoch seconds; None means "when stored"
    responses: list[ResponseWrite]


class SessionError(BaseModel):
    """Why one entry of a request was not stored (the job's `data.errors`)."""

    index: int
    session_id: str | None
    user_id: str | None
    activity_id: str | None
    code: str
    message: str


class JobResult(BaseModel):
    """The job's `data` when `include` asks for it."""

    data_format: str
    sessions_total: int
    sessions_stored: list[str] = Field(default_factory=list)
    errors: list[SessionError] = Field(default_factory=list)
    halt_reason: str | None = None

    def public(self) -> dict[str, Any]:
        data = self.model_dump()
        if self.halt_reason is None:
            del data["halt_reason"]
        return data


class JobRecord(BaseModel):
    reference: str
    type: str
    status: str
    created_at: float
    completed_at: float | None
    result: JobResult
