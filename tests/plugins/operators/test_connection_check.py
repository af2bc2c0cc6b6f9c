"""The first-contact check as a task: it logs what it understood and writes bodies, sending nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from learnosity_core.delivery.staging import safe_name
from learnosity_devtools.emulator.seed import demo_templates
from learnosity_provider.operators.connection_check import LearnosityConnectionCheckOperator

DAG_ID = "learnosity_connection_check"
RUN = "manual__2026-12-01T09:00:00+00:00"


def test_the_check_writes_request_bodies_and_sends_nothing(deployment: Any) -> None:
    result = LearnosityConnectionCheckOperator(
        task_id="check",
        activity_ids=["demo-biology-cells-u3", "activity-not-in-learnosity"],
        sample_sessions="3",
    ).execute(deployment.context(DAG_ID, RUN))

    path = deployment.reports / DAG_ID / safe_name(RUN) / "requests.jsonl"
    assert result["requests_file"].removeprefix("file://") == str(path)
    assert (result["activities"], result["held_back"]) == (2, ["activity-not-in-learnosity"])
    (body,) = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert body["request"]["template"] == demo_templates()["demo-biology-cells-u3"]
    assert len(body["request"]["data"]) == 3
    assert deployment.stored() == [], "the check sends no session"


def test_a_bad_sample_size_fails_naming_the_param(deployment: Any) -> None:
    with pytest.raises(AirflowFailException, match=r"^param sample_sessions: "):
        LearnosityConnectionCheckOperator(task_id="check", sample_sessions="0").execute(
            deployment.context(DAG_ID, RUN)
        )


def test_a_wrong_secret_fails_naming_the_consumer_secret(
    deployment: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.dumps(
        {
            "conn_type": "learnosity",
            "host": deployment.emulator.url,
            "login": "emulatordemokey1",
            "password": "nope",
        }
    )
    monkeypatch.setenv("AIRFLOW_CONN_LEARNOSITY_DEFAULT", conn)
    with pytest.raises(
        AirflowFailException, match="consumer secret \\(password\\) of connection learnosity_default"
    ):
        LearnosityConnectionCheckOperator(task_id="check").execute(deployment.context(DAG_ID, RUN))
