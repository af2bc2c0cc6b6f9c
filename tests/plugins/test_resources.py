"""Where the provider finds its state: the ledger, and the replay's optional warehouse table."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from learnosity_provider import resources
from learnosity_provider.operators.failed_submission import warehouse_blobs


@pytest.fixture(autouse=True)
def no_state_connection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_LEARNOSITY_STATE", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_LEARNOSITY_WAREHOUSE", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))


@pytest.mark.parametrize("executor", ["LocalExecutor", "SequentialExecutor"])
def test_a_single_machine_keeps_its_ledger_in_a_local_sqlite_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, executor: str
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    ledger = resources.ledger()
    ledger.start_run("dag", "run", None, None)
    assert (resources.learnosity_home() / "ledger.db").is_file()


@pytest.mark.parametrize(
    "executor",
    [
        "CeleryExecutor",
        "KubernetesExecutor",
        "LocalExecutor,CeleryExecutor",
        "airflow.providers.x.MyExecutor",
    ],
)
def test_a_cluster_without_a_shared_ledger_fails_naming_the_connection(
    monkeypatch: pytest.MonkeyPatch, executor: str
) -> None:
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    with pytest.raises(AirflowFailException, match="connection learnosity_state is not set") as failure:
        resources.ledger()
    assert "PostgreSQL" in str(failure.value)
    assert not (resources.learnosity_home() / "ledger.db").exists(), "no silent local state"


def test_a_replay_table_without_its_connection_fails_instead_of_reading_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_LEARNOSITY_FAILED_SUBMISSIONS_TABLE", "failed_blobs")
    with pytest.raises(
        AirflowFailException,
        match="table 'failed_blobs', but connection learnosity_warehouse is not set",
    ):
        warehouse_blobs("learnosity_warehouse")


def test_no_replay_table_reads_nothing_without_a_connection() -> None:
    assert warehouse_blobs("learnosity_warehouse") == []
