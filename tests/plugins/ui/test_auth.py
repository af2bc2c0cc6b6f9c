"""Nobody without Airflow's login reads the delivery page: no token 401, a forged one 403, never data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from learnosity_core.delivery.ledger import Ledger, SessionEntry
from learnosity_core.delivery.staging import safe_name

DAG_ID = "learnosity_template_submission"
RUN_ID = "manual__2026-01-01T02:00:00+00:00"


@pytest.fixture
def secret_data(reports: Path, ledger: Ledger) -> None:
    folder = reports / DAG_ID / safe_name(RUN_ID)
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("<p>learner-secret-7</p>")
    (folder / "quarantine.csv").write_text("user_id\nlearner-secret-7\n")
    ledger.stage(DAG_ID, "r1", "b1", [SessionEntry("s-7", "h", "act-1", "learner-secret-7")], data_format="x")


PATHS = [
    "/learnosity/",
    "/learnosity/lookup?learner=learner-secret-7",
    "/learnosity/lookup?session=s-7",
    f"/learnosity/runs/{DAG_ID}/{RUN_ID}/report",
    f"/learnosity/runs/{DAG_ID}/{RUN_ID}/files/quarantine.csv",
    f"/learnosity/runs/{DAG_ID}/{RUN_ID}/quarantine.csv",
]


@pytest.mark.parametrize("path", PATHS)
def test_without_a_token_the_answer_is_401_and_no_data(api: Any, secret_data: None, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 401
    assert "learner-secret-7" not in response.text and "s-7" not in response.text


@pytest.mark.parametrize("path", PATHS)
def test_a_forged_token_is_refused(api: Any, secret_data: None, path: str) -> None:
    for credentials in ({"Authorization": "Bearer not-a-jwt"}, None):
        cookies = {"_token": "forged.jwt.value"} if credentials is None else None
        response = api.get(path, headers=credentials, cookies=cookies)
        assert response.status_code == 403
        assert "learner-secret-7" not in response.text


def test_the_ui_session_cookie_is_enough(api: Any, token: str, secret_data: None) -> None:
    """The navigation entry opens the page in the UI, which sends its `_token` cookie, no header."""
    response = api.get("/learnosity/lookup?learner=learner-secret-7", cookies={"_token": token})
    assert response.status_code == 200
    assert "Session s-7" in response.text
    api.cookies.clear()
