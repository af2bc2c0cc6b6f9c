"""Run alerts through any configured notifier, to a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import DAG

from learnosity_core.reporting.report import PublishedReport
from learnosity_provider.notifications import LearnosityRunNotifier, compose_alert, run_overdue
from learnosity_provider.outcome import load_outcome, save_outcome
from lrn_testing.smtp import body, free_port, smtp_connection, smtp_server

DAG_ID = "learnosity_template_submission"
RUN_ID = "scheduled__2026-03-01T02:00:00+00:00"


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_REPORTS_PATH", (tmp_path / "reports").as_uri())
    return tmp_path / "reports"


def _context(task_id: str = "submit") -> dict[str, Any]:
    return {
        "dag": DAG(dag_id=DAG_ID, schedule=None, render_template_as_native_obj=True),
        "run_id": RUN_ID,
        "ti": SimpleNamespace(task_id=task_id),
        "reason": "task_failure",
    }


def _published() -> PublishedReport:
    totals = {"rows": 40, "rows_held_back": 3, "rows_quarantined": 5, "completed": 30, "failed": 2}
    return PublishedReport(report="s3://reports/run/report.html", totals=totals, failed=2)


def test_the_outcome_round_trips_and_counts_what_was_held_back(reports: Path) -> None:
    saved = save_outcome({"dag": SimpleNamespace(dag_id=DAG_ID), "run_id": RUN_ID}, _published())
    assert load_outcome(DAG_ID, RUN_ID) == saved
    assert (saved.delivered, saved.failed, saved.held_back) == (30, 2, 8)
    assert saved.asset_extra() == {
        "run_id": RUN_ID,
        "delivered": 30,
        "failed": 2,
        "quarantined": 8,
        "report": "s3://reports/run/report.html",
    }


def test_a_run_without_a_report_says_so_and_names_the_failed_task(reports: Path) -> None:
    alert = compose_alert(_context("plan"), succeeded=False)
    assert alert.subject == f"[Learnosity] {DAG_ID} FAILED at plan"
    assert "Report: none: the report task did not write one" in alert.text
    assert "<a href=" in alert.html and "/dags/learnosity_template_submission/runs/" in alert.html


def test_any_notifier_class_can_deliver_the_alert_by_configuration(
    reports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save_outcome({"dag": SimpleNamespace(dag_id=DAG_ID), "run_id": RUN_ID}, _published())
    with smtp_server() as (mailbox, port):
        monkeypatch.setenv("AIRFLOW_CONN_ALERTS_SMTP", smtp_connection(port))
        monkeypatch.setenv(
            "AIRFLOW_VAR_LEARNOSITY_ALERT_NOTIFIER", "airflow.providers.smtp.notifications.smtp.SmtpNotifier"
        )
        kwargs = {
            "to": "ops@district.example",
            "from_email": "airflow@district.example",
            "smtp_conn_id": "alerts_smtp",
            "subject": "night: {{ alert.subject }}",
            "html_content": "<pre>{{ alert.text }}</pre>",
        }
        monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_ALERT_NOTIFIER_KWARGS", json.dumps(kwargs))
        LearnosityRunNotifier().notify(_context())
    ((recipients, mail),) = mailbox.mails
    assert recipients == ["ops@district.example"]
    assert (
        mail["Subject"]
        == f"night: [Learnosity] {DAG_ID} FAILED at submit: 30 delivered, 2 failed, 8 held back"
    )
    assert "Report: s3://reports/run/report.html" in body(mail)


def test_success_alerts_are_off_unless_asked_for(reports: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with smtp_server() as (mailbox, port):
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(port))
        monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_ALERT_TO", "ops@district.example")
        monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_ALERT_FROM", "airflow@district.example")
        LearnosityRunNotifier(succeeded=True).notify(_context())
        assert mailbox.mails == []
        monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_ALERT_ON_SUCCESS", "true")
        LearnosityRunNotifier(succeeded=True).notify(_context())
    ((_, mail),) = mailbox.mails
    assert mail["Subject"] == f"[Learnosity] {DAG_ID} succeeded"


def test_a_broken_notifier_setting_is_a_warning_not_a_failure(
    reports: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_ALERT_NOTIFIER", "no_such_package.Notifier")
    LearnosityRunNotifier().notify(_context())
    assert any("Alert could not be sent" in r.getMessage() for r in caplog.records)


def test_an_overdue_run_is_mailed_from_the_deadline_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the triggerer awaits when the DeadlineAlert fires, with the context Airflow gives it."""
    context = {
        "dag_run": {"dag_id": DAG_ID, "run_id": RUN_ID, "state": "running"},
        "deadline": {"id": "d1", "deadline_time": "2026-03-01T06:00:00+00:00"},
    }
    with smtp_server() as (mailbox, port):
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(port))
        monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_ALERT_TO", "ops@district.example")
        monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_ALERT_FROM", "airflow@district.example")
        asyncio.run(run_overdue(context=context))
    ((_, mail),) = mailbox.mails
    assert mail["Subject"] == f"[Learnosity] {DAG_ID} not finished by 2026-03-01T06:00:00+00:00"
    text = body(mail)
    assert "State</th><td>running" in text and "LEARNOSITY_JOB_WAIT_MIN" in text


def test_an_overdue_alert_that_cannot_be_sent_is_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", smtp_connection(free_port()))  # nobody listens
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_ALERT_TO", "ops@district.example")
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_ALERT_FROM", "airflow@district.example")
    asyncio.run(run_overdue(context={"dag_run": {"dag_id": DAG_ID, "run_id": RUN_ID}}))
    assert any("Alert could not be sent" in r.getMessage() for r in caplog.records)
