"""The Airflow UI in a real headless Chromium: log in, open the DAG, trigger it from the form
with `dry_run` set, and see the run succeed. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import httpx
import pytest

from lrn_testing.airflow_env import REPO
from lrn_testing.cluster import Cluster

pytestmark = pytest.mark.cluster
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DAG_ID = "learnosity_template_submission"


def _writes(cluster: Cluster) -> int:
    stored = httpx.get(f"{cluster.emulator_url}/_emulator/sessions", timeout=60).json()
    return sum(int(s["writes"]) for s in stored)


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


def test_trigger_a_dry_run_from_the_form_and_see_it_succeed(cluster: Cluster, page) -> None:  # type: ignore[no-untyped-def]
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
