"""Incremental extraction selects whole changed sessions, ordered, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from learnosity_core.delivery.warehouse import UNDECODABLE, read_bad_bytes_as_text
from learnosity_core.template_submission.extract import (
    Source,
    SourceError,
    Window,
    changed_activities,
    count_window,
    counted_rows,
    iter_rows,
)

ROWS = [
    # activity, user, question, response, updated_at
    ("act-b", "u2", "q1", "x", "2026-11-19 10:00:00"),
    ("act-a", "u1", "q1", "a", "2026-11-19 10:00:00"),
    ("act-a", "u1", "q2", "b", "2026-11-21 09:00:00"),  # changed: pulls in all of (act-a, u1)
    ("act-a", "u3", "q1", "c", "2026-11-19 10:00:00"),
    ("act-b", "u4", "q1", "d", "2026-11-21 23:59:59"),  # changed
]
WINDOW = Window(start=datetime(2026, 11, 21, tzinfo=UTC), end=datetime(2026, 11, 22, tzinfo=UTC))


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path) -> sa.Engine:
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}")
        ts_type = "TEXT"
    else:
        engine = sa.create_engine(request.getfixturevalue("postgres_url"))
        ts_type = "TIMESTAMP"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE learnosity_responses (user_id TEXT, activity_id TEXT, question_id TEXT,"
                f" response TEXT, updated_at {ts_type})"
            )
        )
        conn.execute(
            sa.text("INSERT INTO learnosity_responses VALUES (:u, :a, :q, :r, :t)"),
            [{"a": a, "u": u, "q": q, "r": r, "t": t} for a, u, q, r, t in ROWS],
        )
    return engine


def _keys(frames: list[pd.DataFrame]) -> list[tuple[str, str, str]]:
    df = pd.concat(frames)
    return list(zip(df["activity_id"], df["user_id"], df["question_id"], strict=True))


def test_a_changed_row_brings_its_whole_session_in_learner_order(engine: sa.Engine) -> None:
    frames = list(iter_rows(engine, Source(), WINDOW, chunksize=2))
    assert _keys(frames) in (
        [("act-a", "u1", "q1"), ("act-a", "u1", "q2"), ("act-b", "u4", "q1")],
        [("act-a", "u1", "q2"), ("act-a", "u1", "q1"), ("act-b", "u4", "q1")],
    )
    assert max(len(f) for f in frames) <= 2


def test_no_window_reads_everything_and_activity_filter_narrows(engine: sa.Engine) -> None:
    assert len(pd.concat(iter_rows(engine, Source(), Window()))) == len(ROWS)
    only_b = pd.concat(iter_rows(engine, Source(), Window(), activity_ids=["act-b"]))
    assert set(only_b["activity_id"]) == {"act-b"}
    assert changed_activities(engine, Source(), WINDOW) == ["act-a", "act-b"]
    assert changed_activities(engine, Source(), WINDOW, ["act-b"]) == ["act-b"]


def test_a_query_source_works_like_a_table(engine: sa.Engine) -> None:
    source = Source(query="SELECT * FROM learnosity_responses WHERE user_id <> 'u4';")
    assert changed_activities(engine, source, WINDOW) == ["act-a"]


def test_a_source_without_the_contract_columns_is_refused_by_name(engine: sa.Engine) -> None:
    with pytest.raises(SourceError, match=r"lacks required column\(s\): \['question_id'\]"):
        list(
            iter_rows(
                engine,
                Source(query="SELECT user_id, activity_id, response FROM learnosity_responses"),
                Window(),
            )
        )


def test_the_count_matches_the_rows_and_sessions_iter_rows_yields(engine: sa.Engine) -> None:
    for window, sessions in ((WINDOW, 2), (Window(), 4)):
        rows = pd.concat(iter_rows(engine, Source(), window))
        counted = count_window(engine, Source(), window)
        assert counted.rows == len(rows)
        assert counted.sessions == sessions == len(rows.groupby(["activity_id", "user_id"]))


def test_counted_rows_gives_the_count_and_the_same_chunks_as_apart(engine: sa.Engine) -> None:
    empty = Window(start=datetime(2020, 1, 1, tzinfo=UTC), end=datetime(2020, 1, 2, tzinfo=UTC))
    for window in (WINDOW, Window(), empty):
        counted, chunks = counted_rows(engine, Source(), window, chunksize=2)
        frames = list(chunks)
        assert counted == count_window(engine, Source(), window)
        assert [f.to_dict("records") for f in frames] == [
            f.to_dict("records") for f in iter_rows(engine, Source(), window, chunksize=2)
        ]
    assert counted == (0, 0) and all(f.empty for f in frames)


def test_a_row_without_updated_at_is_read_by_every_window(engine: sa.Engine) -> None:
    """Its session is in scope of every run; the ledger's content hash stops a second send."""
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO learnosity_responses VALUES ('u9', 'act-c', 'q1', 'late scan', NULL)")
        )
    earlier = Window(start=datetime(2020, 1, 1, tzinfo=UTC), end=datetime(2020, 1, 2, tzinfo=UTC))
    for window in (WINDOW, earlier, Window(start=WINDOW.start), Window(end=WINDOW.end)):
        keys = _keys(
            [
                *iter_rows(engine, Source(), window),
                pd.DataFrame(columns=["activity_id", "user_id", "question_id"]),
            ]
        )
        assert ("act-c", "u9", "q1") in keys, window
        assert "act-c" in changed_activities(engine, Source(), window)
        assert count_window(engine, Source(), window).rows == len(keys)


def test_rows_without_an_activity_or_learner_are_read_after_the_sessions(engine: sa.Engine) -> None:
    """They belong to no session, so no join finds them; they are read so they can be quarantined."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO learnosity_responses VALUES"
                " (NULL, 'act-a', 'q1', 'no learner', '2026-11-21 10:00:00'),"
                " ('u5', NULL, 'q1', 'no activity', '2026-11-21 10:00:00'),"
                " (NULL, 'act-a', 'q9', 'out of window', '2026-11-19 10:00:00'),"
                " ('   ', 'act-a', 'q1', 'blank learner', '2026-11-21 10:00:00')"
            )
        )
    frames = list(iter_rows(engine, Source(), WINDOW, chunksize=2))
    df = pd.concat(frames)
    assert list(df["response"].iloc[-2:].sort_values()) == ["no activity", "no learner"]
    assert "blank learner" in set(df["response"]) and "out of window" not in set(df["response"])
    assert count_window(engine, Source(), WINDOW) == (6, 3)  # the blank learner is a key too
    assert changed_activities(engine, Source(), WINDOW) == ["act-a", "act-b"]


def test_an_unreadable_timestamp_is_in_every_sqlite_window(tmp_path) -> None:
    """SQLite keeps timestamps as text: a value that does not parse must not be filtered out
    silently by a text comparison; the transform quarantines it as invalid_timestamp."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}")
    pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "activity_id": ["act-a", "act-a"],
            "question_id": ["q1", "q1"],
            "response": ["typo", "fine"],
            "updated_at": ["yesterday-ish", "2026-11-19 10:00:00"],
        }
    ).to_sql("learnosity_responses", engine, index=False)
    df = pd.concat(iter_rows(engine, Source(), WINDOW))
    assert list(df["response"]) == ["typo"]
    assert count_window(engine, Source(), WINDOW).rows == 1


def test_one_undecodable_value_reads_as_a_marked_value_not_a_failed_query(tmp_path) -> None:
    engine = read_bad_bytes_as_text(sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}"))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE learnosity_responses (user_id TEXT, activity_id TEXT, question_id TEXT,"
                " response TEXT)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO learnosity_responses VALUES ('u1', 'act-a', 'q1', CAST(x'6f6bff21' AS TEXT)),"
                " ('u2', CAST(x'61ff' AS TEXT), 'q1', 'fine')"
            )
        )
    df = pd.concat(iter_rows(engine, Source(), Window()))
    assert sorted(df["response"]) == ["fine", f"ok{UNDECODABLE}!"]
    assert changed_activities(engine, Source(), Window()) == ["act-a"], "no template is fetched for it"
