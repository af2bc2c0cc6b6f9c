"""The failed-submission replay operators' `execute`: plan and report against a real landing folder.

Blob files are written into the configured landing folder; the plan, submit, record and report
operators run in the DAG's order against a SQLite ledger and the Data API emulator over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from airflow.sdk.exceptions import AirflowFailException

from learnosity_core.delivery.staging import safe_name
from learnosity_core.failed_submission.blob import encode_failed_session
from learnosity_devtools.emulator import Faults
from learnosity_devtools.emulator.seed import demo_templates
from learnosity_devtools.sample_data import MALFORMED_BLOBS, sample_blob_session, write_sample_blobs
from learnosity_provider.operators.failed_submission import (
    LearnosityReplayPlanOperator,
    LearnosityReplayReportOperator,
)
from learnosity_provider.operators.jobs import LearnosityRecordJobsOperator

DAG_ID = "learnosity_failed_submission_replay"
RUN = "manual__2026-12-01T03:15:00+00:00"
BLOB_LEARNERS = 8  # what the `landing` fixture writes
SESSION_FILES = [f"session-{n:04d}.txt" for n in range(BLOB_LEARNERS)]
OLDER_COPY = "session-0000-older-copy.txt"
FOUND = BLOB_LEARNERS + 1 + len(MALFORMED_BLOBS)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def _blob_files(folder: Path) -> list[str]:
    return [name for name in _files(folder) if not name.endswith(".reason.txt")]


def _plan(deployment: Any, run_id: str = RUN, **params: Any) -> list[dict[str, Any]]:
    shards: list[dict[str, Any]] = LearnosityReplayPlanOperator(task_id="plan", **params).execute(
        deployment.context(DAG_ID, run_id)
    )
    return shards


def _submit_and_record(deployment: Any, shards: list[dict[str, Any]], run_id: str = RUN) -> dict[str, int]:
    deployment.submit(shards)
    deployment.wait_for_jobs()
    recorded: dict[str, int] = LearnosityRecordJobsOperator(task_id="record_jobs").execute(
        deployment.context(DAG_ID, run_id)
    )
    return recorded


def _report(deployment: Any, run_id: str = RUN, **params: Any) -> dict[str, Any]:
    published: dict[str, Any] = LearnosityReplayReportOperator(task_id="report", **params).execute(
        deployment.context(DAG_ID, run_id)
    )
    return published


def _report_file(deployment: Any, run_id: str = RUN) -> Path:
    path: Path = deployment.reports / DAG_ID / safe_name(run_id) / "report.html"
    return path


def test_the_plan_quarantines_invalid_files_sets_duplicates_aside_and_stages_the_rest(
    deployment: Any, landing: Path
) -> None:
    shards = _plan(deployment)

    assert len(shards) == 1 and shards[0]["sessions"] == BLOB_LEARNERS
    assert shards[0]["label"] == f"shard 1: batches 1-1 of 1 (replay), {BLOB_LEARNERS} sessions"
    assert _files(landing) == SESSION_FILES, (
        "valid files wait in the landing folder until their session completes"
    )
    assert set(_blob_files(landing / "quarantine")) == set(MALFORMED_BLOBS)
    for name in MALFORMED_BLOBS:
        assert (landing / "quarantine" / f"{name}.reason.txt").read_text().strip()
    assert _blob_files(landing / "duplicates") == [OLDER_COPY]
    assert (
        landing / "duplicates" / f"{OLDER_COPY}.reason.txt"
    ).read_text() == "superseded by session-0000.txt\n"
    rows = deployment.sessions_of_run(DAG_ID, RUN)
    assert len(rows) == BLOB_LEARNERS and {r.status for r in rows} == {"staged"}
    assert {r.data_format for r in rows} == {"failed_submission"}
    assert {r.user_id for r in rows} == {f"online-{n:04d}" for n in range(BLOB_LEARNERS)}
    assert deployment.stored() == [], "planning sends nothing"


def test_a_replay_stores_each_session_once_and_moves_its_file_to_processed(
    deployment: Any, landing: Path
) -> None:
    shards = _plan(deployment)
    recorded = _submit_and_record(deployment, shards)

    assert recorded == {"jobs": 1, "completed": BLOB_LEARNERS, "failed": 0}
    stored = deployment.stored()
    assert sorted(s["user_id"] for s in stored) == [f"online-{n:04d}" for n in range(BLOB_LEARNERS)]
    (kept,) = [s for s in stored if s["user_id"] == "online-0000"]
    assert {r["revision"] for r in kept["responses"].values()} == {2}, "the newer of the two copies was sent"

    published = _report(deployment)

    assert published["failed"] == 0
    assert published["totals"] == {
        "found": FOUND,
        "waiting": 0,
        "skipped": 0,
        "invalid": len(MALFORMED_BLOBS),
        "duplicates": 1,
        "already_delivered": 0,
        "staged": BLOB_LEARNERS,
        "submitted": BLOB_LEARNERS,
        "completed": BLOB_LEARNERS,
        "rejected": 0,
        "failed": 0,
        "verified": 0,  # no read-back in this test
    }
    assert _files(landing) == [], "every file ends in processed/, duplicates/ or quarantine/"
    assert _files(landing / "processed") == SESSION_FILES
    html = _report_file(deployment).read_text(encoding="utf-8")
    reasons = {
        (landing / "quarantine" / f"{n}.reason.txt").read_text().split(":")[0] for n in MALFORMED_BLOBS
    }
    assert reasons and all(reason in html for reason in reasons)


def test_files_dropped_again_after_delivery_are_settled_without_sending(
    deployment: Any, landing: Path
) -> None:
    _submit_and_record(deployment, _plan(deployment))
    _report(deployment)
    writes = deployment.writes()
    for name in SESSION_FILES:  # support drops the same files again
        (landing / name).write_bytes((landing / "processed" / name).read_bytes())

    again = "manual__dropped-again"
    assert _plan(deployment, again) == []
    published = _report(deployment, again)

    assert deployment.writes() == writes
    assert published["totals"]["already_delivered"] == BLOB_LEARNERS
    assert published["totals"]["submitted"] == 0
    assert _files(landing) == []


def test_a_dry_run_moves_and_sends_nothing_and_says_so(deployment: Any, landing: Path) -> None:
    before = _files(landing)

    assert _plan(deployment, dry_run=True) == []
    assert _submit_and_record(deployment, []) == {"jobs": 0, "completed": 0, "failed": 0}
    published = _report(deployment)

    assert _files(landing) == before
    assert not (landing / "quarantine").exists() and not (landing / "duplicates").exists()
    assert not (landing / "processed").exists()
    assert deployment.sessions_of_run(DAG_ID, RUN) == []
    assert deployment.stored() == []
    assert published["totals"]["found"] == FOUND
    assert published["totals"]["invalid"] == len(MALFORMED_BLOBS)
    assert published["totals"]["duplicates"] == 1
    assert published["totals"]["submitted"] == 0
    assert "dry run: nothing was sent" in _report_file(deployment).read_text(encoding="utf-8")


@pytest.mark.parametrize(("dry_run", "sends"), [("false", True), ("0", True), (False, True), ("true", False)])
def test_dry_run_is_typed_from_its_rendered_value(
    deployment: Any, landing: Path, dry_run: Any, sends: bool
) -> None:
    shards = _plan(deployment, dry_run=dry_run)

    assert bool(shards) is sends
    assert (landing / "quarantine").exists() is sends


@pytest.mark.parametrize(
    ("params", "name"),
    [
        pytest.param({"dry_run": "maybe"}, "dry_run", id="dry_run"),
        pytest.param({"source": 42}, "source", id="source"),
        pytest.param({"strict": "very"}, "strict", id="strict"),
    ],
)
def test_a_bad_param_fails_naming_it_and_moves_nothing(
    deployment: Any, landing: Path, params: dict[str, Any], name: str
) -> None:
    before = _files(landing)

    with pytest.raises(AirflowFailException, match=rf"^param {name}: "):
        _plan(deployment, **params)
    assert _files(landing) == before
    assert not (landing / "quarantine").exists()
    assert not deployment.stage.exists()


CAMEL_FILES = [f"session-{n:04d}.txt" for n in range(BLOB_LEARNERS) if n % 3 == 2]  # no apiVersion


@pytest.mark.parametrize(
    ("strict", "variable", "held_back"),
    [
        pytest.param("false", None, [], id="off"),
        pytest.param("true", None, CAMEL_FILES, id="param"),
        pytest.param(False, "true", CAMEL_FILES, id="variable"),
    ],
)
def test_strict_comes_from_the_param_or_the_variable(
    deployment: Any,
    landing: Path,
    monkeypatch: pytest.MonkeyPatch,
    strict: Any,
    variable: str | None,
    held_back: list[str],
) -> None:
    if variable is not None:
        monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_STRICT", variable)
    (shard,) = _plan(deployment, strict=strict)
    assert shard["sessions"] == BLOB_LEARNERS - len(held_back)
    assert set(_blob_files(landing / "quarantine")) == {*MALFORMED_BLOBS, *held_back}


def test_a_bad_strict_variable_fails_naming_it(
    deployment: Any, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_STRICT", "sometimes")
    with pytest.raises(AirflowFailException, match=r"^Variable learnosity_failed_submissions_strict: "):
        _plan(deployment)
    assert not (landing / "quarantine").exists()


@pytest.mark.parametrize("spelling", ["name", "local-path", "file-url"])
def test_the_source_param_picks_a_folder_inside_the_landing_folder(
    deployment: Any, landing: Path, spelling: str
) -> None:
    elsewhere = landing / "support-drop"
    write_sample_blobs(elsewhere, demo_templates(), learners=3)
    configured = _files(landing)
    source = {"name": "support-drop", "local-path": str(elsewhere), "file-url": elsewhere.as_uri()}[spelling]

    shards = _plan(deployment, source=source)
    assert _submit_and_record(deployment, shards)["completed"] == 3
    published = _report(deployment, source=source)

    assert published["totals"]["found"] == 3 + 1 + len(MALFORMED_BLOBS)
    assert _files(elsewhere / "processed") == [f"session-{n:04d}.txt" for n in range(3)]
    assert _files(elsewhere) == []
    assert _files(landing) == configured, "the configured landing folder was not touched"


@pytest.mark.parametrize("where", ["outside", "parent", "dags-folder-like"])
def test_a_source_outside_the_landing_folder_is_refused_before_anything_moves(
    deployment: Any, landing: Path, tmp_path: Path, where: str
) -> None:
    target = {
        "outside": tmp_path / "support-drop",
        "parent": tmp_path,
        "dags-folder-like": tmp_path / "dags",
    }[where]
    write_sample_blobs(target, demo_templates(), learners=2)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "ledger" not in p.name}

    with pytest.raises(AirflowFailException, match=r"^param source: .* is outside the landing location"):
        _plan(deployment, source=str(target))
    with pytest.raises(AirflowFailException, match=r"^param source: "):
        _report(deployment, source=str(target))

    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "ledger" not in p.name}
    assert after == before, "no file anywhere moved or changed"
    assert deployment.stored() == []


def test_an_admin_may_allow_a_location_outside_the_landing_folder(
    deployment: Any, landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drops = tmp_path / "district-drops"
    write_sample_blobs(drops / "d7", demo_templates(), learners=2)
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_ALLOWED_SOURCES", f'["{drops.as_uri()}"]')

    shards = _plan(deployment, source=str(drops / "d7"))
    assert sum(s["sessions"] for s in shards) == 2


def test_an_empty_source_means_the_configured_folder(deployment: Any, landing: Path) -> None:
    shards = _plan(deployment, source="")
    assert sum(s["sessions"] for s in shards) == BLOB_LEARNERS
    assert _files(landing) == SESSION_FILES


def test_an_absent_landing_folder_is_created_and_reports_nothing_found(deployment: Any) -> None:
    assert _plan(deployment) == []
    published = _report(deployment)

    assert deployment.landing.is_dir()
    assert published["totals"]["found"] == 0 and published["failed"] == 0


def test_a_halted_job_leaves_its_files_for_the_next_run_and_fails_the_report(
    deployment: Any, landing: Path
) -> None:
    deployment.emulator.set_faults(Faults(halt_jobs=1))
    recorded = _submit_and_record(deployment, _plan(deployment))
    assert recorded == {"jobs": 1, "completed": 0, "failed": BLOB_LEARNERS}

    with pytest.raises(AirflowFailException, match=rf"^{BLOB_LEARNERS} sessions failed \(their files stay"):
        _report(deployment)
    assert _report_file(deployment).is_file(), "the report is written before the task fails"
    assert "halted" in _report_file(deployment).read_text(encoding="utf-8")
    assert _files(landing) == SESSION_FILES
    assert not (landing / "processed").exists()
    assert deployment.stored() == []

    deployment.emulator.set_faults(Faults())
    retry = "manual__next-run"
    recorded = _submit_and_record(deployment, _plan(deployment, retry), retry)
    assert recorded == {"jobs": 1, "completed": BLOB_LEARNERS, "failed": 0}
    assert _report(deployment, retry)["failed"] == 0
    assert _files(landing) == []
    assert len(deployment.stored()) == BLOB_LEARNERS


def test_blobs_from_the_configured_warehouse_table_are_replayed_too(
    deployment: Any, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    activity_id, template = next(iter(demo_templates().items()))
    blob = encode_failed_session(
        sample_blob_session(template, activity_id, "from-table-1", 1, "2026-11-21T08:00:00")
    )
    with deployment.warehouse.begin() as conn:
        conn.execute(sa.text("CREATE TABLE failed_blobs (blob_id TEXT, blob TEXT)"))
        conn.execute(
            sa.text("INSERT INTO failed_blobs VALUES ('t1', :b), ('t2', 'not base64!')"), {"b": blob}
        )
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_TABLE", "failed_blobs")

    shards = _plan(deployment)
    recorded = _submit_and_record(deployment, shards)
    published = _report(deployment)

    assert sum(s["sessions"] for s in shards) == recorded["completed"] == BLOB_LEARNERS + 1
    assert "from-table-1" in {s["user_id"] for s in deployment.stored()}
    assert published["totals"]["found"] == FOUND + 2
    assert published["totals"]["invalid"] == len(MALFORMED_BLOBS) + 1
    assert set(_blob_files(landing / "quarantine")) == set(MALFORMED_BLOBS), "a table row is never a file"
    assert _files(landing) == []


def test_a_retried_plan_still_reports_what_its_first_attempt_set_aside(
    deployment: Any, landing: Path
) -> None:
    first = _plan(deployment)
    retried = _plan(deployment)  # the task's second try, e.g. after a worker was lost
    assert retried == first
    _submit_and_record(deployment, retried)

    totals = _report(deployment)["totals"]

    assert set(_blob_files(landing / "quarantine")) == set(MALFORMED_BLOBS)
    assert (totals["found"], totals["invalid"], totals["duplicates"]) == (FOUND, len(MALFORMED_BLOBS), 1)
