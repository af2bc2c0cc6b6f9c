"""The first-contact check against the emulator: connection, templates understood, request bodies."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from learnosity_core.dataapi import DataApiClient, DataApiSettings
from learnosity_core.delivery.warehouse import Source
from learnosity_core.first_contact.check import CheckFailed, check_connection, report_lines, run_check
from learnosity_core.template_submission.templates import TemplateRef, fetcher
from learnosity_devtools.emulator import EmulatorServer
from learnosity_devtools.emulator.seed import demo_templates
from learnosity_devtools.sample_data import sample_rows, seed_warehouse

KEY, SECRET = "emulatordemokey1", "emulator-demo-secret"


def _client(emulator: EmulatorServer, secret: str = SECRET) -> DataApiClient:
    return DataApiClient(
        DataApiSettings(base_url=emulator.url, consumer_key=KEY, consumer_secret=secret, max_attempts=1)
    )


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    seed_warehouse(engine, sample_rows(demo_templates(), learners=12))
    return engine


def test_a_wrong_secret_fails_naming_the_consumer_secret(emulator: EmulatorServer) -> None:
    with _client(emulator, secret="not-the-secret") as client, pytest.raises(CheckFailed) as failure:
        check_connection(client.ping, "learnosity_default")
    message = str(failure.value)
    assert "consumer secret (password) of connection learnosity_default" in message
    assert "not-the-secret" not in message


def test_every_activity_is_understood_and_its_request_bodies_written(
    emulator: EmulatorServer, engine: sa.Engine
) -> None:
    out = io.StringIO()
    with _client(emulator) as client:
        report = run_check(
            ping=client.ping,
            conn_id="learnosity_default",
            engine=engine,
            source=Source(),
            template_map={},
            fetch=fetcher(client),
            activity_ids=[],
            out=out,
            sessions_per_activity=5,
        )
    checks = {c.activity_id: c for c in report.activities}
    demo = set(demo_templates())
    assert demo <= set(checks), "every warehouse activity is checked"
    for activity in demo:
        check = checks[activity]
        assert check.held_back is None and check.questions, activity
        assert check.sessions_written == 5
    assert checks["activity-not-in-learnosity"].held_back is not None
    bodies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(bodies) == len(demo)  # 5 sessions per activity fit in one request each
    for body in bodies:
        assert (body["endpoint"], body["action"]) == ("sessions", "set")
        request = body["request"]
        assert request["data_format"] == "from_template" and len(request["data"]) == 5
        assert "template" in request and "security" not in body
    assert SECRET not in out.getvalue()
    lines = report_lines(report)
    assert lines[0].startswith("OK connection learnosity_default")
    assert any(line.startswith("  question ") for line in lines)
    assert any("HELD BACK" in line for line in lines)


def test_mapped_templates_are_checked_under_the_activity_id(
    emulator: EmulatorServer, engine: sa.Engine
) -> None:
    activity = sorted(demo_templates())[0]
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE learnosity_responses SET activity_id = 'district-copy' WHERE activity_id = :a"),
            {"a": activity},
        )
    out = io.StringIO()
    with _client(emulator) as client:
        report = run_check(
            ping=client.ping,
            conn_id="learnosity_default",
            engine=engine,
            source=Source(),
            template_map={"district-copy": TemplateRef(activity_template_id=activity)},
            fetch=fetcher(client),
            activity_ids=["district-copy"],
            out=out,
            sessions_per_activity=3,
        )
    (check,) = report.activities
    assert check.template == f"activity_template_id {activity}" and check.held_back is None
    (body,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {s["activity_id"] for s in body["request"]["data"]} == {"district-copy"}
