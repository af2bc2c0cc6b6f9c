"""Derived session ids are stable across runs and machines; given ones must be UUIDs."""

from __future__ import annotations

import uuid

import pytest

from learnosity_core.template_submission.transform import SESSION_NAMESPACE, derive_session_id, is_session_id


def test_namespace_is_the_documented_one() -> None:
    documented = uuid.uuid5(uuid.NAMESPACE_URL, "urn:learnosity-airflow:from-template-session")
    assert documented == SESSION_NAMESPACE


def test_derivation_is_fixed_forever() -> None:
    # Golden values: if these change, every re-run would create new sessions instead of updating.
    learner = "1f4b4e68-5986-4468-90da-50f9901cc7ae"
    assert (
        derive_session_id("example-paper-based-activity", learner) == "a955cf68-1711-5d2b-b392-edbc4a9cff2b"
    )
    assert (
        derive_session_id("example-paper-based-activity", learner, "2")
        == "a8677f6b-6ebc-5e03-9112-87003c35ac63"
    )


def test_name_is_activity_user_and_attempt_joined_by_unit_separator() -> None:
    assert derive_session_id("a", "u") == str(uuid.uuid5(SESSION_NAMESPACE, "a\x1fu"))
    assert derive_session_id("a", "u", "1") == str(uuid.uuid5(SESSION_NAMESPACE, "a\x1fu\x1f1"))
    assert derive_session_id("a", "b\x1fc") != derive_session_id("a", "b") != derive_session_id("b", "a")


@pytest.mark.parametrize(
    "value", ["cb6ffc66-8fdb-4beb-a712-cffc31725e57", "CB6FFC66-8FDB-4BEB-A712-CFFC31725E57"]
)
def test_canonical_uuids_are_session_ids(value: str) -> None:
    assert is_session_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "{cb6ffc66-8fdb-4beb-a712-cffc31725e57}",
        "urn:uuid:cb6ffc66-8fdb-4beb-a712-cffc31725e57",
        "cb6ffc668fdb4beba712cffc31725e57",
        "cb6ffc66-8fdb-4beb-a712-cffc31725e57\n",
        " cb6ffc66-8fdb-4beb-a712-cffc31725e57",
        "cb6ffc66-8fdb-4beb-a712-cffc31725e5g",
        "",
    ],
)
def test_other_forms_are_not(value: str) -> None:
    assert not is_session_id(value)
