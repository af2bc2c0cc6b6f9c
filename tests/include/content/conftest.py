"""`real_shapes`: the helper module of templates in Learnosity's published shapes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture(scope="session")
def real_shapes() -> ModuleType:
    """Loaded by path: pytest's importlib mode puts no test folder on sys.path."""
    spec = importlib.util.spec_from_file_location("real_shapes", Path(__file__).with_name("real_shapes.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
