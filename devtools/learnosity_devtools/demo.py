"""`make demo`: the main job end to end on the embedded defaults.

Seeds a SQLite warehouse with sample responses (every question type, a few thousand learners,
some deliberately invalid rows), starts the local Data API emulator, runs the
`learnosity_template_submission` DAG with `airflow dags test`, and prints the run's summary and
the path of its HTML report; then replays sample failed-submission blobs (valid ones in three
inner shapes, a duplicate and malformed files) with `learnosity_failed_submission_replay`.
Last, papers scanned late (an old `updated_at`) are loaded: the next nightly run passes them by,
a reconcile run sends them.
Everything lives under `.demo/`, recreated on every run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / ".demo"
BIN = Path(sys.executable).parent
CONSUMER_KEY = "emulatordemokey1"
CONSUMER_SECRET = "emulator-demo-secret"  # the emulator's public demo credential, not a real secret
LEARNERS = int(os.environ.get("DEMO_LEARNERS", "2000"))
LANDING = DEMO / "failed_submissions"


def _airflow_env(emulator_url: str) -> dict[str, str]:
    home = DEMO / "airflow"
    return dict(
        os.environ,
        PATH=f"{BIN}:{os.environ.get('PATH', '')}",
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        LEARNOSITY_JOB_POLL_S="1",
        # `airflow dags test` cannot run a DAG with a DeadlineAlert to success in Airflow 3.3.2.
        LEARNOSITY_TEMPLATE_DEADLINE_MIN="off",
        LEARNOSITY_REPLAY_DEADLINE_MIN="off",
        LEARNOSITY_RECONCILE_DEADLINE_MIN="off",
        AIRFLOW_CONN_LEARNOSITY_DEFAULT=json.dumps(
            {
                "conn_type": "learnosity",
                "host": emulator_url,
                "login": CONSUMER_KEY,
                "password": CONSUMER_SECRET,
                "extra": {"lts_version": "v2025.2.LTS", "domain": "localhost"},
            }
        ),
        AIRFLOW_CONN_LEARNOSITY_WAREHOUSE=json.dumps(
            {"conn_type": "sqlite", "host": str(DEMO / "warehouse.db")}
        ),
        AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_PATH=LANDING.as_uri(),
        # the demo writes its sample blobs whole just before the replay: no need to wait for them to settle
        AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_SETTLE_S="0",
        # `airflow dags test` runs mapped tasks one after another: give each the whole rate limit.
        AIRFLOW_VAR_LEARNOSITY_PARALLEL_SHARDS="1",
        # A fifth of the sample blobs is malformed on purpose; `airflow dags test` has no one to
        # approve a replay that the default 5% threshold would hold for review.
        AIRFLOW_VAR_LEARNOSITY_APPROVAL_ABOVE_QUARANTINE_SHARE="1",
    )


def _airflow(env: dict[str, str], *args: str, log: Path | None = None) -> int:
    out = log.open("wb") if log else subprocess.DEVNULL
    return subprocess.run(
        [str(BIN / "airflow"), *args], env=env, stdout=out, stderr=subprocess.STDOUT
    ).returncode


def main() -> int:
    from learnosity_devtools.emulator.process import emulator_process
    from learnosity_devtools.emulator.seed import demo_templates
    from learnosity_devtools.sample_data import (
        load_late_rows,
        sample_rows,
        seed_warehouse,
        write_sample_blobs,
    )

    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    # Bad rows to show the quarantine; no unknown activity, which would (rightly) fail the run.
    rows = sample_rows(demo_templates(), learners=LEARNERS, unknown_activity=False)
    warehouse = sa.create_engine(f"sqlite:///{DEMO / 'warehouse.db'}")
    seeded = seed_warehouse(warehouse, rows)
    print(f"Seeded {seeded} response rows ({LEARNERS} learners, {rows['activity_id'].nunique()} activities)")

    with emulator_process(
        DEMO / "emulator.db", CONSUMER_KEY, CONSUMER_SECRET, DEMO / "emulator.log", job_delay_s="0.2"
    ) as emulator_url:
        print(f"Data API emulator on {emulator_url}")
        env = _airflow_env(emulator_url)
        for args in (("db", "migrate"), ("pools", "set", "learnosity_api", "4", "Learnosity SET /sessions")):
            if _airflow(env, *args, log=DEMO / "airflow-setup.log"):
                raise SystemExit(f"airflow {' '.join(args)} failed; see {DEMO / 'airflow-setup.log'}")
        print("Running learnosity_template_submission (airflow dags test) ...")
        started = time.monotonic()
        code = _airflow(env, "dags", "test", "learnosity_template_submission", log=DEMO / "template-run.log")
        print(f"DAG run finished in {time.monotonic() - started:.0f} s with exit code {code}")
        stored = httpx.get(f"{emulator_url}/_emulator/sessions", timeout=30).json()
        print(f"Sessions stored in the emulator: {len(stored)}")

        blobs = write_sample_blobs(LANDING, demo_templates())
        print(f"\nLanding folder {LANDING}: {blobs}")
        print("Running learnosity_failed_submission_replay (airflow dags test) ...")
        replay_code = _airflow(
            env, "dags", "test", "learnosity_failed_submission_replay", log=DEMO / "replay-run.log"
        )
        print(f"Replay run finished with exit code {replay_code}")
        for folder in ("processed", "duplicates", "quarantine"):
            files = [p for p in (LANDING / folder).glob("*") if not p.name.endswith(".reason.txt")]
            print(f"  {folder}/: {len(files)} files")
        stored = httpx.get(f"{emulator_url}/_emulator/sessions", timeout=30).json()
        print(f"Sessions stored in the emulator now: {len(stored)}")

        late = load_late_rows(warehouse, rows, learners=3, days=3)
        print(f"\nLate papers: {len(late)} rows of {late['user_id'].nunique()} learners, written 3 days ago")
        nightly_code = _airflow(
            env, "dags", "test", "learnosity_template_submission", log=DEMO / "late-nightly-run.log"
        )
        stored_now = len(httpx.get(f"{emulator_url}/_emulator/sessions", timeout=30).json())
        sent = stored_now - len(stored)
        print(f"Next nightly run (exit code {nightly_code}) sent {sent}: its window passed them")
        reconcile_code = _airflow(
            env, "dags", "test", "learnosity_template_reconcile", log=DEMO / "reconcile-run.log"
        )
        stored = httpx.get(f"{emulator_url}/_emulator/sessions", timeout=30).json()
        sent = len(stored) - stored_now
        print(f"Reconcile run (exit code {reconcile_code}) sent {sent}: the late sessions")

    print()
    reports = DEMO / "airflow" / "learnosity" / "reports"
    # Every run's summary, in the order the runs ran: nightly, replay, the nightly that passed the
    # late papers by, the reconcile that sent them.
    for report in sorted(reports.rglob("report.html"), key=lambda p: p.stat().st_mtime):
        print((report.parent / "summary.txt").read_text(encoding="utf-8"))
        print(f"Report: {report}\n")
    print(f"Task logs: {', '.join(str(log) for log in sorted(DEMO.glob('*-run.log')))}")
    return code or replay_code or nightly_code or reconcile_code


if __name__ == "__main__":
    raise SystemExit(main())
