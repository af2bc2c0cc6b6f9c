"""Where the pipelines keep things, resolved at task run time from connections and Variables.

Nothing here runs at DAG parse time. Defaults make the embedded setup work with no
configuration: a SQLite ledger and local folders under $AIRFLOW_HOME/learnosity.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.sdk import BaseHook, ObjectStoragePath, Variable
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException
from sqlalchemy.engine import Engine

from learnosity_core.delivery.ledger import Ledger
from learnosity_core.delivery.staging import (
    DEFAULT_RETENTION,
    RETENTION_SETTING,
    expire_stages,
    make_private_dir,
    remove_stage,
    safe_name,
)
from learnosity_core.delivery.warehouse import Source, read_bad_bytes_as_text
from learnosity_core.template_submission.templates import (
    MAP_SETTING,
    MAP_TABLE_SETTING,
    TemplateRef,
    parse_template_map,
    read_template_map_table,
)

WAREHOUSE_CONN_ID = "learnosity_warehouse"
STATE_CONN_ID = "learnosity_state"
API_POOL = "learnosity_api"


def learnosity_home() -> Path:
    """$AIRFLOW_HOME/learnosity: where the embedded defaults keep their files."""
    return Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow")) / "learnosity"


def sql_url(conn_id: str) -> str:
    """The SQLAlchemy URL of any connection whose hook is a common-sql DbApiHook (the ledger's)."""
    hook = BaseHook.get_connection(conn_id).get_hook()
    url: str = hook.get_uri()
    return url


def sql_engine(conn_id: str) -> Engine:
    """The warehouse engine, built by the connection's own hook: a URI string would lose what the
    connection keeps in its extras (Snowflake key pairs, BigQuery credentials, connect arguments)."""
    hook = BaseHook.get_connection(conn_id).get_hook()
    engine: Engine = hook.get_sqlalchemy_engine(engine_kwargs={"pool_pre_ping": True})
    return read_bad_bytes_as_text(engine)


# Executors whose tasks all run on this machine: only they may share a SQLite ledger file.
SINGLE_MACHINE_EXECUTORS = frozenset({"LocalExecutor", "SequentialExecutor"})


def ledger(conn_id: str = STATE_CONN_ID) -> Ledger:
    """The ledger in `learnosity_state`; without it a SQLite file under $AIRFLOW_HOME, but only
    where every task runs on this machine: on a cluster each worker would keep its own ledger and
    send what another already delivered, so the task fails naming the connection to create."""
    try:
        return Ledger.from_url(sql_url(conn_id))
    except AirflowNotFoundException:
        executors = {
            name.strip().rsplit(".", 1)[-1] for name in conf.get("core", "executor", fallback="").split(",")
        }
        if not executors <= SINGLE_MACHINE_EXECUTORS:
            raise AirflowFailException(
                f"connection {conn_id} is not set: with the {', '.join(sorted(executors))} every"
                f" worker needs the same ledger; create connection {conn_id} to a PostgreSQL database"
            ) from None
        path = learnosity_home() / "ledger.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        return Ledger.from_url(f"sqlite:///{path}")


def source() -> Source:
    """Variables `learnosity_source_table` (default learnosity_responses) or `learnosity_source_query`."""
    query = Variable.get("learnosity_source_query", default="") or None
    return Source(table=Variable.get("learnosity_source_table", default="learnosity_responses"), query=query)


def max_quarantine_share(requested: object) -> object:
    """The run's limit as asked in the trigger form, else Variable `learnosity_max_quarantine_share`,
    else the default (checked by the caller, which names the param)."""
    from learnosity_core.template_submission.report import DEFAULT_MAX_QUARANTINE_SHARE

    if requested not in (None, ""):
        return requested
    return Variable.get("learnosity_max_quarantine_share", default=DEFAULT_MAX_QUARANTINE_SHARE)


def template_map(warehouse_conn_id: str = WAREHOUSE_CONN_ID) -> dict[str, TemplateRef]:
    """Activity id -> template: Variable `learnosity_template_map` (JSON), overridden per activity by
    the table named in `learnosity_template_map_table` (read from the warehouse); empty when unset."""
    mapping = parse_template_map(Variable.get(MAP_SETTING, default=""))
    table = Variable.get(MAP_TABLE_SETTING, default="")
    if table:
        mapping.update(read_template_map_table(sql_engine(warehouse_conn_id), table))
    return mapping


def _base(variable: str, folder: str) -> ObjectStoragePath:
    default = (learnosity_home() / folder).as_uri()
    return ObjectStoragePath(Variable.get(variable, default=default))


def stage_path(dag_id: str, run_id: str) -> ObjectStoragePath:
    """This run's stage folder: Variable `learnosity_stage_path` (any fsspec URL) / dag / run."""
    path = _base("learnosity_stage_path", "stage") / dag_id / safe_name(run_id)
    make_private_dir(path)
    return path


def stage_retention() -> timedelta:
    """Variable `learnosity_stage_retention_days` (default 7): how long a failed run's stage stays."""
    text = Variable.get(RETENTION_SETTING, default=str(DEFAULT_RETENTION.days))
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not 0 <= days < 100_000:
        raise AirflowFailException(
            f"Variable {RETENTION_SETTING}: {text!r} is not a number of days (0 or more)"
        )
    return timedelta(days=days)


@contextmanager
def retiring_stage(dag_id: str, run_id: str) -> Iterator[None]:
    """Around a report task: staged learner data of this DAG's runs older than the retention period
    is deleted whatever happens, and this run's own once the report succeeded (nothing failed)."""
    retention = stage_retention()
    try:
        yield
    except BaseException:
        expire_stages(_base("learnosity_stage_path", "stage") / dag_id, retention, datetime.now(UTC))
        raise
    remove_stage(stage_path(dag_id, run_id))
    expire_stages(_base("learnosity_stage_path", "stage") / dag_id, retention, datetime.now(UTC))


def reports_root() -> ObjectStoragePath:
    """Variable `learnosity_reports_path`: every run's report folder is below it."""
    return _base("learnosity_reports_path", "reports")


def reports_path(dag_id: str, run_id: str) -> ObjectStoragePath:
    """This run's report folder: Variable `learnosity_reports_path` / dag / run."""
    path = reports_root() / dag_id / safe_name(run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def parallel_shards() -> int:
    """Submit tasks running at once (the `learnosity_api` pool size); each gets that share of the limit."""
    return max(1, int(Variable.get("learnosity_parallel_shards", default="4")))
