"""Run alerts: a mail (or any Airflow notifier) that says what a run did and what to look at.

A failed night should reach someone who never opens the Airflow UI: the alert names the step
that failed, the sessions failed and held back, and links the run's report. Everything is read
at notify time from Variables (never at DAG parse time):

- `learnosity_alert_to`: recipients, comma-separated; empty means no alert is sent.
- `learnosity_alert_from`: sender (default: the SMTP connection's `from_email`).
- `learnosity_alert_smtp_conn_id`: SMTP connection (default: Airflow's `[email] email_conn_id`).
- `learnosity_alert_on_success`: `true` to also send an alert when a run succeeds.
- `learnosity_alert_notifier` + `learnosity_alert_notifier_kwargs` (JSON): any `BaseNotifier`
  class by import path instead of mail; its templated fields can use `{{ alert.subject }}`,
  `{{ alert.text }}` and `{{ alert.html }}` (e.g. a Slack notifier's `text`).

An alert that cannot be sent (SMTP down, a wrong setting) is logged as a warning; it never
fails the run nor changes its state.
"""

from __future__ import annotations

import html
import json
import logging
import re
from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseNotifier, Context, Variable, conf
from airflow.sdk.module_loading import import_string
from asgiref.sync import sync_to_async
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel

from learnosity_provider.outcome import RunOutcome, load_outcome

log = logging.getLogger(__name__)


class Alert(BaseModel):
    """One alert's words, rendered once and handed to whichever notifier delivers it."""

    subject: str
    text: str
    html: str


def run_url(dag_id: str, run_id: str) -> str:
    base = conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/")
    return f"{base}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"


def _failed_steps(context: Context, outcome: RunOutcome | None) -> list[str]:
    """The steps that failed: those the report task saw failing, else the task Airflow names."""
    if outcome and outcome.failed_steps:
        return outcome.failed_steps
    ti = context.get("ti")
    return [ti.task_id] if ti is not None else []


def compose_alert(context: Context, *, succeeded: bool) -> Alert:
    """Subject and body of the alert for a finished run, from its saved outcome."""
    dag_id, run_id = context["dag"].dag_id, context["run_id"]
    outcome = load_outcome(dag_id, run_id)
    lines: list[tuple[str, str]] = [("Run", run_id)]
    if succeeded:
        subject = f"[Learnosity] {dag_id} succeeded"
    else:
        steps = _failed_steps(context, outcome)
        reason = context.get("reason") or "task_failure"
        subject = f"[Learnosity] {dag_id} FAILED at {', '.join(steps) or reason}"
        lines.append(("Failed step", ", ".join(steps) or "none (the run itself failed)"))
        lines.append(("Reason", str(reason)))
    if outcome and outcome.report:
        subject += f": {outcome.delivered} delivered, {outcome.failed} failed, {outcome.held_back} held back"
        lines += [
            ("Sessions delivered", str(outcome.delivered)),
            ("Sessions failed", str(outcome.failed)),
            ("Held back (quarantined, invalid or waiting)", str(outcome.held_back)),
            ("Totals", ", ".join(f"{k}={v}" for k, v in outcome.totals.items())),
            ("Report", outcome.report),
        ]
    else:
        problem = outcome.problem if outcome and outcome.problem else "the report task did not write one"
        lines.append(("Report", f"none: {problem}"))
    lines.append(("Airflow", run_url(dag_id, run_id)))
    return _alert(subject, lines)


def compose_overdue_alert(context: dict[str, Any]) -> Alert:
    """The alert for a run still unfinished at its deadline (the DeadlineAlert's simple context)."""
    run = context.get("dag_run") or {}
    dag_id, run_id = str(run.get("dag_id", "?")), str(run.get("run_id", "?"))
    deadline = (context.get("deadline") or {}).get("deadline_time", "?")
    return _alert(
        f"[Learnosity] {dag_id} not finished by {deadline}",
        [
            ("Run", run_id),
            ("State", str(run.get("state", "?"))),
            ("Deadline", str(deadline)),
            (
                "What to check",
                "a job wait (task wait_for_jobs) gives up after LEARNOSITY_JOB_WAIT_MIN and the run "
                "after LEARNOSITY_RUN_TIMEOUT_MIN; until then the next scheduled run waits",
            ),
            ("Airflow", run_url(dag_id, run_id)),
        ],
    )


def _alert(subject: str, lines: list[tuple[str, str]]) -> Alert:
    text = "\n".join(f"{name}: {value}" for name, value in lines)
    rows = "".join(
        f"<tr><th align='left'>{html.escape(name)}</th><td>{_html_value(name, value)}</td></tr>"
        for name, value in lines
    )
    return Alert(subject=subject, text=text, html=f"<h3>{html.escape(subject)}</h3><table>{rows}</table>")


def _html_value(name: str, value: str) -> str:
    if name in {"Report", "Airflow"} and re.fullmatch(r"[a-z][a-z0-9+.-]*://\S+", value):
        return f"<a href='{html.escape(value, quote=True)}'>{html.escape(value)}</a>"
    return html.escape(value)


def _variable(name: str, default: str = "") -> str:
    value = Variable.get(name, default=default)
    return str(value).strip() if value is not None else default


def deliver(alert: Alert, context: dict[str, Any]) -> None:
    """Hand the alert to the configured notifier (its fields can use `{{ alert.* }}`)."""
    notifier = delivery()
    if notifier is None:
        log.info("Alert not sent (set Variable learnosity_alert_to): %s", alert.subject)
        return
    with_alert: Any = {**context, "alert": alert.model_dump()}
    send(notifier, with_alert)
    log.info("Alert sent: %s", alert.subject)


def _not_sent(exc: Exception) -> None:
    log.warning("Alert could not be sent (%s: %s); the run's result is unchanged", type(exc).__name__, exc)


def delivery() -> BaseNotifier | None:
    """The notifier that delivers alerts as configured, or None when alerts are off."""
    path = _variable("learnosity_alert_notifier")
    if path:
        kwargs = json.loads(_variable("learnosity_alert_notifier_kwargs", "{}") or "{}")
        notifier_class = import_string(path)
        notifier: BaseNotifier = notifier_class(**kwargs)
        return notifier
    recipients = [r.strip() for r in _variable("learnosity_alert_to").split(",") if r.strip()]
    if not recipients:
        return None
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(
        to=recipients,
        from_email=_variable("learnosity_alert_from") or None,
        smtp_conn_id=_variable("learnosity_alert_smtp_conn_id") or None,
        subject="{{ alert.subject }}",
        html_content="{{ alert.html }}",
    )


def send(notifier: BaseNotifier, context: Context) -> None:
    """Render the notifier's fields and send. Like `BaseNotifier.__call__`, but it also works when
    the context's DAG is the scheduler's serialized one (as under `dag.test()`), which has no
    template environment."""
    dag = context.get("dag")
    get_env = getattr(dag, "get_template_env", None)
    env = get_env() if get_env is not None else SandboxedEnvironment()
    notifier.render_template_fields(context, jinja_env=env)
    notifier.notify(context)


class LearnosityRunNotifier(BaseNotifier):
    """DAG `on_failure_callback` / `on_success_callback`: compose the run's alert and hand it to
    the configured notifier. Sending is best effort: every error becomes a warning.

    :param succeeded: True for the success callback (sent only when `learnosity_alert_on_success`).
    """

    def __init__(self, *, succeeded: bool = False) -> None:
        super().__init__()
        self.succeeded = succeeded

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Nothing to render here (no template fields); the delivering notifier renders its own."""

    def notify(self, context: Context) -> None:
        try:
            if self.succeeded and _variable("learnosity_alert_on_success").lower() != "true":
                return
            deliver(compose_alert(context, succeeded=self.succeeded), dict(context))
        except Exception as exc:
            _not_sent(exc)


async def run_overdue(context: dict[str, Any] | None = None, **_: Any) -> None:
    """`DeadlineAlert` callback, run in the triggerer: alert that a run is not finished in time.
    Variables and connections are read in a worker thread, never on the triggerer's event loop."""
    await sync_to_async(_send_overdue)(context or {})


def _send_overdue(context: dict[str, Any]) -> None:
    try:
        deliver(compose_overdue_alert(context), {"deadline": context.get("deadline")})
    except Exception as exc:
        _not_sent(exc)
