"""Every reason code the code base emits has a meaning and a next step in reporting.reasons."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

from learnosity_core.content import responses
from learnosity_core.failed_submission import blob, landing
from learnosity_core.reporting.reasons import (
    BLOB_REASONS,
    LANDING_REASONS,
    ROW_REASONS,
    explain,
    explain_failure,
)
from learnosity_core.reporting.report import UNSETTLED
from learnosity_core.template_submission.transform import reasons as transform_reasons


def _codes(module: ModuleType) -> set[str]:
    """The module's reason-code constants: upper-case names bound to snake_case strings."""
    return {
        value
        for name, value in vars(module).items()
        if name.isupper() and isinstance(value, str) and re.fullmatch(r"[a-z][a-z0-9_]*", value)
    }


def test_every_row_code_is_explained() -> None:
    codes = (
        _codes(transform_reasons)
        | _codes(responses)
        | set(transform_reasons.REASONS)
        | set(transform_reasons.WARNINGS)
    )
    assert len(codes) >= 16
    assert codes <= set(ROW_REASONS), codes - set(ROW_REASONS)


def test_every_blob_code_is_explained() -> None:
    codes = _codes(blob)
    assert {"not_base64", "missing_identity"} <= codes
    assert codes <= set(BLOB_REASONS), codes - set(BLOB_REASONS)


def test_every_landing_code_is_explained() -> None:
    codes = {
        landing.SYMLINK,
        landing.OUTSIDE_ROOT,
        landing.DIRECTORY,
        landing.SPECIAL_FILE,
        landing.HIDDEN,
        landing.VANISHED,
        landing.TEMPORARY_NAME,
        landing.STILL_CHANGING,
        landing.CHANGED_WHILE_READ,
    }
    assert codes == set(LANDING_REASONS)


def test_a_shared_code_is_explained_per_data_format() -> None:
    row, blob_reason = (
        explain("missing_responses", "from_template"),
        explain("missing_responses", "failed_submission"),
    )
    assert row and blob_reason and row.meaning != blob_reason.meaning
    assert explain("still_changing", "failed_submission") == LANDING_REASONS["still_changing"]
    assert explain("no_such_code") is None
    assert all(
        r.meaning and r.next_step for t in (ROW_REASONS, BLOB_REASONS, LANDING_REASONS) for r in t.values()
    )


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UNSETTLED[next(iter(UNSETTLED))], "never_submitted"),
        (list(UNSETTLED.values())[1], "outcome_unknown"),
        ("job j-1 halted: no reason given", "job_halted"),
        ("job j-1 still queued when the wait timed out", "job_timed_out"),
        ("rejected by the Data API: data[0]: user_id is blank", "refused"),
        ("not found on read-back", "read_back_differs"),
        ("question q1: value differs on read-back", "read_back_differs"),
        ("job j-1 completed without storing this session", "not_stored"),
        ("invalid_value: injected for the test", "invalid_value"),
    ],
)
def test_delivery_errors_are_explained_by_their_wording_or_leading_code(error: str, code: str) -> None:
    reason = explain_failure(error)
    assert reason is not None and reason.code == code


def test_a_leading_blob_code_is_explained_for_replays() -> None:
    reason = explain_failure("missing_identity: the session data names no session_id", "failed_submission")
    assert reason == BLOB_REASONS["missing_identity"]
    assert explain_failure("something nobody said before") is None
