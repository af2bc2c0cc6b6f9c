"""
### Learnosity connection check (first contact)

Run once against a new account, before the first night, from the trigger form:

1. sends one signed, harmless request and says whether the consumer key, secret, domain, LTS
   version and base URL of `learnosity_default` work (a failure names the setting to fix);
2. fetches each activity's session template and logs, per question, the id, type and the
   constraints understood, plus what was skipped and why;
3. transforms a sample of each activity's warehouse rows and writes the exact `SET /sessions`
   request bodies the nightly run would send (no signature, no secret) to `requests.jsonl` in
   the run's report folder. **Nothing is sent.**

The same check runs from a shell: `make check`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from learnosity_provider.operators.connection_check import LearnosityConnectionCheckOperator

with DAG(
    dag_id="learnosity_connection_check",
    description="First contact with a Learnosity account: connection, templates, request bodies (sends none)",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    tags=["learnosity", "data-api", "check"],
    params={
        "activity_ids": Param(
            [],
            type=["null", "array"],
            items={"type": "string"},
            title="Activities",
            description="Activity ids to check, one per line. Default empty: the warehouse's activities"
            " (at most 50).",
            section="What to check",
        ),
        "sample_sessions": Param(
            50,
            type="integer",
            minimum=1,
            maximum=1000,
            title="Sample sessions per activity",
            description="How many sessions of each activity to turn into request bodies (1-1000)."
            " Default 50.",
            section="What to check",
        ),
    },
) as dag:
    LearnosityConnectionCheckOperator(
        task_id="check",
        activity_ids="{{ params.activity_ids or [] }}",
        sample_sessions="{{ params.sample_sessions }}",
    )
