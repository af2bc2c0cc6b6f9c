"""Planning a template-submission run on a real SQLite warehouse: every row accounted for, staged once."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from learnosity_core.dataapi import DataApiClient, DataApiSettings, DataApiValidationError
from learnosity_core.delivery.ledger import Ledger, SessionOutcome, SessionStatus
from learnosity_core.delivery.staging import read_batch, read_plan_summary, read_shard, read_template
from learnosity_core.delivery.warehouse import Source, read_bad_bytes_as_text
from learnosity_core.template_submission.plan import (
    QUARANTINE_COLUMNS,
    PlanRequest,
    PlanSummary,
    plan_template_run,
)
from learnosity_core.template_submission.templates import TemplateRef, fetcher
from learnosity_core.template_submission.transform.reasons import REASONS
from learnosity_devtools.emulator import EmulatorServer
from learnosity_devtools.emulator.seed import demo_templates, question_id
from learnosity_devtools.sample_data import load_late_rows, sample_rows, seed_warehouse

DAG = "learnosity_template_submission"
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
GHOST = "activity-not-in-learnosity"  # sample_rows' activity with no template
LEARNERS = 15


@pytest.fixture
def rows() -> pd.DataFrame:
    return sample_rows(demo_templates(), learners=LEARNERS, now=NOW)


@pytest.fixture
def engine(tmp_path: Path, rows: pd.DataFrame) -> sa.Engine:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    seed_warehouse(engine, rows)
    return engine


class Templates:
    """The emulator's seeded templates, as `sessions/templates` would answer; counts the fetches."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    def __call__(self, ref: TemplateRef) -> dict[str, Any]:
        activity_id = ref.activity_template_id or ""
        self.fetched.append(activity_id)
        templates = demo_templates()
        if activity_id not in templates:
            raise DataApiValidationError(f"no session template for {activity_id}")
        return templates[activity_id]


def _plan(
    tmp_path: Path,
    engine: sa.Engine,
    ledger: Ledger,
    run_id: str = "run-1",
    fetch: Any = None,
    run_end: datetime = NOW,
    **request: Any,
) -> tuple[PlanSummary, Path]:
    stage = tmp_path / "stage" / run_id
    stage.mkdir(parents=True)
    summary = plan_template_run(
        engine,
        Source(),
        fetch or Templates(),
        ledger,
        stage,
        PlanRequest(run_id=run_id, **request),
        DAG,
        run_end,
    )
    return summary, stage


def _total(summary: PlanSummary, field: str) -> int:
    return sum(getattr(c, field) for c in summary.activities.values())


def _quarantine(stage: Path) -> list[dict[str, str]]:
    with (stage / "quarantine.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _batches(stage: Path, summary: PlanSummary) -> list[Any]:
    return [read_batch(stage, name) for shard in summary.shards for name in read_shard(stage, shard.shard)]


def _complete_everything(ledger: Ledger, stage: Path, summary: PlanSummary) -> int:
    """Record every staged batch as submitted and its sessions as completed, as the API would."""
    done = 0
    for n, batch in enumerate(_batches(stage, summary)):
        ledger.record_submission(batch.batch_id, f"job-{summary.run_id}-{n}")
        outcomes = [SessionOutcome(sid, SessionStatus.COMPLETED) for sid in batch.session_ids]
        ledger.record_job(f"job-{summary.run_id}-{n}", "completed", outcomes)
        done += len(outcomes)
    return done


def _keys(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["activity_id"], frame["user_id"], strict=True))


def test_every_extracted_row_is_quarantined_or_in_a_staged_session(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, rows: pd.DataFrame
) -> None:
    summary, stage = _plan(tmp_path, engine, ledger, batch_size=7)

    assert _total(summary, "rows") == len(rows)
    rows_per_session = Counter(_keys(rows))
    staged = [r for r in ledger.sessions_of_run(DAG, "run-1") if r.status == SessionStatus.STAGED]
    for activity_id, counts in summary.activities.items():
        in_sessions = sum(
            rows_per_session[activity_id, str(r.user_id)] for r in staged if r.activity_id == activity_id
        )
        assert counts.rows == counts.rows_held_back + counts.rows_quarantined + in_sessions, activity_id
        assert counts.sessions_ready == counts.sessions_staged  # nothing delivered before
    in_ledger = {(str(r.activity_id), str(r.user_id)) for r in ledger.sessions_of_run(DAG, "run-1")}
    assert rows_per_session.keys() - in_ledger == {k for k in rows_per_session if k[0] == GHOST}

    quarantined = {(r["activity_id"], r["user_id"]) for r in _quarantine(stage)}
    assert quarantined == {k for k in rows.attrs["invalid_sessions"] if k[0] != GHOST}
    ghost = summary.activities[GHOST]
    assert ghost.rows_held_back == ghost.rows == 3, "a template Learnosity lacks holds the activity back"
    assert ghost.rows_quarantined == 0 and ghost.sessions_staged == 0
    assert ghost.held_back is not None and "Learnosity has no template" in ghost.held_back


def test_staged_sessions_are_in_the_ledger_batches_and_shards(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    summary, stage = _plan(tmp_path, engine, ledger, batch_size=4, max_shards=3)

    staged = _total(summary, "sessions_staged")
    assert staged > 0
    assert 1 <= len(summary.shards) <= 3 and sum(s.sessions for s in summary.shards) == staged
    batches = _batches(stage, summary)
    assert all(1 <= len(b.session_ids) <= 4 and b.data_format == "from_template" for b in batches)
    rows = {r.session_id: r for r in ledger.sessions_of_run(DAG, "run-1")}
    for batch in batches:
        for sid, entry in zip(batch.session_ids, batch.entries, strict=True):
            assert entry["session_id"] == sid and entry["activity_id"] == batch.activity_id
            assert rows[sid].status == SessionStatus.STAGED and rows[sid].batch_id == batch.batch_id
    assert sum(r.status == SessionStatus.STAGED for r in rows.values()) == staged
    quarantined = [r for r in rows.values() if r.status == SessionStatus.QUARANTINED]
    assert len(quarantined) == _total(summary, "sessions_quarantined") > 0
    assert all(str(r.error).split(":")[0] in REASONS for r in quarantined)

    known = sorted(a for a in summary.activities if a != GHOST)
    assert sorted(p.stem for p in (stage / "templates").iterdir()) == known  # none for the ghost
    assert read_template(stage, known[0]) == demo_templates()[known[0]]
    assert read_plan_summary(stage, PlanSummary) == summary


def test_the_quarantine_csv_lists_every_held_back_row_with_its_reason(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    summary, stage = _plan(tmp_path, engine, ledger)

    assert summary.quarantine_csv == str(stage / "quarantine.csv")
    with (stage / "quarantine.csv").open(encoding="utf-8", newline="") as handle:
        assert next(csv.reader(handle)) == QUARANTINE_COLUMNS
    records = _quarantine(stage)
    assert len(records) == _total(summary, "rows_quarantined")
    merged: Counter[str] = Counter()
    for counts in summary.activities.values():
        merged.update(counts.quarantined_by_reason)
    assert Counter(r["reason"] for r in records) == merged
    assert {"unknown_question", "type_conflict", "session_held_back"} <= set(merged)
    assert "unknown_activity" not in merged, "an activity without a template is held back, not quarantined"
    assert all(r["reason"] in REASONS and r["message"] and r["row_id"] for r in records)
    assert len({r["row_id"] for r in records}) == len(records)


def test_a_rerun_without_changes_stages_nothing(tmp_path: Path, engine: sa.Engine, ledger: Ledger) -> None:
    first, first_stage = _plan(tmp_path, engine, ledger)
    delivered = _complete_everything(ledger, first_stage, first)
    assert delivered == _total(first, "sessions_staged") > 0

    again, stage = _plan(tmp_path, engine, ledger, run_id="run-2")
    assert _total(again, "sessions_staged") == 0
    assert _total(again, "sessions_already_delivered") == delivered
    assert _total(again, "rows") == _total(first, "rows")
    assert again.shards == [] and not (stage / "batches").exists()
    assert {r.status for r in ledger.sessions_of_run(DAG, "run-2")} == {SessionStatus.QUARANTINED}
    assert {r.status for r in ledger.sessions_of_run(DAG, "run-1")} == {SessionStatus.COMPLETED}


def test_only_staged_but_undelivered_sessions_are_planned_again(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    first, _ = _plan(tmp_path, engine, ledger)  # staged, never completed (e.g. the submit failed)
    again, _ = _plan(tmp_path, engine, ledger, run_id="run-2")
    assert _total(again, "sessions_staged") == _total(first, "sessions_staged") > 0
    assert _total(again, "sessions_already_delivered") == 0


def test_changed_content_is_sent_again_and_force_resubmit_sends_everything(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, rows: pd.DataFrame
) -> None:
    first, first_stage = _plan(tmp_path, engine, ledger)
    _complete_everything(ledger, first_stage, first)
    staged_user = next(
        r
        for r in ledger.sessions_of_run(DAG, "run-1")
        if r.status == SessionStatus.COMPLETED and r.activity_id == "demo-biology-cells-u3"
    )
    shorttext = rows[
        (rows["activity_id"] == staged_user.activity_id)
        & (rows["user_id"] == staged_user.user_id)
        & (rows["question_type"] == "shorttext")
    ]
    assert len(shorttext) == 1
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE learnosity_responses SET response = 'changed answer' WHERE row_id = :id"),
            {"id": int(shorttext.index[0]) + 1},
        )

    again, stage = _plan(tmp_path, engine, ledger, run_id="run-2")
    assert _total(again, "sessions_staged") == 1
    (batch,) = _batches(stage, again)
    assert batch.session_ids == [staged_user.session_id]

    forced, _ = _plan(tmp_path, engine, ledger, run_id="run-3", force_resubmit=True)
    assert _total(forced, "sessions_staged") == _total(first, "sessions_staged")
    assert _total(forced, "sessions_already_delivered") == 0


def test_a_dry_run_counts_but_stages_nothing(tmp_path: Path, engine: sa.Engine, ledger: Ledger) -> None:
    summary, stage = _plan(tmp_path, engine, ledger, dry_run=True)

    assert summary.dry_run is True and summary.shards == []
    assert _total(summary, "sessions_staged") > 0  # what a real run would stage
    assert ledger.sessions_of_run(DAG, "run-1") == []  # neither staged nor quarantined sessions
    assert not (stage / "batches").exists()
    assert not (stage / "shards").exists() or list((stage / "shards").iterdir()) == []
    assert read_plan_summary(stage, PlanSummary).dry_run is True
    assert len(_quarantine(stage)) == _total(summary, "rows_quarantined")  # the preview shows the quarantine

    real, _ = _plan(tmp_path, engine, ledger, run_id="run-2")
    assert _total(real, "sessions_staged") == _total(summary, "sessions_staged")


def test_chunk_boundaries_do_not_change_the_plan(tmp_path: Path, engine: sa.Engine, ledger: Ledger) -> None:
    whole, whole_stage = _plan(tmp_path, engine, ledger, run_id="whole", dry_run=True)
    other = Ledger.from_url(f"sqlite:///{tmp_path / 'other-ledger.db'}")
    chunked, chunked_stage = _plan(tmp_path, engine, other, run_id="chunked", chunksize=7, dry_run=True)
    assert chunked.activities == whole.activities
    assert _quarantine(chunked_stage) == _quarantine(whole_stage)


def test_only_requested_activities_are_planned_and_each_template_is_fetched_once(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, rows: pd.DataFrame
) -> None:
    fetch = Templates()
    wanted = ["demo-algebra-linear-p1", "demo-english-reading-y9"]
    summary, stage = _plan(tmp_path, engine, ledger, fetch=fetch, activity_ids=wanted, batch_size=50)
    assert sorted(fetch.fetched) == wanted
    assert sorted(summary.activities) == wanted
    assert _total(summary, "rows") == int(rows["activity_id"].isin(wanted).sum())
    assert {r.activity_id for r in ledger.sessions_of_run(DAG, "run-1")} == set(wanted)
    assert {b.activity_id for b in _batches(stage, summary)} == set(wanted)


def test_templates_from_the_emulator_plan_like_the_seeded_ones(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, emulator: EmulatorServer
) -> None:
    settings = DataApiSettings(
        base_url=emulator.url, consumer_key="emulatordemokey1", consumer_secret="emulator-demo-secret"
    )
    with DataApiClient(settings) as client:
        summary, stage = _plan(
            tmp_path,
            engine,
            ledger,
            fetch=fetcher(client),
            dry_run=True,
        )
    expected, _ = _plan(
        tmp_path, engine, Ledger.from_url(f"sqlite:///{tmp_path / 'l2.db'}"), "run-2", dry_run=True
    )

    def counted(plan: PlanSummary) -> dict[str, dict[str, Any]]:
        return {
            a: c.model_dump(exclude={"held_back"}) | {"held": bool(c.held_back)}
            for a, c in plan.activities.items()
        }

    assert counted(summary) == counted(expected)
    ghost = summary.activities[GHOST]
    assert ghost.rows_held_back == 3 and ghost.held_back and "code 20013" in ghost.held_back
    assert json.loads((stage / "templates" / "demo-biology-cells-u3.json").read_text())["items"]


def test_the_window_starts_where_the_last_finished_run_ended(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, rows: pd.DataFrame
) -> None:
    times = pd.to_datetime(rows["updated_at"])
    cut = (times.min() + (times.max() - times.min()) / 2).to_pydatetime().replace(tzinfo=UTC, microsecond=0)
    ledger.start_run(DAG, "earlier", None, cut)
    ledger.finish_run(DAG, "earlier")
    ledger.start_run(DAG, "unfinished", cut, NOW - timedelta(minutes=1))  # never finished: ignored
    ledger.start_run("another_dag", "other", None, NOW - timedelta(minutes=1))
    ledger.finish_run("another_dag", "other")

    summary, _ = _plan(tmp_path, engine, ledger, dry_run=True)
    assert summary.window_start == cut.isoformat() and summary.window_end == NOW.isoformat()
    changed = set(_keys(rows[times >= cut.replace(tzinfo=None)]))
    expected_rows = sum(key in changed for key in _keys(rows))  # whole sessions with a changed row
    assert 0 < expected_rows < len(rows)
    assert _total(summary, "rows") == expected_rows

    explicit, _ = _plan(tmp_path, engine, ledger, run_id="run-2", window_start="", dry_run=True)
    assert explicit.window_start == cut.isoformat()  # "" from the trigger form means "not set"
    everything, _ = _plan(
        tmp_path, engine, ledger, run_id="run-3", window_start=datetime(2000, 1, 1), dry_run=True
    )
    assert everything.window_start == "2000-01-01T00:00:00+00:00"
    assert _total(everything, "rows") == len(rows)


def test_a_run_end_before_the_rows_finds_nothing(tmp_path: Path, engine: sa.Engine, ledger: Ledger) -> None:
    summary, stage = _plan(tmp_path, engine, ledger, run_end=NOW - timedelta(days=1))
    assert summary.activities == {} and summary.shards == []
    assert summary.quarantine_csv is None and not (stage / "quarantine.csv").exists()
    assert ledger.sessions_of_run(DAG, "run-1") == []


@pytest.mark.parametrize("batch_size", [0, 51, -5])
def test_a_batch_size_outside_1_to_50_is_refused(batch_size: int) -> None:
    with pytest.raises(ValidationError, match="batch_size"):
        PlanRequest(run_id="r", batch_size=batch_size)


def test_plan_request_reads_the_trigger_forms_values() -> None:
    request = PlanRequest(
        run_id="r",
        activity_ids="",
        window_start="",
        window_end=datetime(2026, 11, 21, 12, 30),
        batch_size="7",
        force_resubmit="false",
        dry_run="true",
    )
    assert request.activity_ids == [] and request.window_start is None
    assert request.window_end == datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
    assert request.batch_size == 7 and request.force_resubmit is False and request.dry_run is True
    aware = PlanRequest(run_id="r", window_start="2026-11-21T12:30:00+02:00")
    assert aware.window_start is not None and aware.window_start.utcoffset() == timedelta(hours=2)
    assert PlanRequest(run_id="r", window_start="2026-11-21T12:30:00").window_start == datetime(
        2026, 11, 21, 12, 30, tzinfo=UTC
    )
    defaults = PlanRequest(run_id="r")
    assert (defaults.batch_size, defaults.dry_run, defaults.force_resubmit) == (50, False, False)
    with pytest.raises(ValidationError):
        PlanRequest(run_id="r", max_shards=0)
    with pytest.raises(ValidationError):
        PlanRequest(run_id="r", dry_run="perhaps")


def test_answers_over_max_length_are_sent_as_written_and_counted_as_warnings(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    question = question_id("bio-cells-process")  # shorttext, no max_length stated: 50 characters
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE learnosity_responses SET response = :long "
                "WHERE question_id = :q AND user_id = 'student-00000'"
            ),
            {"long": "photosynthesis " * 6, "q": question},
        )
    summary, _ = _plan(tmp_path, engine, ledger)
    biology = summary.activities["demo-biology-cells-u3"]
    assert biology.warnings_by_code == {"over_max_length": 1}
    staged = {
        r.user_id for r in ledger.sessions_of_run(DAG, "run-1") if r.activity_id == "demo-biology-cells-u3"
    }
    assert "student-00000" in staged, "a long paper answer is still sent"


def test_the_source_column_maps_many_activities_to_one_template_fetched_once(
    tmp_path: Path, ledger: Ledger
) -> None:
    """A district runs one paper test under several activity ids; sessions keep their own ids."""
    paper = "demo-geography-capitals-q2"
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'district.db'}")
    rows = sample_rows({paper: demo_templates()[paper]}, learners=6, now=NOW, invalid=False)
    copies = [rows.assign(activity_id=f"district-{n}", activity_template_id=paper) for n in (1, 2)]
    seed_warehouse(engine, pd.concat(copies, ignore_index=True))
    fetch = Templates()

    summary, stage = _plan(tmp_path, engine, ledger, fetch=fetch)
    assert fetch.fetched == [paper], "one fetch per distinct template"
    assert set(summary.activities) == {"district-1", "district-2"}
    assert all(c.held_back is None and c.sessions_staged == 6 for c in summary.activities.values())
    assert {r.activity_id for r in ledger.sessions_of_run(DAG, "run-1")} == {"district-1", "district-2"}
    assert read_template(stage, "district-1") == demo_templates()[paper]


def test_an_activity_whose_rows_name_two_templates_is_held_back(tmp_path: Path, ledger: Ledger) -> None:
    paper = "demo-geography-capitals-q2"
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'mixed.db'}")
    rows = sample_rows({paper: demo_templates()[paper]}, learners=4, now=NOW, invalid=False)
    rows["activity_template_id"] = [paper if n % 2 else "another-paper" for n in range(len(rows))]
    seed_warehouse(engine, rows)

    summary, _ = _plan(tmp_path, engine, ledger, fetch=Templates())
    counts = summary.activities[paper]
    assert counts.rows_held_back == counts.rows == len(rows) and counts.sessions_staged == 0
    assert counts.held_back is not None and "2 templates in activity_template_id" in counts.held_back


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"window_end": datetime.now(UTC) + timedelta(days=1)}, "window_end\n.*must not be in the future"),
        ({"window_start": "2026-11-22T00:00:00Z", "window_end": "2026-11-21T00:00:00Z"}, "before window_end"),
        ({"window_start": "2026-11-22T00:00:00Z", "window_end": "2026-11-22T00:00:00Z"}, "before window_end"),
        ({"window_start": "not-a-date"}, "window_start\n"),
    ],
)
def test_windows_that_would_lose_rows_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        PlanRequest(run_id="r", **fields)


@pytest.mark.parametrize(
    ("request_fields", "advances"),
    [
        ({}, True),
        ({"activity_ids": ["demo-biology-cells-u3"]}, False),
        ({"window_end": NOW - timedelta(days=1)}, False),
        ({"window_start": NOW - timedelta(days=400)}, False),  # nothing was delivered before it
    ],
)
def test_only_a_complete_unfiltered_run_may_advance_the_window(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, request_fields: dict[str, Any], advances: bool
) -> None:
    summary, _ = _plan(tmp_path, engine, ledger, dry_run=True, **request_fields)
    assert summary.advances_window is advances


def test_a_start_at_or_before_the_delivered_window_still_advances_it(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger
) -> None:
    ledger.start_run(DAG, "earlier", None, NOW - timedelta(days=2))
    ledger.finish_run(DAG, "earlier")
    covering, _ = _plan(tmp_path, engine, ledger, "run-a", window_start=NOW - timedelta(days=3), dry_run=True)
    skipping, _ = _plan(tmp_path, engine, ledger, "run-b", window_start=NOW - timedelta(days=1), dry_run=True)
    assert covering.advances_window is True
    assert skipping.advances_window is False, "a run that skips part of the window must not close it"


def _append(engine: sa.Engine, row: pd.DataFrame, row_id: int, **changes: Any) -> None:
    """Add a copy of one row to the warehouse, with `changes` and its own row id."""
    row.assign(row_id=row_id, **changes).to_sql(
        "learnosity_responses", engine, if_exists="append", index=False
    )


def test_rows_without_identity_or_a_readable_time_are_quarantined_and_counted(
    tmp_path: Path, ledger: Ledger, rows: pd.DataFrame
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'loose.db'}")  # a table that allows NULL ids
    rows.assign(row_id=range(1, len(rows) + 1)).to_sql("learnosity_responses", engine, index=False)
    valid = rows[[k not in rows.attrs["invalid_sessions"] and k[0] != GHOST for k in _keys(rows)]]
    one = valid.iloc[[0]]
    _append(engine, one, 800_001, user_id=None)
    _append(engine, one, 800_002, activity_id=None)
    _append(engine, one, 800_003, user_id="   ")
    _append(engine, one, 800_004, user_id="late-learner", updated_at=None)
    _append(engine, one, 800_005, user_id="typo-learner", updated_at="not a time")
    summary, stage = _plan(tmp_path, engine, ledger, window_start=NOW - timedelta(days=30))

    assert all(c.unaccounted == 0 for c in summary.activities.values())
    assert _total(summary, "rows") == len(rows) + 5
    by_row = {r["row_id"]: r for r in _quarantine(stage)}
    reasons = [by_row[str(800_001 + n)]["reason"] if str(800_001 + n) in by_row else None for n in range(5)]
    assert reasons == ["missing_field"] * 3 + [None, "invalid_timestamp"]
    assert summary.activities["(no activity_id)"].rows_quarantined == 1
    staged = {r.user_id for r in ledger.sessions_of_run(DAG, "run-1") if r.status == SessionStatus.STAGED}
    assert "late-learner" in staged, "a row without updated_at is in every window"


def test_an_undecodable_byte_quarantines_its_row_alone(tmp_path: Path, ledger: Ledger) -> None:
    engine = read_bad_bytes_as_text(sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}"))
    seed_warehouse(engine, sample_rows(demo_templates(), learners=4, now=NOW, invalid=False))
    with engine.begin() as conn:
        (row_id, user) = conn.execute(
            sa.text(
                "SELECT row_id, user_id FROM learnosity_responses WHERE question_type = 'shorttext' LIMIT 1"
            )
        ).one()
        conn.execute(
            sa.text("UPDATE learnosity_responses SET response = CAST(x'6f6bff21' AS TEXT) WHERE row_id = :r"),
            {"r": row_id},
        )
    summary, stage = _plan(tmp_path, engine, ledger)

    quarantine = _quarantine(stage)
    own = [r for r in quarantine if r["reason"] == "invalid_encoding"]
    assert [(r["row_id"], r["user_id"]) for r in own] == [(str(row_id), user)]
    assert "response: not valid UTF-8" in own[0]["message"]
    assert {r["reason"] for r in quarantine} == {"invalid_encoding", "session_held_back"}
    assert {r["user_id"] for r in quarantine} == {user}, "only its own session waits"
    assert _total(summary, "sessions_staged") > 0


def test_a_session_id_the_ledger_knows_as_someone_elses_is_a_conflict_and_the_owner_is_kept(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, rows: pd.DataFrame
) -> None:
    summary, stage = _plan(tmp_path, engine, ledger)
    _complete_everything(ledger, stage, summary)
    owner = next(r for r in ledger.sessions_of_run(DAG, "run-1") if r.status == SessionStatus.COMPLETED)
    other_activity = next(a for a in summary.activities if a not in (owner.activity_id, GHOST))
    theirs = rows[rows["activity_id"] == other_activity].iloc[[0]]
    _append(engine, theirs, 800_001, user_id="squatter", session_id=owner.session_id, updated_at=NOW)

    later, later_stage = _plan(tmp_path, engine, ledger, run_id="run-2", run_end=NOW + timedelta(hours=1))
    (conflict,) = [r for r in _quarantine(later_stage) if r["user_id"] == "squatter"]
    assert conflict["reason"] == "session_id_conflict"
    assert f"already belongs to user {owner.user_id} in activity {owner.activity_id}" in conflict["message"]
    kept = {r.session_id: r for r in ledger.sessions_of_run(DAG, "run-1")}[owner.session_id]
    assert (kept.status, kept.user_id, kept.content_hash) == (
        SessionStatus.COMPLETED,
        owner.user_id,
        owner.content_hash,
    )
    assert later.activities[other_activity].unaccounted == 0


def _late_load(engine: sa.Engine, rows: pd.DataFrame, user: str, long_ago: datetime) -> None:
    """Scanned papers that reach the warehouse days after the test, stamped with the test's day."""
    valid = rows[[k not in rows.attrs["invalid_sessions"] and k[0] != GHOST for k in _keys(rows)]]
    first = valid[valid["activity_id"] == valid["activity_id"].iloc[0]]
    paper = first[first["user_id"] == first["user_id"].iloc[0]]
    late = paper.assign(user_id=user, updated_at=long_ago.strftime("%Y-%m-%d %H:%M:%S"))
    late.assign(row_id=range(700_001, 700_001 + len(late))).to_sql(
        "learnosity_responses", engine, if_exists="append", index=False
    )


def test_a_reconcile_sends_exactly_the_late_and_the_changed_sessions_once(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, rows: pd.DataFrame
) -> None:
    first, stage = _plan(tmp_path, engine, ledger)
    _complete_everything(ledger, stage, first)
    ledger.finish_run(DAG, "run-1")
    _late_load(engine, rows, "late-scan", NOW - timedelta(days=3))  # before the delivered window
    corrected = next(r for r in ledger.sessions_of_run(DAG, "run-1") if r.status == SessionStatus.COMPLETED)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE learnosity_responses SET response = CASE WHEN question_type IN"
                " ('shorttext', 'plaintext', 'longtext', 'longtextV2', 'formulaV2') THEN 'corrected'"
                " ELSE response END WHERE activity_id = :a AND user_id = :u"
            ),
            {"a": corrected.activity_id, "u": corrected.user_id},
        )

    nightly, _ = _plan(tmp_path, engine, ledger, run_id="nightly", run_end=NOW + timedelta(days=1))
    assert _total(nightly, "sessions_staged") == 0, "the window has passed both"

    end = NOW + timedelta(days=1)
    reconcile, stage = _plan(tmp_path, engine, ledger, run_id="reconcile-1", run_end=end, reconcile=True)
    staged = {
        r.user_id for r in ledger.sessions_of_run(DAG, "reconcile-1") if r.status == SessionStatus.STAGED
    }
    assert staged == {"late-scan", corrected.user_id}
    assert (_total(reconcile, "sessions_staged"), _total(reconcile, "sessions_corrected")) == (2, 1)
    assert _total(reconcile, "sessions_already_delivered") == _total(first, "sessions_staged") - 1
    assert reconcile.reconcile and not reconcile.advances_window
    assert all(c.unaccounted == 0 for c in reconcile.activities.values())
    _complete_everything(ledger, stage, reconcile)

    again, _ = _plan(tmp_path, engine, ledger, run_id="reconcile-2", run_end=end, reconcile=True)
    assert _total(again, "sessions_staged") == 0, "a second reconcile sends nothing"


def test_a_reconcile_holds_back_an_activity_whose_template_cannot_be_fetched_and_sends_the_rest(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, rows: pd.DataFrame
) -> None:
    first, stage = _plan(tmp_path, engine, ledger)
    _complete_everything(ledger, stage, first)
    late = load_late_rows(engine, rows, learners=1, days=3)
    broken = sorted(set(late["activity_id"]))[0]

    def fetch(ref: TemplateRef) -> dict[str, Any]:
        if ref.activity_template_id == broken:
            raise DataApiValidationError(f"no session template for {broken}")
        return Templates()(ref)

    now = datetime.now(UTC)
    summary, _ = _plan(tmp_path, engine, ledger, run_id="reconcile", fetch=fetch, run_end=now, reconcile=True)

    held = summary.activities[broken]
    assert held.held_back is not None and broken in held.held_back
    assert held.rows_held_back == held.rows > 0 and held.sessions_staged == 0
    staged = {
        (r.activity_id, r.user_id)
        for r in ledger.sessions_of_run(DAG, "reconcile")
        if r.status == SessionStatus.STAGED
    }
    assert staged == {
        (a, u) for a, u in zip(late["activity_id"], late["user_id"], strict=True) if a != broken
    }
    assert all(c.unaccounted == 0 for c in summary.activities.values())


def test_a_reconcile_looks_back_only_as_far_as_asked(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, rows: pd.DataFrame
) -> None:
    _late_load(engine, rows, "ancient", NOW - timedelta(days=90))
    default, _ = _plan(tmp_path, engine, ledger, run_id="r-default", reconcile=True)
    assert "ancient" not in {r.user_id for r in ledger.sessions_of_run(DAG, "r-default")}
    assert default.window_start == (NOW - timedelta(days=30)).isoformat()
    longer, _ = _plan(
        tmp_path, engine, ledger, run_id="r-long", reconcile=True, reconcile_since=NOW - timedelta(days=120)
    )
    assert "ancient" in {r.user_id for r in ledger.sessions_of_run(DAG, "r-long")}
    assert longer.window_start == (NOW - timedelta(days=120)).isoformat()


def test_a_loaded_at_column_windows_on_when_rows_reached_the_warehouse(
    tmp_path: Path, ledger: Ledger
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'loads.db'}")
    rows = sample_rows(demo_templates(), learners=4, now=NOW, invalid=False)
    loaded = (NOW - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M:%S")
    seed_warehouse(engine, rows)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE learnosity_responses ADD COLUMN loaded_at TEXT"))
        conn.execute(sa.text("UPDATE learnosity_responses SET loaded_at = :t"), {"t": loaded})
    first, stage = _plan(tmp_path, engine, ledger)
    _complete_everything(ledger, stage, first)
    ledger.finish_run(DAG, "run-1")
    late = rows[rows["user_id"] == rows["user_id"].iloc[0]].assign(
        user_id="late-scan",
        updated_at=(NOW - timedelta(days=5)).strftime("%Y-%m-%d %H:%M:%S"),  # when it was written
        loaded_at=(NOW + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S"),  # when it was loaded
        row_id=range(700_001, 700_001 + int((rows["user_id"] == rows["user_id"].iloc[0]).sum())),
    )
    late.to_sql("learnosity_responses", engine, if_exists="append", index=False)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE learnosity_responses SET loaded_at = 'soon' WHERE row_id = 700001"))

    later, later_stage = _plan(tmp_path, engine, ledger, run_id="run-2", run_end=NOW + timedelta(days=1))
    staged = [r.activity_id for r in ledger.sessions_of_run(DAG, "run-2") if r.status == SessionStatus.STAGED]
    quarantined = {(r["user_id"], r["reason"]) for r in _quarantine(later_stage)}
    assert ("late-scan", "invalid_timestamp") in quarantined, "a loaded_at that does not parse"
    assert "loaded_at: 'soon' is not a timestamp" in {
        r["message"].split("): ")[1] for r in _quarantine(later_stage)
    }
    bad_activity = late["activity_id"].iloc[0]  # row 700001's
    assert sorted(staged) == sorted(set(late["activity_id"]) - {bad_activity}), (
        "the late sessions, but that one"
    )
    assert _total(later, "rows") == len(late), "only the late rows: the others were loaded before"


def test_batches_are_sent_while_planning_and_the_shards_resume_them(
    tmp_path: Path, engine: sa.Engine, ledger: Ledger, client: DataApiClient
) -> None:
    from learnosity_core.delivery.review import ReviewThresholds
    from learnosity_core.delivery.streaming import plan_stream
    from learnosity_core.delivery.submission import submit_shard

    stage = tmp_path / "stage" / "run-1"
    stage.mkdir(parents=True)
    thresholds = ReviewThresholds(approval_above_sessions=1000, approval_above_quarantine_share=1.0)
    with plan_stream(client.settings, ledger, stage, thresholds, requested=False, verify=True) as stream:
        summary = plan_template_run(
            engine,
            Source(),
            Templates(),
            ledger,
            stage,
            PlanRequest(run_id="run-1", batch_size=2, chunksize=20, max_shards=2),
            DAG,
            NOW,
            stream=stream,
        )
    assert stream.closed is None
    staged = _total(summary, "sessions_staged")
    assert stream.sessions_sent == staged  # the plan ends with what it staged sent
    batches = _batches(stage, summary)
    assert sorted(b.batch_id for b in batches) == sorted({b.batch_id for b in batches})  # each once
    went = sum(1 for b in batches if ledger.job_for_batch(b.batch_id))
    assert went == len(stream.offered) == len(batches)
    results = [submit_shard(client, ledger, stage, shard) for shard in summary.shards]
    assert sum(r.batches_resumed for r in results) == went
    assert sum(r.sessions for r in results) == staged
    assert all(ledger.job_for_batch(b.batch_id) for b in batches)  # nothing left unsent
    for shard in summary.shards:  # what was still to send comes first in each shard
        names = read_shard(stage, shard.shard)
        flags = [name in stream.offered for name in names]
        assert flags == sorted(flags)
