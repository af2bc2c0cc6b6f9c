"""`make check`: the first-contact check from a shell, with the deployment's connections.

Connections and Variables come from wherever Airflow finds them (`AIRFLOW_CONN_*` / `AIRFLOW_VAR_*`
environment variables or the metadata database). Exit status 0 when the account works, 1 with
the setting to fix otherwise. Nothing is sent but one harmless signed request.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from airflow.sdk.exceptions import AirflowException

from learnosity_core.first_contact.check import report_lines
from learnosity_provider.hooks import LearnosityHook
from learnosity_provider.operators.connection_check import CheckRequest, first_contact
from learnosity_provider.resources import WAREHOUSE_CONN_ID


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make check", description=__doc__)
    parser.add_argument("--activity", action="append", default=[], help="an activity id (repeatable)")
    parser.add_argument("--sessions", type=int, default=50, help="sample sessions per activity")
    parser.add_argument("--out", type=Path, default=Path("learnosity-check-requests.jsonl"))
    parser.add_argument("--conn-id", default=LearnosityHook.default_conn_name)
    parser.add_argument("--warehouse-conn-id", default=WAREHOUSE_CONN_ID)
    args = parser.parse_args(argv)
    request = CheckRequest(activity_ids=args.activity, sample_sessions=args.sessions)
    try:
        with args.out.open("w", encoding="utf-8") as out:
            report = first_contact(args.conn_id, args.warehouse_conn_id, request, out)
        report.requests_file = str(args.out)
    except AirflowException as exc:  # a missing connection, a refused request, a bad setting
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report_lines(report)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
