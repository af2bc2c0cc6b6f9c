"""Running in production: alerts, retries by error kind, deadlines, Assets, object storage.

Real parts only: `dag.test()` runs against the emulator over loopback HTTP, mail goes to a real
SMTP server on loopback (aiosmtpd) and is parsed as a mail client would.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from airflow.utils.state import DagRunState

from learnosity_core.dataapi import DataApiClient, DataApiSettings
from learnosity_devtools.emulator import Faults
from learnosity_provider.assets import TEMPLATE_SESSIONS
from lrn_testing.airflow_env import REPO
from lrn_testing.smtp import Mailbox, body, free_port, smtp_connection, smtp_server

DAG_ID = "learnosity_template_submission"
RECIPIENT = "data-team@district.example"
EMULATOR_KEY, EMULATOR_SECRET = "emulatordemokey1", "emulator-demo-secret"


def _alerts_to(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(port))
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_ALERT_TO", RECIPIENT)
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_ALERT_FROM", "airflow@district.example")


@pytest.fixture
def mailbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """A real SMTP server on loopback, and alerts configured to send to it."""
    with smtp_server() as (box, port):
        _alerts_to(monkeypatch, port)
        yield box


def test_a_failed_run_sends_one_mail_naming_the_step_the_counts_and_the_report(
    sqlite_pipeline: Any, run_dag: Callable[..., Any], mailbox: Mailbox
) -> None:
    sqlite_pipeline.emulator.set_faults(Faults(halt_jobs=1))
    run = run_dag(DAG_ID, batch_size=7)
    assert run.state == DagRunState.FAILED

    assert len(mailbox.mails) == 1, "one mail per failed run"
    (recipients, mail) = mailbox.mails[0]
    assert recipients == [RECIPIENT]
    assert DAG_ID in mail["Subject"] and "FAILED at report" in mail["Subject"]
    text = body(mail)
    (report,) = sqlite_pipeline.reports.rglob("report.html")
    failed = [
        r for r in sqlite_pipeline.ledger().sessions_of_run(run.dag_id, run.run_id) if r.status == "failed"
    ]
    assert failed, "the halted job failed its sessions"
    assert f"Sessions failed</th><td>{len(failed)}<" in text
    assert "Held back (quarantined, invalid or waiting)</th><td>" in text
    assert report.as_uri() in text, "the mail links the report"
    assert f"/dags/{DAG_ID}/runs/" in text


def test_a_plan_that_fails_is_named_as_the_failed_step(
    sqlite_pipeline: Any, run_dag: Callable[..., Any], mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_SOURCE_TABLE", "responses; drop table x")
    run = run_dag(DAG_ID)
    assert run.state == DagRunState.FAILED
    ((_, mail),) = mailbox.mails
    assert "FAILED at plan" in mail["Subject"]
    text = body(mail)
    assert "Report</th><td>none: no plan.json in " in text, "says why no report exists"
    assert "the plan task did not finish" in text


def test_a_good_run_stays_green_and_emits_its_asset_when_alerts_cannot_be_sent(
    sqlite_pipeline: Any,
    run_dag: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _alerts_to(monkeypatch, free_port())  # nothing listens there: SMTP is down
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_ALERT_ON_SUCCESS", "true")
    with caplog.at_level(logging.WARNING, logger="learnosity_provider.notifications"):
        run = run_dag(DAG_ID)
    assert run.state == DagRunState.SUCCESS
    sqlite_pipeline.assert_exactly_once()
    warnings = [r.getMessage() for r in caplog.records if r.name == "learnosity_provider.notifications"]
    assert any("Alert could not be sent" in w and "result is unchanged" in w for w in warnings), warnings

    (event,) = _asset_events(TEMPLATE_SESSIONS.uri, run.run_id)
    completed = [
        r for r in sqlite_pipeline.ledger().sessions_of_run(run.dag_id, run.run_id) if r.status == "completed"
    ]
    assert event["delivered"] == len(completed) == len(sqlite_pipeline.valid_sessions())
    assert event["failed"] == 0 and event["quarantined"] > 0
    (report,) = sqlite_pipeline.reports.rglob("report.html")
    assert event["report"] == report.as_uri()


def _asset_events(uri: str, run_id: str) -> list[dict[str, Any]]:
    """The extras of the Asset events a run emitted, read from the metadata database."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri, AssetEvent.source_run_id == run_id)
        )
        return [dict(extra) for extra in session.scalars(query)]


def test_a_wrong_secret_fails_the_first_request_with_no_retry(
    sqlite_pipeline: Any, run_dag: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = json.loads(os.environ["AIRFLOW_CONN_LEARNOSITY_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_LEARNOSITY_DEFAULT", json.dumps({**conn, "password": "rotated-away"}))
    started = time.monotonic()
    run = run_dag(DAG_ID)
    assert run.state == DagRunState.FAILED
    plan = run.get_task_instance("plan")
    assert plan.state == "failed" and plan.try_number == 1, "failed on its first try, no retry"
    stats = sqlite_pipeline.emulator.stats()
    assert stats["total"] == 1 and set(stats["statuses"]) <= {"401", "403"}, "one refused request, no other"
    assert sqlite_pipeline.stored() == []
    assert time.monotonic() - started < 60, "no retry delay was waited"


def test_a_job_kept_queued_ends_the_wait_at_the_configured_limit_naming_it(
    sqlite_pipeline: Any,
    run_dag: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LEARNOSITY_JOB_WAIT_MIN", "0.1")  # 6 s
    sqlite_pipeline.emulator.set_faults(Faults(hold_jobs=1))
    run = run_dag(DAG_ID, batch_size=7)
    assert run.state == DagRunState.FAILED, "the run says the held job's sessions were not delivered"

    wait = run.get_task_instance("wait_for_jobs")
    assert wait.state == "success", "the wait ended itself at its limit"
    waited = (wait.end_date - wait.start_date).total_seconds()
    assert 6 <= waited < 45, waited
    failed = [
        r for r in sqlite_pipeline.ledger().sessions_of_run(run.dag_id, run.run_id) if r.status == "failed"
    ]
    (held,) = {r.job_reference for r in failed}
    assert held and {r.error for r in failed} == {f"job {held} still queued when the wait timed out"}
    settings = DataApiSettings(
        base_url=sqlite_pipeline.emulator.url, consumer_key=EMULATOR_KEY, consumer_secret=EMULATOR_SECRET
    )
    with DataApiClient(settings) as client:
        assert [j.status for j in client.get_jobs([held])] == ["queued"], "the job is still open"
    completed = [
        r for r in sqlite_pipeline.ledger().sessions_of_run(run.dag_id, run.run_id) if r.status == "completed"
    ]
    assert completed, "every other job's sessions were recorded"
    task_log = capfd.readouterr().out
    assert (
        f"Job wait limit reached after 0.1 min (LEARNOSITY_JOB_WAIT_MIN): 1 jobs still open: {held}."
        in task_log
    )


def test_every_pipeline_task_has_a_timeout_a_retry_policy_and_the_run_a_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import inspect

    from airflow.models import DagBag
    from airflow.sdk.module_loading import import_string

    from learnosity_provider.retries import DataApiRetryPolicy

    monkeypatch.setenv("LEARNOSITY_TEMPLATE_DEADLINE_MIN", "300")
    monkeypatch.delenv("LEARNOSITY_REPLAY_DEADLINE_MIN")  # the default, 120
    monkeypatch.setenv("LEARNOSITY_JOB_WAIT_MIN", "90")
    bag = DagBag(dag_folder=str(REPO / "dags"))
    for dag_id in (DAG_ID, "learnosity_failed_submission_replay"):
        dag = bag.dags[dag_id]
        assert dag.dagrun_timeout is not None and dag.dagrun_timeout <= timedelta(hours=20)
        (deadline,) = dag.deadline
        assert inspect.iscoroutinefunction(import_string(deadline.callback.path))
        for task in dag.tasks:
            assert isinstance(task.retry_policy, DataApiRetryPolicy), task.task_id
            assert task.execution_timeout is not None, task.task_id
    template = bag.dags[DAG_ID]
    assert template.deadline[0].interval == timedelta(minutes=300)
    wait = template.get_task("wait_for_jobs")
    assert wait.wait_timeout == 90 * 60 and wait.execution_timeout > timedelta(minutes=90)


@pytest.fixture
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A real S3 API on loopback (moto's server), a bucket, and connection `s3_learnosity` whose
    extra holds the endpoint, as a deployment on MinIO or another S3-compatible store has it."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    keys = {"aws_access_key_id": "test-key", "aws_secret_access_key": "test-secret"}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
    client.create_bucket(Bucket="learnosity")
    # Versions keep what was written even after a green run removes its stage.
    client.put_bucket_versioning(Bucket="learnosity", VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setenv(
        "AIRFLOW_CONN_S3_LEARNOSITY",
        json.dumps(
            {
                "conn_type": "aws",
                "login": keys["aws_access_key_id"],
                "password": keys["aws_secret_access_key"],
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    yield client
    server.stop()


def test_the_pipeline_stages_and_reports_on_s3(
    sqlite_pipeline: Any, run_dag: Callable[..., Any], s3_bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_STAGE_PATH", "s3://s3_learnosity@learnosity/stage")
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_REPORTS_PATH", "s3://s3_learnosity@learnosity/reports")
    run = run_dag(DAG_ID, batch_size=10)
    assert run.state == DagRunState.SUCCESS
    sqlite_pipeline.assert_exactly_once()

    written = [v["Key"] for v in s3_bucket.list_object_versions(Bucket="learnosity")["Versions"]]
    assert any(k.startswith(f"stage/{DAG_ID}/") and k.endswith(".json") for k in written), written
    keys = [o["Key"] for o in s3_bucket.list_objects_v2(Bucket="learnosity")["Contents"]]
    (report_key,) = [k for k in keys if k.startswith(f"reports/{DAG_ID}/") and k.endswith("report.html")]
    html = s3_bucket.get_object(Bucket="learnosity", Key=report_key)["Body"].read().decode()
    assert "<svg" in html
    (event,) = _asset_events(TEMPLATE_SESSIONS.uri, run.run_id)
    assert event["report"] == f"s3://s3_learnosity@learnosity/{report_key}"
    assert not list(sqlite_pipeline.stage.rglob("*")), "nothing was staged on the local disk"
