"""`LearnositySubmitShardOperator.execute`: one shard's staged batches posted to the emulator, once."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import redis
from airflow.sdk.exceptions import AirflowFailException

from learnosity_core.dataapi.pacing import EndpointClass, redis_key
from learnosity_core.failed_submission.blob import encode_failed_session
from learnosity_devtools.emulator.seed import demo_templates
from learnosity_devtools.sample_data import sample_blob_session
from learnosity_provider.hooks import LearnosityHook
from learnosity_provider.operators.failed_submission import (
    LearnosityReplayPlanOperator,
    LearnosityReplayReportOperator,
)
from learnosity_provider.operators.jobs import LearnosityRecordJobsOperator
from learnosity_provider.operators.submit import LearnositySubmitShardOperator
from learnosity_provider.operators.template_submission import LearnosityTemplatePlanOperator
from lrn_testing.services import REDIS_HOST, REDIS_PORT

DAG_ID = "learnosity_template_submission"

TEMPLATE_DAG = "learnosity_template_submission"
REPLAY_DAG = "learnosity_failed_submission_replay"
RUN = "manual__2026-12-01T02:00:00+00:00"


def _template_shards(deployment: Any, **params: Any) -> list[dict[str, Any]]:
    operator = LearnosityTemplatePlanOperator(task_id="plan", **params)
    shards: list[dict[str, Any]] = operator.execute(deployment.context(TEMPLATE_DAG, RUN))
    return shards


def _jobs_created(deployment: Any) -> int:
    return sum(deployment.emulator.stats()["jobs"].values())


def _submit(shard: dict[str, Any], **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = LearnositySubmitShardOperator(task_id="submit", shard=shard, **params).execute(
        {}
    )
    return result


def test_a_shard_posts_each_of_its_batches_and_returns_their_job_references(deployment: Any) -> None:
    shards = _template_shards(deployment, batch_size=4, max_shards=3)
    first = shards[0]

    result = _submit(first)

    assert result["shard"] == 1
    assert result["batches_posted"] == first["batches"] == len(result["job_references"]) > 1
    assert result["batches_resumed"] == 0
    assert result["sessions"] == first["sessions"]
    assert len(set(result["job_references"])) == len(result["job_references"])
    assert _jobs_created(deployment) == first["batches"], "only this shard's batches were posted"
    rows = deployment.sessions_of_run(DAG_ID, RUN)
    submitted = [r for r in rows if r.status == "submitted"]
    assert len(submitted) == first["sessions"]
    assert {r.job_reference for r in submitted} == set(result["job_references"])
    assert sum(1 for r in rows if r.status == "staged") == sum(s["sessions"] for s in shards[1:])


def test_a_retried_submit_resumes_its_batches_instead_of_posting_them_again(deployment: Any) -> None:
    (shard,) = _template_shards(deployment, max_shards=1)
    first = _submit(shard)
    deployment.wait_for_jobs()

    retried = _submit(shard)

    assert retried["batches_posted"] == 0
    assert retried["batches_resumed"] == shard["batches"] == first["batches_posted"]
    assert sorted(retried["job_references"]) == sorted(first["job_references"])
    assert _jobs_created(deployment) == shard["batches"]
    assert all(w == 1 for w in deployment.writes().values())


def test_every_shard_together_stores_every_staged_session(deployment: Any) -> None:
    shards = _template_shards(deployment, batch_size=7, max_shards=4)
    results = [_submit(shard, concurrency=2) for shard in shards]
    deployment.wait_for_jobs()

    assert [r["shard"] for r in results] == [s["shard"] for s in shards]
    assert sum(r["sessions"] for r in results) == len(deployment.valid_sessions())
    assert sorted(deployment.stored_keys()) == sorted(deployment.valid_sessions())


@pytest.mark.parametrize(
    ("params", "name"),
    [
        pytest.param({"ignore_response_revisions": "sometimes"}, "ignore_response_revisions", id="ignore"),
        pytest.param({"drop": "stage"}, "stage", id="shard-without-stage"),
        pytest.param({"batches": "many"}, "batches", id="shard-batches-not-a-number"),
    ],
)
def test_a_bad_field_fails_naming_it_before_anything_is_posted(
    deployment: Any, params: dict[str, Any], name: str
) -> None:
    (shard,) = _template_shards(deployment, max_shards=1)
    ignore = params.pop("ignore_response_revisions", False)
    if "drop" in params:
        shard.pop(params.pop("drop"))
    shard.update(params)

    with pytest.raises(AirflowFailException, match=rf"^param {name}: "):
        _submit(shard, ignore_response_revisions=ignore)
    assert _jobs_created(deployment) == 0
    assert {r.status for r in deployment.sessions_of_run(DAG_ID, RUN)} == {"staged", "quarantined"}


def _blob(template: dict[str, Any], activity_id: str, revision: int, seed: int) -> str:
    session = sample_blob_session(
        template, activity_id, "online-0001", revision, f"2026-11-21T10:0{revision}:00", seed=seed
    )
    return encode_failed_session(session)


def _replay(deployment: Any, run_id: str, ignore: Any) -> None:
    context = deployment.context(REPLAY_DAG, run_id)
    for shard in LearnosityReplayPlanOperator(task_id="plan").execute(context):
        _submit(shard, ignore_response_revisions=ignore)
    deployment.wait_for_jobs()
    LearnosityRecordJobsOperator(task_id="record_jobs").execute(context)
    LearnosityReplayReportOperator(task_id="report").execute(context)


@pytest.mark.parametrize(
    ("ignore", "kept_revision"),
    [("false", 2), (False, 2), ("true", 1), (True, 1)],
)
def test_ignore_response_revisions_reaches_the_data_api(
    deployment: Any, ignore: Any, kept_revision: int
) -> None:
    activity_id, template = next(iter(demo_templates().items()))
    landing: Path = deployment.landing
    landing.mkdir(parents=True)
    (landing / "newer.txt").write_text(_blob(template, activity_id, revision=2, seed=0), encoding="ascii")
    _replay(deployment, "manual__newer", ignore=False)
    (landing / "older.txt").write_text(_blob(template, activity_id, revision=1, seed=1), encoding="ascii")

    _replay(deployment, "manual__older", ignore=ignore)

    (stored,) = deployment.stored()
    assert stored["writes"] == 2, "the older copy was sent"
    assert {r["revision"] for r in stored["responses"].values()} == {kept_revision}


def test_a_wrong_secret_fails_the_shard_at_once_naming_the_consumer_secret(
    deployment: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shard = _template_shards(deployment)[0]
    good = json.loads(os.environ["AIRFLOW_CONN_LEARNOSITY_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_LEARNOSITY_DEFAULT", json.dumps({**good, "password": "rotated-away"}))
    with pytest.raises(AirflowFailException, match=r"consumer secret \(password\) of connection") as failure:
        _submit(shard)
    assert "rotated-away" not in str(failure.value)
    assert _jobs_created(deployment) == 0


def test_the_plan_cuts_one_shard_per_pool_slot_by_default(
    deployment: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few long submitters, each streaming its batches, rather than one task per handful."""
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_PARALLEL_SHARDS", "2")
    shards = _template_shards(deployment, batch_size=3)
    assert len(shards) == 2
    assert sum(s["batches"] for s in shards) > 2


def test_with_a_shared_budget_every_request_start_is_booked_in_redis(
    deployment: Any, monkeypatch: pytest.MonkeyPatch, redis_available: None
) -> None:
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
    # A 2-minute window keeps every booking of the run in the sorted set to be counted.
    connection = json.loads(os.environ["AIRFLOW_CONN_LEARNOSITY_DEFAULT"])
    monkeypatch.setenv(
        "AIRFLOW_CONN_LEARNOSITY_DEFAULT",
        json.dumps({**connection, "extra": {"rate_limiter_url": url, "window_s": 120}}),
    )
    settings = LearnosityHook().get_settings()
    key = redis_key(settings.base_url, settings.consumer_key, EndpointClass.SET)
    bookings = redis.Redis.from_url(url)
    bookings.delete(key)
    (shard,) = _template_shards(deployment, batch_size=5, max_shards=1)
    try:
        result = _submit(shard)
        assert 1 < result["batches_posted"] == shard["batches"] <= 50
        assert bookings.zcard(key) == shard["batches"], "one booking per SET request, in the shared window"
    finally:
        bookings.delete(key)
