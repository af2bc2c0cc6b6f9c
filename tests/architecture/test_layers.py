"""The house plan holds: every import points down, the core is Airflow-free, the product never
imports the dev tools, and the emulator is an independent witness of the client's rules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lrn_testing.airflow_env import REPO

CORE = REPO / "include" / "learnosity_core"
# Higher floors may import lower ones; rooms on one floor never import each other.
FLOORS = {
    "dataapi": 0,
    "content": 0,
    "delivery": 1,
    "reporting": 2,
    "template_submission": 3,
    "failed_submission": 3,
    "first_contact": 4,
}


def imported_modules(source: str) -> set[str]:
    """Every absolute module a file imports, at the top or inside functions."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "learnosity_core" and len(parts) > 1 else None


def layer_violations(own_room: str, modules: set[str]) -> list[str]:
    """Imports of `own_room` that point sideways or up, or leave the core for Airflow or devtools."""
    problems = []
    for module in sorted(modules):
        top = module.split(".")[0]
        if top in ("airflow", "learnosity_provider", "learnosity_devtools"):
            problems.append(f"imports {module}")
        target = room(module)
        if target is None or target == own_room:
            continue
        if target not in FLOORS:
            problems.append(f"imports {module}, which is in no room of the plan")
        elif FLOORS[target] >= FLOORS[own_room]:
            problems.append(
                f"imports {module} ({target}, floor {FLOORS[target]}) from floor {FLOORS[own_room]}"
            )
    return problems


def _python_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_the_check_catches_upward_sideways_and_airflow_imports() -> None:
    assert layer_violations("delivery", {"learnosity_core.template_submission.plan"})
    assert layer_violations("template_submission", {"learnosity_core.failed_submission.blob"})
    assert layer_violations("dataapi", {"learnosity_core.content.questions"})
    assert layer_violations("content", {"airflow.sdk"})
    assert layer_violations("reporting", {"learnosity_devtools.emulator"})
    assert layer_violations("failed_submission", {"learnosity_core.reporting.render", "json"}) == []


def test_every_core_module_belongs_to_a_room() -> None:
    loose = [p.name for p in CORE.glob("*.py") if p.name != "__init__.py"]
    assert loose == [], "core modules live in a room (a sub-package): " + ", ".join(loose)
    assert {p.name for p in CORE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(FLOORS)


@pytest.mark.parametrize("path", _python_files(CORE), ids=lambda p: str(p.relative_to(CORE)))
def test_core_imports_point_down(path: Path) -> None:
    own = path.relative_to(CORE).parts[0]
    assert layer_violations(own, imported_modules(path.read_text())) == []


@pytest.mark.parametrize(
    "path",
    _python_files(REPO / "plugins") + _python_files(REPO / "dags"),
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_the_airflow_layer_never_imports_devtools(path: Path) -> None:
    modules = imported_modules(path.read_text())
    assert not [m for m in modules if m.split(".")[0] == "learnosity_devtools"]


@pytest.mark.parametrize("path", _python_files(REPO / "dags"), ids=lambda p: p.name)
def test_dag_files_import_only_the_task_sdk_and_the_provider(path: Path) -> None:
    modules = imported_modules(path.read_text())
    airflow = [m for m in modules if m.split(".")[0] == "airflow" and not m.startswith("airflow.sdk")]
    core = [m for m in modules if m.split(".")[0] == "learnosity_core"]
    assert airflow == [] and core == [], "DAG files wire operators; the core is reached through them"


@pytest.mark.parametrize(
    "path",
    _python_files(REPO / "devtools" / "learnosity_devtools" / "emulator"),
    ids=lambda p: p.name,
)
def test_the_emulator_imports_nothing_from_the_client(path: Path) -> None:
    modules = imported_modules(path.read_text())
    assert [m for m in modules if m.split(".")[0] == "learnosity_core"] == []
