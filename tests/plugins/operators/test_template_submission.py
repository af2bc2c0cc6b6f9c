"""The template-submission operators' `execute`: plan, verify and report against a real deployment.

Each test chains the operators the way the DAG does (plan -> submit per shard -> record -> verify
-> report) against a seeded SQLite warehouse, a SQLite ledger, local folders and the Data API
emulator over HTTP. Only Airflow's task context is hand-built.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from learnosity_core.dataapi import DataApiClient, DataApiSettings
from learnosity_core.delivery.ledger import Ledger
from learnosity_core.delivery.staging import safe_name
from learnosity_devtools.emulator import Faults
from learnosity_devtools.emulator.seed import demo_templates
from learnosity_devtools.sample_data import sample_rows
from learnosity_provider.operators.jobs import LearnosityRecordJobsOperator
from learnosity_provider.operators.template_submission import (
    LearnosityTemplatePlanOperator,
    LearnosityTemplateReportOperator,
)
from learnosity_provider.operators.verify import LearnosityVerifyOperator

DAG_ID = "learnosity_template_submission"
RUN = "manual__2026-12-01T02:00:00+00:00"
KEY = "emulatordemokey1"
SECRET = "emulator-demo-secret"


def _plan(deployment: Any, run_id: str = RUN, **params: Any) -> list[dict[str, Any]]:
    operator = LearnosityTemplatePlanOperator(task_id="plan", **params)
    shards: list[dict[str, Any]] = operator.execute(deployment.context(DAG_ID, run_id))
    return shards


def _record_and_verify(deployment: Any, run_id: str = RUN) -> tuple[dict[str, int], dict[str, int]]:
    context = deployment.context(DAG_ID, run_id)
    recorded = LearnosityRecordJobsOperator(task_id="record_jobs").execute(context)
    verified = LearnosityVerifyOperator(task_id="verify").execute(context)
    return recorded, verified


def _deliver(
    deployment: Any, run_id: str = RUN, **params: Any
) -> tuple[list[dict[str, Any]], dict[str, int], dict[str, int]]:
    """plan -> submit every shard -> jobs finish -> record -> verify; what plan, record, verify return."""
    shards = _plan(deployment, run_id, **params)
    deployment.submit(shards)
    deployment.wait_for_jobs()
    recorded, verified = _record_and_verify(deployment, run_id)
    return shards, recorded, verified


def _report(deployment: Any, run_id: str = RUN, max_quarantine_share: float = 0.5) -> dict[str, Any]:
    """The sample rows are adversarial: about a third is quarantined, over the default share."""
    published: dict[str, Any] = LearnosityTemplateReportOperator(
        task_id="report", max_quarantine_share=max_quarantine_share
    ).execute(deployment.context(DAG_ID, run_id))
    return published


GHOST = "activity-not-in-learnosity"  # no template: its activity is held back, not quarantined


def _report_folder(deployment: Any, run_id: str = RUN) -> Path:
    folder: Path = deployment.reports / DAG_ID / safe_name(run_id)
    return folder


def _staged_sessions(shards: list[dict[str, Any]]) -> int:
    return sum(shard["sessions"] for shard in shards)


def test_a_run_delivers_every_valid_session_once_and_reports_it(deployment: Any) -> None:
    source_rows = deployment.rows
    valid = deployment.valid_sessions()
    shards, recorded, verified = _deliver(deployment, batch_size=5)

    assert [s["shard"] for s in shards] == list(range(1, len(shards) + 1))
    first = 1
    for shard in shards:
        last = first + shard["batches"] - 1
        assert shard["label"].startswith(f"shard {shard['shard']}: batches {first}-{last} of ")
        assert shard["label"].endswith(f"), {shard['sessions']} sessions")
        assert "demo-" in shard["label"], "the label names the shard's activities"
        first = last + 1
        assert Path(shard["path"].removeprefix("file://")).is_file()
    assert _staged_sessions(shards) == len(valid)
    assert recorded == {"jobs": sum(s["batches"] for s in shards), "completed": len(valid), "failed": 0}
    assert verified == {"verified": len(valid), "mismatched": 0}

    stored = deployment.stored_keys()
    assert sorted(stored) == sorted(valid), "every valid session stored, each exactly once"
    rows = deployment.sessions_of_run(DAG_ID, RUN)
    completed = [r for r in rows if r.status == "completed"]
    assert {(r.activity_id, r.user_id) for r in completed} == valid
    assert all(r.verified and r.job_reference for r in completed)
    held_back = {(r.activity_id, r.user_id) for r in rows if r.status == "quarantined"}
    assert held_back and held_back <= deployment.rows.attrs["invalid_sessions"]

    published = _report(deployment)
    totals = published["totals"]
    assert published["failed"] == 0 and published["problems"] == []
    assert totals["rows"] == len(source_rows)
    assert totals["sessions_staged"] == totals["submitted"] == totals["completed"] == len(valid)
    assert totals["verified"] == len(valid) and totals["failed"] == 0
    assert totals["already_delivered"] == 0
    assert published["report"].endswith("report.html")
    html = deployment.report_html(published)
    assert "<svg" in html and "dry run" not in html
    with (_report_folder(deployment) / "quarantine.csv").open(encoding="utf-8") as handle:
        quarantined = list(csv.DictReader(handle))
    assert len(quarantined) == totals["rows_quarantined"]
    invalid = deployment.rows.attrs["invalid_sessions"]
    assert {(q["activity_id"], q["user_id"]) for q in quarantined} == {k for k in invalid if k[0] != GHOST}
    keys = zip(source_rows["activity_id"], source_rows["user_id"], strict=True)
    sent = sum(1 for key in keys if key in valid)
    assert len(source_rows) - len(quarantined) == sent == totals["rows_staged"], (
        "every row sent or quarantined"
    )


def test_a_held_back_activity_fails_the_report_after_writing_it(deployment: Any) -> None:
    ghost = sample_rows(demo_templates(), learners=12)
    ghost = ghost[ghost["activity_id"] == GHOST]
    ghost.to_sql("learnosity_responses", deployment.warehouse, if_exists="append", index=False)
    _deliver(deployment)
    with pytest.raises(
        AirflowFailException, match=f"activity {GHOST} was held back: Learnosity has no template"
    ):
        _report(deployment)
    html = (_report_folder(deployment) / "report.html").read_text(encoding="utf-8")
    waiting = len(ghost)
    assert f"<td>{GHOST}</td>" in html and "Why this run is not green" in html
    assert f"+ {waiting} held back" in html
    assert Ledger.from_url(deployment.ledger_url).last_window_end(DAG_ID) is None


def test_the_next_run_starts_where_a_delivered_run_ended(deployment: Any) -> None:
    _deliver(deployment)
    _report(deployment)
    writes = deployment.writes()

    assert _plan(deployment, "scheduled__2026-12-02T02:00:00+00:00") == []
    plan = json.loads(
        (
            deployment.stage / DAG_ID / safe_name("scheduled__2026-12-02T02:00:00+00:00") / "plan.json"
        ).read_text()
    )
    assert plan["window_start"] is not None, "the window starts at the delivered run's end"
    assert plan["activities"] == {}
    assert deployment.writes() == writes


def test_batch_size_and_max_shards_shape_the_staged_batches(deployment: Any) -> None:
    shards = _plan(deployment, batch_size="3", max_shards=2)

    assert len(shards) == 2
    assert _staged_sessions(shards) == len(deployment.valid_sessions())
    batches = sorted((deployment.stage / DAG_ID / safe_name(RUN) / "batches").iterdir())
    assert sum(s["batches"] for s in shards) == len(batches)
    sizes = [len(json.loads(path.read_text())["session_ids"]) for path in batches]
    assert max(sizes) == 3 and sum(sizes) == len(deployment.valid_sessions())
    staged = [r for r in deployment.sessions_of_run(DAG_ID, RUN) if r.status == "staged"]
    assert len(staged) == len(deployment.valid_sessions())
    assert deployment.stored() == [], "planning sends nothing"


def test_activity_ids_limit_the_run_to_those_activities(deployment: Any) -> None:
    only = "demo-geography-capitals-q2"
    shards, recorded, _ = _deliver(deployment, activity_ids=[only])

    expected = {key for key in deployment.valid_sessions() if key[0] == only}
    assert _staged_sessions(shards) == recorded["completed"] == len(expected) > 0
    assert set(deployment.stored_keys()) == expected


@pytest.mark.parametrize(
    ("dry_run", "sends"),
    [("false", True), ("False", True), ("0", True), (False, True), ("true", False), (True, False)],
)
def test_dry_run_is_typed_from_its_rendered_value(deployment: Any, dry_run: Any, sends: bool) -> None:
    shards = _plan(deployment, dry_run=dry_run)

    assert bool(shards) is sends
    assert (deployment.stage / DAG_ID / safe_name(RUN) / "batches").exists() is sends


def test_a_dry_run_stages_and_sends_nothing_but_reports_what_it_would_do(deployment: Any) -> None:
    assert _plan(deployment, dry_run=True) == []
    recorded, _ = _record_and_verify(deployment)

    assert recorded == {"jobs": 0, "completed": 0, "failed": 0}
    assert deployment.sessions_of_run(DAG_ID, RUN) == [], "a dry run writes no session to the ledger"
    assert deployment.stored() == []
    published = _report(deployment)
    assert published["totals"]["sessions_staged"] == len(deployment.valid_sessions())
    assert published["totals"]["submitted"] == published["totals"]["completed"] == 0
    assert "dry run: nothing was sent" in deployment.report_html(published)
    assert (_report_folder(deployment) / "quarantine.csv").is_file()

    # The dry run did not count its window as delivered: a real run afterwards sends everything.
    real = _plan(deployment, "manual__after-the-dry-run")
    assert _staged_sessions(real) == len(deployment.valid_sessions())


@pytest.mark.parametrize(
    ("params", "name"),
    [
        pytest.param({"batch_size": "0"}, "batch_size", id="batch_size-0"),
        pytest.param({"batch_size": "abc"}, "batch_size", id="batch_size-abc"),
        pytest.param({"batch_size": 51}, "batch_size", id="batch_size-51"),
        pytest.param({"window_start": "not-a-date"}, "window_start", id="window_start"),
        pytest.param({"window_end": "2026-13-45T00:00:00"}, "window_end", id="window_end"),
        pytest.param({"dry_run": "maybe"}, "dry_run", id="dry_run"),
        pytest.param({"force_resubmit": "perhaps"}, "force_resubmit", id="force_resubmit"),
        pytest.param({"activity_ids": "demo-biology-cells-u3"}, "activity_ids", id="activity_ids-string"),
    ],
)
def test_a_bad_param_fails_the_task_naming_it_before_anything_happens(
    deployment: Any, params: dict[str, Any], name: str
) -> None:
    with pytest.raises(AirflowFailException, match=rf"^param {name}: .*fix it in the trigger form"):
        _plan(deployment, **params)
    assert not deployment.stage.exists(), "nothing staged"
    assert deployment.sessions_of_run(DAG_ID, RUN) == []


def test_delivered_sessions_are_skipped_unless_force_resubmit(deployment: Any) -> None:
    _deliver(deployment)
    _report(deployment)
    valid = len(deployment.valid_sessions())

    again = "manual__same-window-again"
    assert _plan(deployment, again, window_start="2000-01-01T00:00:00") == []
    assert _report(deployment, again)["totals"]["already_delivered"] == valid

    forced = "manual__forced"
    shards, recorded, _ = _deliver(
        deployment, forced, window_start="2000-01-01T00:00:00", force_resubmit="true"
    )
    assert _staged_sessions(shards) == recorded["completed"] == valid
    assert set(deployment.writes().values()) == {2}, "every session written a second time, none a third"


def test_a_window_end_before_every_row_plans_nothing(deployment: Any) -> None:
    assert _plan(deployment, window_end="2000-01-01T00:00:00") == []
    plan = json.loads((deployment.stage / DAG_ID / safe_name(RUN) / "plan.json").read_text())
    assert plan["window_end"] == "2000-01-01T00:00:00+00:00", "a naive timestamp is UTC"


def test_a_halted_job_fails_the_report_after_writing_it_and_the_next_run_resends(deployment: Any) -> None:
    deployment.emulator.set_faults(Faults(halt_jobs=1))
    shards, recorded, verified = _deliver(deployment, batch_size=10)

    failed_rows = [r for r in deployment.sessions_of_run(DAG_ID, RUN) if r.status == "failed"]
    assert 0 < recorded["failed"] == len(failed_rows) <= 10
    assert all("halted" in (r.error or "") for r in failed_rows)
    assert recorded["completed"] + recorded["failed"] == _staged_sessions(shards)
    assert verified == {"verified": recorded["completed"], "mismatched": 0}

    with pytest.raises(AirflowFailException, match=rf"^{recorded['failed']} sessions failed \(re-sent"):
        _report(deployment)
    html = (_report_folder(deployment) / "report.html").read_text(encoding="utf-8")
    assert "halted" in html and failed_rows[0].session_id in html
    assert deployment.ledger().last_window_end(DAG_ID) is None, "a failed run's window is not delivered"

    deployment.emulator.set_faults(Faults())
    retry = "manual__next-run"
    shards, recorded, _ = _deliver(deployment, retry, batch_size=10)
    assert _staged_sessions(shards) == recorded["completed"] == len(failed_rows)
    assert _report(deployment, retry)["totals"]["already_delivered"] == len(
        deployment.valid_sessions()
    ) - len(failed_rows)
    assert sorted(deployment.stored_keys()) == sorted(deployment.valid_sessions())


def test_verify_counts_a_session_changed_after_delivery_as_mismatched(deployment: Any) -> None:
    deployment.submit(_plan(deployment, RUN, activity_ids=["demo-geography-capitals-q2"]))
    deployment.wait_for_jobs()
    LearnosityRecordJobsOperator(task_id="record_jobs").execute(deployment.context(DAG_ID, RUN))
    stage = deployment.stage / DAG_ID / safe_name(RUN)
    (batch_file,) = (stage / "batches").iterdir()
    batch = json.loads(batch_file.read_text())
    first, second = (
        batch["entries"][0],
        next(e for e in batch["entries"][1:] if e["responses"] != batch["entries"][0]["responses"]),
    )
    template = json.loads((stage / "templates" / "demo-geography-capitals-q2.json").read_text())
    # Someone else writes another learner's answers into the first session after our job.
    settings = DataApiSettings(base_url=deployment.emulator.url, consumer_key=KEY, consumer_secret=SECRET)
    with DataApiClient(settings) as client:
        client.submit_template_sessions(template, [{**first, "responses": second["responses"]}], True)
    deployment.wait_for_jobs()

    verified = LearnosityVerifyOperator(task_id="verify").execute(deployment.context(DAG_ID, RUN))

    assert verified == {"verified": len(batch["entries"]) - 1, "mismatched": 1}
    (row,) = [r for r in deployment.sessions_of_run(DAG_ID, RUN) if r.verified is False]
    assert row.session_id == first["session_id"]
    assert "differs on read-back" in (row.error or "") and row.status == "failed"
    with pytest.raises(AirflowFailException, match=r"^1 sessions failed \(re-sent by the next run\)"):
        _report(deployment)
    page = (_report_folder(deployment) / "report.html").read_text(encoding="utf-8")
    assert first["session_id"] in page and "differs on read-back" in page


@pytest.mark.parametrize("enabled", ["false", False, "0"])
def test_verify_switched_off_reads_nothing(deployment: Any, enabled: Any) -> None:
    shards = _plan(deployment)
    deployment.submit(shards)
    deployment.wait_for_jobs()
    LearnosityRecordJobsOperator(task_id="record_jobs").execute(deployment.context(DAG_ID, RUN))

    result = LearnosityVerifyOperator(task_id="verify", enabled=enabled).execute(
        deployment.context(DAG_ID, RUN)
    )

    assert result == {"verified": 0, "mismatched": 0}
    assert {r.verified for r in deployment.sessions_of_run(DAG_ID, RUN) if r.status == "completed"} == {None}


def test_a_bad_verify_switch_fails_naming_the_verify_param(deployment: Any) -> None:
    with pytest.raises(AirflowFailException, match=r"^param verify: "):
        LearnosityVerifyOperator(task_id="verify", enabled="sometimes").execute(
            deployment.context(DAG_ID, RUN)
        )


def test_a_long_run_id_is_delivered_and_verified(deployment: Any) -> None:
    run_id = (
        "manual__backfill-of-the-autumn-term-paper-assessments-for-all-schools-in-the-north-region"
        "_2026-11-30T00:00:00+00:00"
    )
    assert len(run_id) < 250, "Airflow accepts run ids up to 250 characters"
    valid = len(deployment.valid_sessions())

    shards = _plan(deployment, run_id, batch_size=5)
    staged = [r for r in deployment.sessions_of_run(DAG_ID, run_id) if r.batch_id is not None]
    assert _staged_sessions(shards) == len(staged) == valid, "every staged session is in its own batch file"
    deployment.submit(shards)
    deployment.wait_for_jobs()
    recorded, verified = _record_and_verify(deployment, run_id)

    assert recorded["completed"] == valid
    assert verified == {"verified": valid, "mismatched": 0}


def test_sessions_of_a_shard_that_was_never_submitted_fail_the_report(deployment: Any) -> None:
    shards = _plan(deployment, batch_size=5)
    assert len(shards) > 1
    deployment.submit(shards[:1])  # the other submit tasks failed for good
    deployment.wait_for_jobs()
    _record_and_verify(deployment)
    unsent = _staged_sessions(shards[1:])

    failed_report = None
    try:
        _report(deployment)
    except AirflowFailException as failure:
        failed_report = str(failure)
    assert deployment.ledger().last_window_end(DAG_ID) is None, (
        "a window with unsent sessions is not delivered"
    )
    assert failed_report is not None and failed_report.startswith(f"{unsent} sessions failed")


def test_the_report_of_a_run_whose_plan_failed_says_so(deployment: Any) -> None:
    with pytest.raises(
        AirflowFailException, match=r"the plan task did not finish, so nothing was staged or sent"
    ):
        _report(deployment, "manual__plan-never-ran")


def test_a_wrong_secret_fails_the_plan_at_once_naming_the_consumer_secret(
    deployment: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refused signature is not a network blip: no retry can fix it, so the task says what to fix."""
    conn = {"conn_type": "learnosity", "host": deployment.emulator.url, "login": "emulatordemokey1"}
    monkeypatch.setenv("AIRFLOW_CONN_LEARNOSITY_DEFAULT", json.dumps({**conn, "password": "rotated-away"}))
    before = deployment.emulator.stats()["total"]
    with pytest.raises(AirflowFailException) as failure:
        _plan(deployment)
    message = str(failure.value)
    assert "consumer key (login) / consumer secret (password) of connection learnosity_default" in message
    assert "rotated-away" not in message
    assert deployment.emulator.stats()["total"] - before <= 1, "a refused signature is not retried"


def test_a_wrong_secret_fails_record_and_verify_naming_the_consumer_secret(
    deployment: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shards = _plan(deployment)
    deployment.submit(shards)
    deployment.wait_for_jobs()
    context = deployment.context(DAG_ID, RUN)
    good = os.environ["AIRFLOW_CONN_LEARNOSITY_DEFAULT"]
    wrong = json.dumps({**json.loads(good), "password": "rotated-away"})

    monkeypatch.setenv("AIRFLOW_CONN_LEARNOSITY_DEFAULT", wrong)
    with pytest.raises(AirflowFailException, match=r"consumer secret \(password\) of connection"):
        LearnosityRecordJobsOperator(task_id="record_jobs").execute(context)
    monkeypatch.setenv("AIRFLOW_CONN_LEARNOSITY_DEFAULT", good)
    LearnosityRecordJobsOperator(task_id="record_jobs").execute(context)
    monkeypatch.setenv("AIRFLOW_CONN_LEARNOSITY_DEFAULT", wrong)
    with pytest.raises(AirflowFailException, match=r"consumer secret \(password\) of connection"):
        LearnosityVerifyOperator(task_id="verify").execute(context)


def test_the_report_states_the_runs_ignore_response_revisions(deployment: Any) -> None:
    _plan(deployment, dry_run=True)
    context = {**deployment.context(DAG_ID, RUN), "params": {"ignore_response_revisions": True}}
    published = LearnosityTemplateReportOperator(task_id="report", max_quarantine_share=0.5).execute(context)
    html = deployment.report_html(published)
    assert "ignore_response_revisions was ON for this run" in html
    assert "  ignore_response_revisions=true" in (_report_folder(deployment) / "summary.txt").read_text()
