"""GET /learnosity/lookup?learner=<user_id>&session=<session_id>: every delivery of a learner's
sessions (or of one session) from the ledger's history, and where each stands now. The report
links each failed or rejected session here."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from learnosity_core.delivery.ledger import HistoryRow
from learnosity_provider import resources
from learnosity_provider.ui.auth import PipelineReader
from learnosity_provider.ui.links import report_path
from learnosity_provider.ui.pages import page

router = APIRouter()
log = logging.getLogger(__name__)


def by_session(rows: list[HistoryRow]) -> list[dict[str, Any]]:
    """History rows grouped per session, oldest first; the last row of each is its state now
    (the history is written in the same transaction as every change)."""
    grouped: dict[str, list[HistoryRow]] = {}
    for row in rows:
        grouped.setdefault(row.session_id, []).append(row)
    sessions = []
    for session_id, history in grouped.items():
        last = history[-1]
        current = last.status.value + (
            ", verified" if last.verified else ", read-back differed" if last.verified is False else ""
        )
        sessions.append(
            {
                "session_id": session_id,
                "user_id": last.user_id,
                "activity_id": last.activity_id,
                "current": current + (f" ({last.error})" if last.error else ""),
                "rows": history,
            }
        )
    return sessions


@router.get("/lookup", response_class=HTMLResponse)
def lookup_page(
    request: Request, _user: PipelineReader, learner: str | None = None, session: str | None = None
) -> HTMLResponse:
    learner, session = (learner or "").strip() or None, (session or "").strip() or None
    asked = " and ".join(
        part for part in (learner and f"learner {learner}", session and f"session {session}") if part
    )
    rows: list[HistoryRow] = []
    problem = None
    if asked:
        try:
            rows = resources.ledger().history(session_id=session, user_id=learner)
        except Exception as exc:  # say why on the page; never a stack trace
            log.warning("Lookup could not read the ledger (%s)", type(exc).__name__)
            problem = f"The ledger could not be read ({type(exc).__name__}: {exc})"
    return page(
        request,
        "lookup.html.j2",
        learner=learner,
        session=session,
        asked=asked,
        sessions=by_session(rows),
        problem=problem,
        report_path=report_path,
    )
