"""`make bench-plan`: the plan task's peak memory, clean and when every row is quarantined.

A template that no longer matches the warehouse (here: every question renamed) quarantines
every row of a run. The quarantine CSV is streamed as rows are found, so such a run must stay
inside the memory of a clean one. A SQLite warehouse of BENCH_ROWS synthetic rows (default
1,000,000; all 13 question types) is seeded once (not timed); then the plan runs twice, each in
a fresh interpreter so each peak RSS is its own: with the matching templates, and with templates
whose questions all have other ids. The last line reads:
`plan: clean N rows in T s, peak RSS R MB; all quarantined Q rows in T s, peak RSS R MB`.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from learnosity_core.dataapi import DataApiValidationError
from learnosity_core.delivery.ledger import Ledger
from learnosity_core.delivery.warehouse import Source
from learnosity_core.template_submission.plan import PlanRequest, plan_template_run
from learnosity_core.template_submission.templates import TemplateRef
from learnosity_devtools.synthetic import synthetic_rows, synthetic_templates

ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
DAG_ID = "bench_plan"


def _renamed(template: dict[str, Any]) -> dict[str, Any]:
    """The same template with every question under another id: no warehouse row matches it."""
    renamed = copy.deepcopy(template)
    for item in renamed["items"]:
        for question in item["questions"]:
            question["id"] = f"{question['id']}-renamed"
    return renamed


def _templates(case: str) -> dict[str, dict[str, Any]]:
    templates = synthetic_templates()
    return {a: _renamed(t) for a, t in templates.items()} if case == "quarantined" else templates


def _seed(warehouse: Path) -> None:
    started = time.monotonic()
    engine = sa.create_engine(f"sqlite:///{warehouse}")
    for chunk in synthetic_rows(synthetic_templates(), ROWS, chunk_rows=50_000):
        chunk["updated_at"] = chunk["updated_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
        chunk.to_sql("learnosity_responses", engine, if_exists="append", index=False, chunksize=10_000)
    engine.dispose()
    print(f"seeded {ROWS:,} rows in {time.monotonic() - started:.0f} s", flush=True)


def _plan(case: str, warehouse: Path, work: Path) -> None:
    """One plan in this process; prints a JSON line with its counts, time and peak RSS."""
    templates = _templates(case)

    def fetch(ref: TemplateRef) -> dict[str, Any]:
        """As `sessions/templates` answers: the synthetic rows' unknown activity has none."""
        if ref.activity_template_id not in templates:
            raise DataApiValidationError(f"no session template for {ref.activity_template_id}")
        return templates[ref.activity_template_id]

    stage = work / case / "stage"
    stage.mkdir(parents=True)
    ledger = Ledger.from_url(f"sqlite:///{work / case / 'ledger.db'}")
    started = time.monotonic()
    summary = plan_template_run(
        sa.create_engine(f"sqlite:///{warehouse}"),
        Source(),
        fetch,
        ledger,
        stage,
        PlanRequest(run_id=case),
        DAG_ID,
        datetime.now(UTC),
    )
    seconds = time.monotonic() - started
    counts = summary.activities.values()
    print(
        json.dumps(
            {
                "rows": sum(c.rows for c in counts),
                "quarantined": sum(c.rows_quarantined for c in counts),
                "staged": sum(c.sessions_staged for c in counts),
                "seconds": seconds,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        work = Path(tmp)
        warehouse = work / "warehouse.db"
        _seed(warehouse)
        results: dict[str, dict[str, Any]] = {}
        for case in ("clean", "quarantined"):
            child = subprocess.run(
                [sys.executable, __file__, case, str(warehouse), str(work)],
                check=True,
                stdout=subprocess.PIPE,
                text=True,
            )
            results[case] = json.loads(child.stdout.strip().splitlines()[-1])
            r = results[case]
            print(
                f"{case}: {r['rows']:,} rows ({r['quarantined']:,} quarantined, {r['staged']:,} sessions"
                f" staged) in {r['seconds']:.0f} s = {r['rows'] / r['seconds']:,.0f} rows/s,"
                f" peak RSS {r['peak_mb']:.0f} MB",
                flush=True,
            )
    clean, quarantined = results["clean"], results["quarantined"]
    print(
        f"plan: clean {clean['rows']:,} rows in {clean['seconds']:.0f} s, peak RSS {clean['peak_mb']:.0f} MB;"
        f" all quarantined {quarantined['quarantined']:,} rows in {quarantined['seconds']:.0f} s,"
        f" peak RSS {quarantined['peak_mb']:.0f} MB"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4:
        _plan(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
