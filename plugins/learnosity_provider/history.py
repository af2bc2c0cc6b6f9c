"""`make history`: what was delivered for a learner or a session, from the ledger's history.

Support staff answer "what did Learnosity receive for this learner, when, in which job?" with
`make history LEARNER=<user_id>` or `make history SESSION=<session_id>`. The ledger is found as the
DAGs find it (connection `learnosity_state`, else the embedded SQLite file).
"""

from __future__ import annotations

import argparse
import sys

from airflow.sdk.exceptions import AirflowException

from learnosity_core.delivery.ledger import HistoryRow
from learnosity_provider import resources


def history_lines(rows: list[HistoryRow]) -> list[str]:
    """One line per recorded change, oldest first."""
    lines = []
    for row in rows:
        verified = ", verified" if row.verified else (", read-back differed" if row.verified is False else "")
        run = f"{row.dag_id} run {row.run_id}" if row.dag_id else f"run {row.run_id}"
        where = run + (f", job {row.job_reference}" if row.job_reference else "")
        line = (
            f"{row.recorded_at:%Y-%m-%d %H:%M:%S} session {row.session_id} (user {row.user_id},"
            f" activity {row.activity_id}): {row.status.value}{verified}; {where};"
            f" content {(row.content_hash or '-')[:12]}"
        )
        lines.append(line + (f"; {row.error}" if row.error else ""))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make history", description=__doc__)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="a learner's user_id")
    who.add_argument("--session", help="a session_id")
    parser.add_argument("--conn-id", default=resources.STATE_CONN_ID)
    args = parser.parse_args(argv)
    try:
        rows = resources.ledger(args.conn_id).history(session_id=args.session, user_id=args.user)
    except AirflowException as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    if not rows:
        print(f"Nothing recorded for {'user ' + args.user if args.user else 'session ' + args.session}")
        return 0
    print("\n".join(history_lines(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
