"""The Airflow UI in a real headless Chromium: log in, open the DAG, trigger it from the form
with `dry_run` set, see the run succeed, follow the report task's "Run report" link, open the
delivery page from the navigation and look a learner up, press Test on a connection. Screenshots
land in test-artifacts/.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from learnosity_core.delivery.ledger import Ledger, SessionEntry, SessionOutcome, SessionStatus
from learnosity_core.delivery.staging import safe_name
from lrn_testing.airflow_env import REPO
from lrn_testing.cluster import CONSUMER_KEY, CONSUMER_SECRET, Cluster

pytestmark = pytest.mark.cluster
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DAG_ID = "learnosity_template_submission"


LEARNER, SESSION = "ui-learner-1", "ui-session-1"


def _writes(cluster: Cluster) -> int:
    stored = httpx.get(f"{cluster.emulator_url}/_emulator/sessions", timeout=60).json()
    return sum(int(s["writes"]) for s in stored)


@pytest.fixture(scope="module")
def looked_up(cluster: Cluster) -> str:
    """One learner's delivery in the cluster's ledger (PostgreSQL), written through the ledger as a
    run writes it: staged, submitted, completed, verified. The dry run itself records nothing."""
    state = json.loads(cluster.env["AIRFLOW_CONN_LEARNOSITY_STATE"])
    url = f"postgresql://{state['login']}@{state['host']}:{state['port']}/{state['schema']}"
    ledger = Ledger.from_url(url)
    ledger.stage(
        DAG_ID, "manual__ui-seed", "ui-b1", [SessionEntry(SESSION, "h1", "act-1", LEARNER)], data_format="x"
    )
    ledger.record_submission("ui-b1", "ui-job-1")
    ledger.record_job("ui-job-1", "completed", [SessionOutcome(SESSION, SessionStatus.COMPLETED)])
    ledger.record_verification({SESSION: None})
    ledger.engine.dispose()
    return LEARNER


def _log_in(cluster: Cluster, page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.goto(f"{cluster.api_url}/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(cluster.password())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="User")).to_be_visible(timeout=30_000)


@pytest.fixture
def page(cluster: Cluster) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


def test_trigger_a_dry_run_from_the_form_and_see_it_succeed(cluster: Cluster, page, looked_up: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    writes_before = _writes(cluster)
    cluster.wait_for_dag(DAG_ID)
    cluster.api("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
    page.goto(f"{cluster.api_url}/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(cluster.password())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="User")).to_be_visible(timeout=30_000)

    page.goto(f"{cluster.api_url}/dags/{DAG_ID}")
    page.get_by_test_id("trigger-dag-button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Trigger Dag - {DAG_ID}", timeout=30_000)
    sections = ("Run Parameters", "Safety", "What to send", "Window")
    for text in (*sections, "Dry run (send nothing)", "Default off"):
        expect(dialog).to_contain_text(text)
    switch = dialog.locator("input[name=element_dry_run]")
    assert not switch.is_checked()
    dialog.locator("label#switch\\:element_dry_run").click()
    assert switch.is_checked()
    page.screenshot(path=str(ARTIFACTS / "trigger-form.png"), full_page=True)
    dialog.get_by_test_id("trigger-dag-submit").click()

    page.wait_for_url(re.compile(rf".*/dags/{DAG_ID}/runs/.+"), timeout=30_000)
    run_id = page.url.rsplit("/runs/", 1)[1].split("?")[0]
    header = page.get_by_role("heading", name=run_id, exact=True).locator("xpath=..")
    expect(header.get_by_test_id("state-badge")).to_have_text(re.compile("Success"), timeout=240_000)
    page.screenshot(path=str(ARTIFACTS / "run-success.png"), full_page=True)

    run = cluster.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
    assert run["conf"]["dry_run"] is True and run["state"] == "success"
    assert _writes(cluster) == writes_before, "a dry run must send nothing"

    # The report task's "Run report" extra link (its Details tab) opens the report in the api-server.
    page.goto(f"{cluster.api_url}/dags/{DAG_ID}/runs/{run_id}/tasks/report/details")
    page.get_by_text("Run report", exact=True).click()
    page.wait_for_url(f"{cluster.api_url}/learnosity/runs/{DAG_ID}/{quote(run_id, safe='')}/report")
    reports = Path(cluster.env["AIRFLOW_VAR_LEARNOSITY_REPORTS_PATH"].removeprefix("file://"))
    written = (reports / DAG_ID / safe_name(run_id) / "report.html").read_text(encoding="utf-8")
    title = re.search(r"<title>(.*?)</title>", written, re.S)
    assert title and page.title() == html.unescape(title.group(1)), "the page is the report the run wrote"
    page.screenshot(path=str(ARTIFACTS / "run-report.png"), full_page=True)

    # The delivery page from the UI's navigation: this run, marked as a dry run, with its report.
    page.goto(f"{cluster.api_url}/")
    page.locator('a[href="/plugin/learnosity-deliveries"]').click()
    delivery = page.frame_locator("iframe")
    expect(delivery.get_by_role("heading", name="Learnosity deliveries")).to_be_visible(timeout=30_000)
    this_run = delivery.get_by_role("row").filter(has_text=run_id)
    expect(this_run).to_contain_text("(dry run)")
    expect(this_run.get_by_role("link", name="report", exact=True)).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "delivery-page.png"), full_page=True)

    # A learner lookup with a match lists each delivery; one without says so.
    delivery.get_by_label("Learner (user_id)").fill(looked_up)
    delivery.get_by_role("button", name="Look up").click()
    expect(delivery.get_by_role("heading", name=f"Session {SESSION}")).to_be_visible(timeout=30_000)
    expect(delivery.locator("body")).to_contain_text("Now: completed, verified")
    expect(delivery.get_by_role("row").filter(has_text="ui-job-1")).to_have_count(3)
    page.screenshot(path=str(ARTIFACTS / "lookup.png"), full_page=True)
    delivery.get_by_label("Learner (user_id)").fill("nobody-here")
    delivery.get_by_role("button", name="Look up").click()
    expect(delivery.locator("p.no-match")).to_have_text("Nothing recorded for learner nobody-here.")


def test_the_replay_form_triggers_with_its_defaults(cluster: Cluster, page) -> None:  # type: ignore[no-untyped-def]
    """The empty `source` (the configured landing location) does not block the Trigger button."""
    from playwright.sync_api import expect

    replay = "learnosity_failed_submission_replay"
    cluster.wait_for_dag(replay)
    page.goto(f"{cluster.api_url}/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(cluster.password())
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="User")).to_be_visible(timeout=30_000)
    page.goto(f"{cluster.api_url}/dags/{replay}")
    page.get_by_test_id("trigger-dag-button").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Trigger Dag - {replay}", timeout=30_000)
    expect(dialog).to_contain_text("Folder to replay")
    page.screenshot(path=str(ARTIFACTS / "replay-trigger-form.png"), full_page=True)
    expect(dialog.get_by_test_id("trigger-dag-submit")).to_be_enabled()


def test_the_delivery_page_refuses_requests_without_airflows_login(cluster: Cluster, looked_up: str) -> None:
    for path in ("/learnosity/", f"/learnosity/lookup?learner={looked_up}"):
        url = f"{cluster.api_url}{path}"
        anonymous = httpx.get(url, timeout=60)
        forged = httpx.get(url, headers={"Authorization": "Bearer forged"}, timeout=60)
        assert (anonymous.status_code, forged.status_code) == (401, 403)
        assert looked_up not in anonymous.text + forged.text
        signed_in = httpx.get(url, headers={"Authorization": f"Bearer {cluster.token}"}, timeout=60)
        assert signed_in.status_code == 200
    assert f"Session {SESSION}" in signed_in.text


def test_test_button_in_the_connections_list_for_a_right_and_a_wrong_secret(cluster: Cluster, page) -> None:  # type: ignore[no-untyped-def]
    """Test says what is wrong; the secret fixed in the edit dialog, Test succeeds."""
    from playwright.sync_api import expect

    port = int(cluster.emulator_url.rsplit(":", 1)[1])
    for conn_id, secret in (
        ("learnosity_ui_right", CONSUMER_SECRET),
        ("learnosity_ui_wrong", "not-the-secret"),
    ):
        body = {
            "connection_id": conn_id,
            "conn_type": "learnosity",
            "host": cluster.emulator_url,
            "login": CONSUMER_KEY,
            "password": secret,
            "port": port,
        }
        cluster.api("POST", "/api/v2/connections", json=body)
    _log_in(cluster, page)
    page.goto(f"{cluster.api_url}/connections")

    def test_button(conn_id: str):  # type: ignore[no-untyped-def]
        page.mouse.move(0, 0)  # the previous button's tooltip would take the click
        row = page.get_by_role("row").filter(has=page.get_by_text(conn_id, exact=True))
        return row.get_by_role("button", name="Test Connection")

    def tested(expected: str) -> None:
        toast = page.get_by_role("status").filter(has_text=expected)
        expect(toast).to_be_visible(timeout=60_000)

    test_button("learnosity_ui_right").click()
    tested("Test Connection Successful")
    expect(page.get_by_role("status").first).to_contain_text(
        "Learnosity Data API accepted the signed request"
    )
    page.screenshot(path=str(ARTIFACTS / "connection-test-right.png"), full_page=True)
    test_button("learnosity_ui_wrong").click()
    tested("Signatures do not match: check the secret")
    page.wait_for_timeout(500)  # the message has slid in
    page.screenshot(path=str(ARTIFACTS / "connection-test-wrong.png"), full_page=True)

    # Airflow 3.3's edit dialog has no Test button of its own: fix the secret there, save, test.
    page.mouse.move(0, 0)
    page.get_by_role("row").filter(has=page.get_by_text("learnosity_ui_wrong", exact=True)).get_by_role(
        "button", name="Edit Connection"
    ).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("HTTPS port (443; needed by the Test button)", timeout=30_000)
    dialog.get_by_label("Consumer secret").fill(CONSUMER_SECRET)
    page.screenshot(path=str(ARTIFACTS / "connection-edit.png"), full_page=True)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden(timeout=30_000)
    expect(page.get_by_role("status")).to_have_count(0, timeout=60_000)  # earlier answers gone
    test_button("learnosity_ui_wrong").click()
    expect(page.get_by_role("status").filter(has_text="Test Connection Successful")).to_be_visible(
        timeout=60_000
    )
