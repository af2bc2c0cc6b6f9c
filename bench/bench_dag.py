"""`make bench-dag`: the whole nightly DAG on the real cluster, at the Data API's real limits.

Starts the cluster the cluster tests start (`lrn_testing.cluster`: scheduler, dag-processor,
triggerer, api-server, two Celery workers on this machine's PostgreSQL and Redis) with the
emulator at the real limits (50 SET requests per 5 s, the GET limit, jobs that take 3 s, SETs
answered after 300 ms). A PostgreSQL warehouse (a fresh database, dropped afterwards) holds
BENCH_SESSIONS sessions (default 100,000) of synthetic OMR/ICR rows for the emulator's two mock
exams: 10 questions a session, all 13 question types between them (1,000,000 rows). The nightly
DAG is triggered through the REST API with verification on. Peak RSS per task is the high-water
mark (VmHWM) of its task process (titled `airflow worker -- <ti id>`), sampled every 0.5 s.
Seeding and cluster start-up are not timed. `BENCH_KEEP_LOGS=<folder>` keeps the run's task logs
there (the cluster's own folder goes with it). The last line reads:
`dag end-to-end: N sessions in T s = P% of ceiling (30,000/min)`.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

from learnosity_core.content.questions import find_questions
from learnosity_core.dataapi.limits import MAX_SESSIONS_PER_SET, RATE_WINDOW_S, SET_REQUESTS_PER_WINDOW
from learnosity_devtools.emulator.seed import exam_templates
from learnosity_devtools.synthetic import UNKNOWN_ACTIVITY, synthetic_rows
from lrn_testing.cluster import running_cluster
from lrn_testing.services import PG_ADMIN_URL

SESSIONS = int(os.environ.get("BENCH_SESSIONS", "100000"))
SHARED_BUDGET = os.environ.get("BENCH_SHARED_BUDGET", "1") == "1"  # 0: fixed per-task shares
KEEP_LOGS = os.environ.get("BENCH_KEEP_LOGS")  # a folder to copy the run's task logs to
DAG_ID = "learnosity_template_submission"
CEILING_PER_MIN = SET_REQUESTS_PER_WINDOW * MAX_SESSIONS_PER_SET * 60 / RATE_WINDOW_S  # 30,000 sessions/min
TABLE = "learnosity_responses"
TASK_TITLE = "airflow worker -- "  # a task process's title: this, then its ti id
COLUMNS = (
    "user_id",
    "activity_id",
    "session_id",
    "attempt",
    "question_id",
    "question_type",
    "response",
    "response_boxes",
    "updated_at",
)
EMULATOR_ENV = {
    "EMULATOR_SET_LIMIT": str(SET_REQUESTS_PER_WINDOW),
    "EMULATOR_WINDOW_S": str(RATE_WINDOW_S),
    "EMULATOR_JOB_DELAY_S": "3",
    "EMULATOR_FAULTS": json.dumps({"set_latency_s": 0.3}),
}


def _seed(url: sa.URL) -> int:
    """BENCH_SESSIONS sessions of valid rows (re-scans included) for the emulator's mock exams."""
    templates = exam_templates()
    questions = sum(len(find_questions(t)) for t in templates.values())
    rows = SESSIONS * questions // len(templates)
    engine = sa.create_engine(url)
    columns = ", ".join(
        f"{c} {'INTEGER' if c == 'attempt' else 'TIMESTAMPTZ' if c == 'updated_at' else 'TEXT'}"
        for c in COLUMNS
    )
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {TABLE} ({columns})"))
    written = 0
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for frame in synthetic_rows(templates, rows, invalid_rate=0.0):
            frame = frame[frame["activity_id"] != UNKNOWN_ACTIVITY][list(COLUMNS)].copy()
            # The demo grids have 5 columns; a value like 160.54 needs 6: keep its whole part.
            gridded = (frame["question_type"] == "gridded") & frame["response"].notna()
            frame.loc[gridded, "response"] = frame.loc[gridded, "response"].str.split(".").str[0]
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False)
            buffer.seek(0)
            cursor.copy_expert(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buffer)
            written += len(frame)
        raw.commit()
    finally:
        raw.close()
    with engine.connect() as conn:
        sessions = conn.execute(
            sa.text(f"SELECT count(*) FROM (SELECT DISTINCT activity_id, user_id FROM {TABLE}) s")
        ).scalar_one()
    engine.dispose()
    print(f"warehouse: {written:,} rows, {sessions:,} sessions", flush=True)
    return int(sessions)


class ProcessSampler:
    """Every 0.5 s: the high-water RSS of every task process (`airflow worker -- <ti id>`), and the
    CPU seconds of every process on the machine, grouped (task processes by ti id, with the
    sending processes a plan forks, which keep its title): where a 2-core machine's time goes."""

    def __init__(self) -> None:
        self.peaks: dict[str, int] = {}
        self._cpu: dict[int, tuple[str, float]] = {}
        self._before: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> ProcessSampler:
        self._before = {pid: seconds for pid, (_, seconds) in self._sample().items()}
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def cpu_by_group(self, names: dict[str, str]) -> dict[str, float]:
        """CPU seconds used while sampling, by group (task processes named by `names`, ti id to
        task id), largest first."""
        totals: dict[str, float] = {}
        for group, seconds in self._cpu.values():
            ti, forked, _ = group.partition(FORKED)
            name = names.get(ti, ti) + forked
            totals[name] = totals.get(name, 0.0) + seconds
        return dict(sorted(totals.items(), key=lambda item: -item[1]))

    def _sample(self) -> dict[int, tuple[str, float]]:
        seen: dict[int, tuple[str, float]] = {}
        parents: dict[int, int] = {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                status = (proc / "status").read_text() if title.startswith(TASK_TITLE) else ""
            except OSError:
                continue
            group = _group(title)  # a task process's is its ti id
            seen[int(proc.name)] = (group, (int(fields[11]) + int(fields[12])) / self._tick)
            parents[int(proc.name)] = int(fields[1])
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    self.peaks[group] = max(self.peaks.get(group, 0), int(line.split()[1]))
        # A process forked by a task (the plan's sending processes) keeps its title: count it apart.
        for pid, (group, seconds) in seen.items():
            parent = seen.get(parents[pid])
            if parent is not None and parent[0] == group and group not in SERVICES:
                seen[pid] = (f"{group}{FORKED}", seconds)
        return seen

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for pid, (group, seconds) in self._sample().items():
                # An exited process not yet reaped has no command line: it keeps the group it had.
                known = self._cpu.get(pid, (group, 0.0))[0] if group == "other" else group
                self._cpu[pid] = (known, seconds - self._before.get(pid, 0.0))


FORKED = " (forked)"
_SERVICE_MARKERS = (
    ("learnosity_devtools.emulator", "emulator"),
    ("postgres", "postgresql"),
    ("redis", "redis"),
    ("celery", "celery workers"),
    ("scheduler", "scheduler"),
    ("api-server", "api-server"),
    ("api_server", "api-server"),
    ("dag-processor", "dag-processor"),
    ("triggerer", "triggerer"),
    ("bench_dag", "this benchmark"),
)
SERVICES = {group for _, group in _SERVICE_MARKERS} | {"other"}


def _group(title: str) -> str:
    """A task process's ti id, or the service a process belongs to."""
    if title.startswith(TASK_TITLE):
        return title.split("--", 1)[1].strip()
    for marker, group in _SERVICE_MARKERS:
        if marker in title:
            return group
    return "other"


def _seconds(ti: dict[str, Any]) -> float:
    if not ti.get("start_date") or not ti.get("end_date"):
        return 0.0
    return (datetime.fromisoformat(ti["end_date"]) - datetime.fromisoformat(ti["start_date"])).total_seconds()


def _report_steps(tis: list[dict[str, Any]], peaks: dict[str, int], sessions: int) -> None:
    """Each step's span (first start to last end over its mapped tasks) and its tasks' peak RSS."""
    steps: dict[str, list[dict[str, Any]]] = {}
    for ti in tis:
        steps.setdefault(ti["task_id"], []).append(ti)
    ordered = sorted(steps.items(), key=lambda item: min(t.get("start_date") or "9" for t in item[1]))
    for task_id, group in ordered:
        starts = [datetime.fromisoformat(t["start_date"]) for t in group if t.get("start_date")]
        ends = [datetime.fromisoformat(t["end_date"]) for t in group if t.get("end_date")]
        span = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
        rss = [peaks[t["id"]] for t in group if t["id"] in peaks]
        states = sorted({str(t["state"]) for t in group})
        line = f"  {task_id:<14} {span:7.1f} s  tasks {len(group):3d} ({', '.join(states)})"
        if len(group) > 1:
            line += f", task time sum {sum(_seconds(t) for t in group):.1f} s"
        if rss:
            line += f", peak RSS max {max(rss) / 1024:.0f} MB"
        if task_id == "submit" and span:
            line += f", {sessions / span * 60 / CEILING_PER_MIN:.0%} of ceiling"
        print(line, flush=True)


def _set_pace(arrivals: list[float]) -> str:
    """How close the accepted SETs came to the limit: their span and rate, and how long each 50th
    came after the first of its window (5 s at best; the excess is the time lost per window)."""
    if len(arrivals) <= SET_REQUESTS_PER_WINDOW:
        return f"{len(arrivals)} SETs accepted"
    span = arrivals[-1] - arrivals[0]
    hops = sorted(
        later - first for first, later in zip(arrivals, arrivals[SET_REQUESTS_PER_WINDOW:], strict=False)
    )
    rate = (len(arrivals) - 1) / span
    ceiling = SET_REQUESTS_PER_WINDOW / RATE_WINDOW_S
    idle = sum(gap - 1 for gap in (b - a for a, b in itertools.pairwise(arrivals)) if gap > 1)
    return (
        f"{len(arrivals)} SETs accepted over {span:.1f} s = {rate:.2f}/s ({100 * rate / ceiling:.1f}% of the"
        f" limit); window of 50 took median {hops[len(hops) // 2]:.2f} s,"
        f" p90 {hops[len(hops) * 9 // 10]:.2f} s, min {hops[0]:.2f} s;"
        f" gaps over 1 s between SETs: {idle:.1f} s in all"
    )


def _ledger_tally(conn: dict[str, Any]) -> dict[str, int]:
    """How many sessions the run left in each (status, verified) state: all should be completed, True."""
    url = sa.URL.create(
        "postgresql+psycopg2",
        username=conn["login"],
        host=conn["host"],
        port=conn["port"],
        database=conn["schema"],
    )
    engine = sa.create_engine(url)
    with engine.connect() as db:
        rows = db.execute(
            sa.text("SELECT status, verified, count(*) FROM learnosity_ledger_sessions GROUP BY 1, 2")
        )
        tally = {f"{status}, {verified}": int(count) for status, verified, count in rows}
        size = db.execute(
            sa.text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n"
                " ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
            )
        ).scalar_one()
    print(f"ledger tables with indexes and history: {int(size) / 2**20:.0f} MB")
    engine.dispose()
    return tally


def main() -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    warehouse_db = f"lrn_bench_wh_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{warehouse_db}"'))
    url = admin.url.set(database=warehouse_db)
    work = Path(tempfile.mkdtemp(prefix="bench-dag-"))
    try:
        sessions = _seed(url)
        warehouse = json.dumps(
            {
                "conn_type": "postgres",
                "host": url.host,
                "port": url.port,
                "login": url.username,
                "schema": warehouse_db,
            }
        )
        # Every submitter and poller books in one Redis budget (the cluster's own Redis, db 15).
        shared = {"rate_limiter_url": "redis://127.0.0.1:6379/15"} if SHARED_BUDGET else None
        with running_cluster(work, warehouse, EMULATOR_ENV, shared) as cluster, ProcessSampler() as sampler:
            print(
                f"cluster up: 2 Celery workers x 2 slots, pool learnosity_api 4; uptime: {os.getloadavg()}",
                flush=True,
            )
            started = time.monotonic()
            run_id = cluster.trigger(DAG_ID, {"verify": True})
            state = cluster.wait_for_run(DAG_ID, run_id, timeout=3600)
            elapsed = time.monotonic() - started
            tis = cluster.task_instances(DAG_ID, run_id)
            run = cluster.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")
            stats = httpx.get(f"{cluster.emulator_url}/_emulator/stats", timeout=30).json()
            tally = _ledger_tally(json.loads(cluster.env["AIRFLOW_CONN_LEARNOSITY_STATE"]))
            budgets = sorted(
                {
                    json.loads(line)["event"].split("; ", 1)[-1]
                    for log in (cluster.home / "logs").glob("dag_id=*/*/task_id=submit/*/*.log")
                    for line in log.read_text().splitlines()
                    if "SET requests per window" in line
                }
            )
            for ti in tis:  # a failed step says why here, before the cluster's folder goes
                if ti["state"] == "failed":
                    for log in (cluster.home / "logs").glob(f"dag_id=*/*/task_id={ti['task_id']}/*.log"):
                        print(
                            f"--- {log.name} of {ti['task_id']}:",
                            *log.read_text().splitlines()[-30:],
                            sep="\n",
                        )
            # Where the plan's time goes: its log lines up to its first progress line, timed.
            timeline = []
            for log in sorted((cluster.home / "logs").glob("dag_id=*/*/task_id=plan/*.log"))[-1:]:
                events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
                start = datetime.fromisoformat(events[0]["timestamp"]) if events else None
                for event in events:
                    if start is None or "timestamp" not in event or event.get("logger") == "py.warnings":
                        continue
                    at = (datetime.fromisoformat(event["timestamp"]) - start).total_seconds()
                    timeline.append(f"  {at:6.1f} s  {str(event.get('event'))[:110]}")
            if KEEP_LOGS:
                shutil.copytree(cluster.home / "logs", KEEP_LOGS, dirs_exist_ok=True)
            streamed = [
                json.loads(line)["event"]
                for log in (cluster.home / "logs").glob("dag_id=*/*/task_id=plan/*.log")
                for line in log.read_text().splitlines()
                if "Sent while planning" in line
            ]
        peaks = sampler.peaks
        cpu = sampler.cpu_by_group({t["id"]: f"task {t['task_id']}" for t in tis})
        delivered = tally.get("completed, True", 0)
        run_s = (
            datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["start_date"])
        ).total_seconds()
        print(f"run {run_id}: {state}; run start to end {run_s:.1f} s (seen in {elapsed:.1f} s)")
        print("steps (first start to last end; peak RSS = task process high-water mark):")
        _report_steps(tis, peaks, delivered)
        print(f"submit tasks' SET budgets: {budgets}")
        print(f"plan: {streamed[-1] if streamed else 'sent nothing while planning'}")
        print("plan log (seconds from its first line):", *timeline[:25], sep="\n")
        print(f"ledger sessions by (status, verified), of {sessions} in the warehouse: {tally}")
        print(
            f"emulator answered 429 {stats['statuses'].get('429', 0)} times; "
            f"statuses {json.dumps(stats['statuses'])}"
        )
        print(f"emulator request counts: {json.dumps(stats['requests'])}")
        print(f"SET pace at the emulator: {_set_pace(stats['set_arrivals'])}")
        print(f"load average (1, 5, 15 min): {os.getloadavg()}")
        print(
            f"CPU seconds while the cluster ran, {sum(cpu.values()):.0f} in all:",
            ", ".join(f"{group} {seconds:.0f}" for group, seconds in cpu.items() if seconds >= 1),
        )
        print(
            f"dag end-to-end: {delivered} sessions in {run_s:.0f} s = "
            f"{100 * delivered / run_s * 60 / CEILING_PER_MIN:.1f}% of ceiling ({CEILING_PER_MIN:,.0f}/min)"
        )
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{warehouse_db}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
