"""`learnosity_failed_submission_replay` end to end: real Airflow runs against the emulator."""

from __future__ import annotations

import os
import re
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.utils.state import DagRunState

from learnosity_core.delivery.staging import safe_name
from learnosity_core.failed_submission.blob import encode_failed_session
from learnosity_core.failed_submission.report import REPLAY_COLUMNS
from learnosity_devtools.emulator import Faults
from learnosity_devtools.emulator.seed import demo_templates
from learnosity_devtools.sample_data import (
    BLOB_SHAPES,
    MALFORMED_BLOBS,
    reshape_blob_session,
    sample_blob_session,
    write_sample_blobs,
)

DAG_ID = "learnosity_failed_submission_replay"
LEARNERS = 12
SETTLE = "AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_SETTLE_S"
# Today's malformed corpus and the reason each is quarantined with, strict or not.
MALFORMED_REASONS = {
    "not-base64.txt": "not_base64",
    "not-utf8.txt": "not_utf8",
    "not-json.txt": "not_json",
    "not-object.txt": "not_object",
    "empty.txt": "empty",
    "binary-junk.bin": "not_base64",
    "very-large.txt": "too_large",
}
# The replay has no read-back: where the jobs' answers settle blobs, it must work whether or not
# they name their sessions. Landing-folder safety does not depend on the answer: documented only.
BOTH_JOB_SHAPES = pytest.mark.parametrize(
    "emulator_job_detail", [False, True], ids=["documented-jobs", "detailed-jobs"]
)


@pytest.fixture
def landing(sqlite_pipeline: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(SETTLE, "0")  # these blobs are written whole before the run
    folder = tmp_path / "landing"
    write_sample_blobs(folder, demo_templates(), learners=LEARNERS)
    (folder / "very-large.txt").write_bytes(b"QUFB" * (2 * 1024 * 1024))
    return folder


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.exists() else []


def _blob_files(folder: Path) -> list[str]:
    return [n for n in _files(folder) if not n.endswith(".reason.txt")]


def _reason(folder: Path, name: str) -> str:
    return (folder / f"{name}.reason.txt").read_text().split(":")[0]


def _shaped(user: str, shape: str) -> str:
    activity, template = next(iter(demo_templates().items()))
    doc = sample_blob_session(template, activity, user, 2, "2026-11-21T10:00:00")
    return encode_failed_session(reshape_blob_session(doc, shape))


def _unidentified(user: str) -> str:
    activity, template = next(iter(demo_templates().items()))
    doc = sample_blob_session(template, activity, user, 2, "2026-11-21T10:00:00")
    return encode_failed_session({"responses": doc["responses"]})


@BOTH_JOB_SHAPES
def test_clean_run_replays_valid_blobs_and_quarantines_the_rest(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any]
) -> None:
    run = run_dag(DAG_ID)
    assert run.state == DagRunState.SUCCESS
    stored = sqlite_pipeline.stored()
    assert len(stored) == LEARNERS == len({s["session_id"] for s in stored})
    assert _files(landing) == [], "every file ends in processed/, duplicates/ or quarantine/"
    assert len(_files(landing / "processed")) == LEARNERS
    assert [n for n in _files(landing / "duplicates") if not n.endswith(".reason.txt")] == [
        "session-0000-older-copy.txt"
    ]
    assert (
        set(_blob_files(landing / "quarantine"))
        == {*MALFORMED_BLOBS, "very-large.txt"}
        == set(MALFORMED_REASONS)
    )
    for name, reason in MALFORMED_REASONS.items():
        assert _reason(landing / "quarantine", name) == reason, name
    (report,) = sqlite_pipeline.reports.rglob("report.html")
    assert "not_base64" in report.read_text()


@BOTH_JOB_SHAPES
def test_blobs_in_three_inner_shapes_are_each_sent_once_and_processed(
    sqlite_pipeline: Any, tmp_path: Path, run_dag: Callable[..., Any]
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for shape in BLOB_SHAPES:
        (landing / f"{shape}.txt").write_text(_shaped(f"learner-{shape}", shape), encoding="ascii")
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    stored = sqlite_pipeline.stored()
    assert sorted(s["user_id"] for s in stored) == sorted(f"learner-{shape}" for shape in BLOB_SHAPES)
    assert all(len(s["responses"]) == 2 for s in stored), "each shape's responses are stored"
    assert set(sqlite_pipeline.writes().values()) == {1}
    assert _files(landing) == [] and _files(landing / "processed") == sorted(f"{s}.txt" for s in BLOB_SHAPES)

    before = sqlite_pipeline.writes()
    for path in (landing / "processed").iterdir():  # support drops them again
        (landing / path.name).write_bytes(path.read_bytes())
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    assert sqlite_pipeline.writes() == before, "nothing sent again"
    assert _files(landing) == [] and len(_files(landing / "processed")) == 2 * len(BLOB_SHAPES)


@BOTH_JOB_SHAPES
def test_a_blob_naming_no_session_is_sent_once_and_settled_by_its_job(
    sqlite_pipeline: Any, tmp_path: Path, run_dag: Callable[..., Any], emulator_job_detail: bool
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "flat.txt").write_text(_shaped("learner-flat", "flat"), encoding="ascii")
    (landing / "blob-1.txt").write_text(_unidentified("learner-anon"), encoding="ascii")
    (landing / "blob-2.txt").write_text(_unidentified("learner-anon"), encoding="ascii")
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    assert [s["user_id"] for s in sqlite_pipeline.stored()] == ["learner-flat"]
    assert _blob_files(landing / "duplicates") == ["blob-2.txt"]
    assert _files(landing) == []
    if emulator_job_detail:  # the job says it stored nothing for it: Learnosity's reason, not ours
        assert _blob_files(landing / "quarantine") == ["blob-1.txt"]
        reason = (landing / "quarantine" / "blob-1.txt.reason.txt").read_text()
        assert reason.startswith("missing_identity: the session data names no session_id")
    else:  # the documented answer names no session, and there is none to read back: it completed
        assert _blob_files(landing / "processed") == ["blob-1.txt", "flat.txt"]
    (report,) = sqlite_pipeline.reports.rglob("report.html")
    assert "blob-1.txt" in report.read_text() and "missing_identity" in report.read_text()


def test_strict_quarantines_blobs_that_would_only_warn(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any]
) -> None:
    camel = [f"session-{n:04d}.txt" for n in range(LEARNERS) if BLOB_SHAPES[n % 3] == "camel"]
    assert run_dag(DAG_ID, strict=True).state == DagRunState.SUCCESS
    assert len(sqlite_pipeline.stored()) == LEARNERS - len(camel)
    assert set(_blob_files(landing / "quarantine")) == {*MALFORMED_REASONS, *camel}
    for name in camel:
        assert _reason(landing / "quarantine", name) == "invalid_response", (
            "camelCase blobs carry no apiVersion"
        )
    for name, reason in MALFORMED_REASONS.items():
        assert _reason(landing / "quarantine", name) == reason, name


def test_rerun_sends_nothing(sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any]) -> None:
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    before = sqlite_pipeline.writes()
    for path in (landing / "processed").iterdir():  # support drops the same files again
        (landing / path.name).write_bytes(path.read_bytes())
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    assert sqlite_pipeline.writes() == before
    assert _files(landing) == []


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param(Faults(error_rate=0.3, seed=5), id="5xx"),
        pytest.param(Faults(burst_429=4), id="429-burst"),
    ],
)
def test_faults_lose_nothing_and_send_nothing_twice(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any], faults: Faults
) -> None:
    sqlite_pipeline.emulator.set_faults(faults)
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    assert len(sqlite_pipeline.stored()) == LEARNERS
    assert all(w == 1 for w in sqlite_pipeline.writes().values())


@BOTH_JOB_SHAPES
def test_a_halted_job_leaves_its_files_for_the_next_run(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any]
) -> None:
    sqlite_pipeline.emulator.set_faults(Faults(halt_jobs=1))
    assert run_dag(DAG_ID).state == DagRunState.FAILED
    assert sqlite_pipeline.stored() == []
    assert len([n for n in _files(landing) if n.startswith("session-")]) == LEARNERS

    sqlite_pipeline.emulator.set_faults(Faults())
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    assert len(sqlite_pipeline.stored()) == LEARNERS
    assert _files(landing) == []


def test_an_emulator_restart_mid_run_loses_nothing(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any]
) -> None:
    import threading
    import time

    emulator = sqlite_pipeline.emulator
    emulator.set_faults(Faults(set_latency_s=0.5))

    def restart_soon() -> None:
        time.sleep(0.2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not emulator.stats()["jobs"]:
            time.sleep(0.05)
        emulator.restart(downtime_s=1.0)

    watcher = threading.Thread(target=restart_soon, daemon=True)
    watcher.start()
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    watcher.join(timeout=5)
    assert len(sqlite_pipeline.stored()) == LEARNERS


def test_blobs_from_a_warehouse_table_are_replayed_too(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    activity, template = next(iter(demo_templates().items()))
    blob = encode_failed_session(
        sample_blob_session(template, activity, "from-table-1", 1, "2026-11-21T08:00:00")
    )
    with sqlite_pipeline.warehouse.begin() as conn:
        conn.execute(sa.text("CREATE TABLE failed_blobs (blob_id TEXT, blob TEXT)"))
        conn.execute(
            sa.text("INSERT INTO failed_blobs VALUES ('t1', :b), ('t2', 'not base64!')"), {"b": blob}
        )
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_TABLE", "failed_blobs")
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    users = {s["user_id"] for s in sqlite_pipeline.stored()}
    assert "from-table-1" in users and len(users) == LEARNERS + 1


def _report_html(pipeline: Any, run_id: str) -> str:
    (page,) = pipeline.reports.glob(f"{DAG_ID}/{safe_name(run_id)}/report.html")
    return page.read_text(encoding="utf-8")


def _every_file(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_blob_written_slowly_is_left_alone_then_sent_whole_by_the_next_run(
    sqlite_pipeline: Any, tmp_path: Path, run_dag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SETTLE, "1.5")
    landing = tmp_path / "landing"
    landing.mkdir()
    activity, template = next(iter(demo_templates().items()))
    blob = encode_failed_session(
        sample_blob_session(template, activity, "slow-writer", 2, "2026-11-21T08:00")
    )
    path = landing / "slow.txt"
    first_run_done = threading.Event()

    def write_slowly() -> None:  # a chunk every 0.2 s until the first run is over, then the rest
        with path.open("w", encoding="ascii") as out:
            for start in range(0, len(blob), 64):
                out.write(blob[start : start + 64])
                out.flush()
                if first_run_done.wait(0.2):
                    out.write(blob[start + 64 :])
                    return

    writer = threading.Thread(target=write_slowly, daemon=True)
    writer.start()
    time.sleep(0.3)
    first = run_dag(DAG_ID)
    first_run_done.set()
    writer.join(timeout=10)

    assert first.state == DagRunState.SUCCESS
    assert sqlite_pipeline.stored() == []
    assert _files(landing) == ["slow.txt"] and not (landing / "quarantine").exists(), "left alone"
    assert "slow.txt" in _report_html(sqlite_pipeline, first.run_id)
    assert "waiting: still_changing" in _report_html(sqlite_pipeline, first.run_id)

    time.sleep(1.6)
    second = run_dag(DAG_ID)
    assert second.state == DagRunState.SUCCESS
    (stored,) = sqlite_pipeline.stored()
    assert stored["user_id"] == "slow-writer"
    assert (landing / "processed" / "slow.txt").read_text(encoding="ascii") == blob, "sent and kept whole"
    assert _files(landing) == []


def test_links_out_of_the_landing_folder_are_skipped_reported_and_never_followed(
    sqlite_pipeline: Any, landing: Path, tmp_path: Path, run_dag: Callable[..., Any]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET")
    activity, template = next(iter(demo_templates().items()))
    outsider = encode_failed_session(
        sample_blob_session(template, activity, "outsider", 2, "2026-11-21T08:00")
    )
    (outside / "valid.txt").write_text(outsider)
    (landing / "to-secret.txt").symlink_to(outside / "secret.txt")
    (landing / "to-valid.txt").symlink_to(outside / "valid.txt")
    (landing / "dangling.txt").symlink_to(tmp_path / "nothing")
    (landing / "a-folder").mkdir()
    os.mkfifo(landing / "a-pipe")
    before = _every_file(outside)

    run = run_dag(DAG_ID)

    assert run.state == DagRunState.SUCCESS
    assert _every_file(outside) == before, "nothing outside the landing folder changed"
    assert "outsider" not in {s["user_id"] for s in sqlite_pipeline.stored()}
    assert len(sqlite_pipeline.stored()) == LEARNERS
    for folder in ("quarantine", "processed", "duplicates"):
        assert not any("to-" in n or "dangling" in n for n in _files(landing / folder))
    assert all((landing / n).is_symlink() for n in ("to-secret.txt", "to-valid.txt", "dangling.txt"))
    html = _report_html(sqlite_pipeline, run.run_id)
    for entry, why in [
        ("to-secret.txt", "symlink"),
        ("to-valid.txt", "symlink"),
        ("dangling.txt", "symlink"),
        ("a-folder", "directory"),
        ("a-pipe", "special_file"),
    ]:
        assert f'<td>{entry}</td><td style="text-align:left">skipped: {why}</td>' in html


def test_a_source_outside_the_landing_folder_is_refused_and_nothing_moves(
    sqlite_pipeline: Any, landing: Path, tmp_path: Path, run_dag: Callable[..., Any]
) -> None:
    elsewhere = tmp_path / "not-the-landing-folder"
    write_sample_blobs(elsewhere, demo_templates(), learners=3)
    before = {folder: _every_file(folder) for folder in (landing, elsewhere)}

    run = run_dag(DAG_ID, source=str(elsewhere))

    assert run.state == DagRunState.FAILED
    assert {folder: _every_file(folder) for folder in (landing, elsewhere)} == before
    assert sqlite_pipeline.stored() == []
    (plan,) = [ti for ti in run.get_task_instances() if ti.task_id == "plan"]
    assert plan.state == "failed"


def test_a_run_while_another_holds_the_landing_folder_takes_nothing(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any]
) -> None:
    """A manual run of another DAG id (or a run that outlived max_active_runs) holds the landing
    folder's lease: this run moves and sends nothing, says so, and the next run sends each blob once."""
    from learnosity_core.failed_submission.landing import LEASE_TTL, lease_key

    ledger = sqlite_pipeline.ledger()
    assert ledger.acquire_lease(lease_key(landing), "manual__another-dag", LEASE_TTL) is None
    before = _every_file(landing)

    busy = run_dag(DAG_ID)

    assert busy.state == DagRunState.SUCCESS
    assert _every_file(landing) == before and sqlite_pipeline.stored() == []
    assert "in use by run manual__another-dag" in _report_html(sqlite_pipeline, busy.run_id)

    ledger.release_lease(lease_key(landing), "manual__another-dag")
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    assert len(sqlite_pipeline.stored()) == LEARNERS
    assert set(sqlite_pipeline.writes().values()) == {1}, "every blob posted once"


def test_files_never_overwrite_earlier_ones_and_the_report_adds_up(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any]
) -> None:
    assert run_dag(DAG_ID).state == DagRunState.SUCCESS
    first = {folder: _every_file(landing / folder) for folder in ("processed", "quarantine", "duplicates")}
    write_sample_blobs(landing, demo_templates(), learners=LEARNERS)  # the same names dropped again

    run = run_dag(DAG_ID)

    assert run.state == DagRunState.SUCCESS
    assert _files(landing) == []
    for folder, files in first.items():
        now = _every_file(landing / folder)
        assert {name: now[name] for name in files} == files, f"an earlier file in {folder}/ was replaced"
        assert len(now) > len(files), f"the second drop's files are in {folder}/ beside the first"
    html = _report_html(sqlite_pipeline, run.run_id)
    footer = re.findall(r"<td>(\d+)</td>", html.split("<tfoot>")[1].split("</tfoot>")[0])
    totals = dict(zip(REPLAY_COLUMNS, map(int, footer), strict=True))
    dropped = LEARNERS + 1 + len(MALFORMED_BLOBS)
    assert totals["found"] == dropped
    parts = ("waiting", "skipped", "invalid", "duplicates", "already_delivered", "staged")
    assert sum(totals[c] for c in parts) == dropped
    assert (totals["already_delivered"], totals["duplicates"], totals["staged"]) == (LEARNERS, 1, 0)
    assert "Learner data at rest" in html


def test_staged_learner_data_is_removed_after_a_successful_run_and_kept_owner_only_after_a_failed_one(
    sqlite_pipeline: Any, landing: Path, run_dag: Callable[..., Any]
) -> None:
    sqlite_pipeline.emulator.set_faults(Faults(halt_jobs=1))
    failed = run_dag(DAG_ID)
    assert failed.state == DagRunState.FAILED
    kept = sqlite_pipeline.stage / DAG_ID / safe_name(failed.run_id)
    staged = [p for p in kept.rglob("*") if p.is_file()]
    assert staged, "a failed run keeps its stage for a look"
    assert {stat.S_IMODE(p.stat().st_mode) for p in staged} == {0o600}

    sqlite_pipeline.emulator.set_faults(Faults())
    ok = run_dag(DAG_ID)
    assert ok.state == DagRunState.SUCCESS
    assert not (sqlite_pipeline.stage / DAG_ID / safe_name(ok.run_id)).exists()
    assert kept.exists(), "the failed run's stage stays until the retention period is over"
    quarantined = [p for p in (landing / "quarantine").iterdir()]
    assert quarantined and {stat.S_IMODE(p.stat().st_mode) for p in quarantined} == {0o600}
