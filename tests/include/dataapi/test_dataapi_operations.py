"""Request shapes and stop rules of each operation, without HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from learnosity_core.dataapi import operations
from learnosity_core.dataapi.errors import BatchSizeError, DataApiError, DataApiValidationError
from learnosity_core.dataapi.models import Envelope, JobStatus

TEMPLATE = {"activity_template_id": "act", "items": []}


def envelope(data: Any, next_: str | None = None) -> Envelope:
    meta: dict[str, Any] = {"status": True, "records": len(data) if isinstance(data, list) else 1}
    if next_ is not None:
        meta["next"] = next_
    return Envelope.model_validate({"meta": meta, "data": data})


def job(reference: str, status: str = "completed") -> dict[str, Any]:
    return {"reference": reference, "status": status, "type": "sessions_set", "future_field": 1}


def test_template_set_embeds_serialised_sessions_as_objects() -> None:
    entry = {"session_id": "s1", "responses": []}
    call = operations.template_sessions_call(TEMPLATE, [json.dumps(entry), {"session_id": "s2"}])
    assert (call.endpoint, call.action) == ("sessions", "set")
    assert call.request == {
        "data_format": "from_template",
        "template": TEMPLATE,
        "data": [entry, {"session_id": "s2"}],
    }


@pytest.mark.parametrize(("flag", "expected"), [(None, "absent"), (True, True), (False, False)])
def test_ignore_response_revisions_only_when_set(flag: bool | None, expected: object) -> None:
    call = operations.failed_sessions_call(["YmxvYg=="], ignore_response_revisions=flag)
    assert call.request.get("ignore_response_revisions", "absent") == expected
    assert call.request["data_format"] == "failed_submission"


@pytest.mark.parametrize("count", [0, 51])
def test_batches_outside_1_to_50_refused_locally(count: int) -> None:
    with pytest.raises(BatchSizeError, match=f"got {count}"):
        operations.template_sessions_call(TEMPLATE, [{}] * count)
    with pytest.raises(BatchSizeError, match=f"got {count}"):
        operations.failed_sessions_call(["x"] * count)


@pytest.mark.parametrize("data", [{"job_reference": "j1"}, [{"job_reference": "j1"}]])
def test_both_job_reference_envelopes(data: Any) -> None:
    assert operations.read_job_reference(envelope(data)) == "j1"


def test_missing_job_reference_is_an_error() -> None:
    with pytest.raises(DataApiError, match="no job_reference"):
        operations.read_job_reference(envelope({}))


def test_template_call_needs_exactly_one_selector() -> None:
    assert operations.template_call("act").request == {"activity_template_id": "act"}
    assert operations.template_call(items=["i1"]).request == {"items": ["i1"]}
    with pytest.raises(ValueError):
        operations.template_call()
    with pytest.raises(ValueError):
        operations.template_call("act", ["i1"])


@pytest.mark.parametrize("data", [None, {}, []])
def test_empty_template_means_unknown_activity(data: Any) -> None:
    call = operations.template_call("nope")
    with pytest.raises(DataApiValidationError, match="no session template"):
        operations.read_template(envelope(data), call)


def test_template_is_returned_as_sent() -> None:
    call = operations.template_call("act")
    assert operations.read_template(envelope([TEMPLATE]), call) == TEMPLATE


def test_jobs_query_asks_every_status_with_data_in_chunks_of_1000() -> None:
    refs = [f"r{i}" for i in range(2500)] + ["r0"]
    query = operations.JobsQuery(refs)
    calls = []
    while (call := query.next_call()) is not None:
        calls.append(call)
        query.feed(call, envelope([job(r) for r in call.request["references"]]))
    assert [len(c.request["references"]) for c in calls] == [1000, 1000, 500]
    assert set(calls[0].request["status"]) == {"queued", "running", "completed", "halted"}
    assert "data" in calls[0].request["include"]
    assert len(query.jobs) == 2500
    assert query.jobs["r1"].status is JobStatus.COMPLETED


def test_jobs_query_follows_next_only_while_references_are_missing() -> None:
    query = operations.JobsQuery(["a", "b"])
    first = query.next_call()
    assert first is not None
    query.feed(first, envelope([job("a", "running")], next_="page2"))
    second = query.next_call()
    assert second is not None and second.request["next"] == "page2"
    query.feed(second, envelope([job("b", "halted")], next_="page3"))
    assert query.next_call() is None
    assert not query.jobs["a"].status.is_terminal and query.jobs["b"].status.is_terminal


def test_unexpected_job_shape_is_a_data_api_error() -> None:
    query = operations.JobsQuery(["a"])
    call = query.next_call()
    assert call is not None
    with pytest.raises(DataApiError, match="unexpected reply shape"):
        query.feed(call, envelope([{"reference": "a", "status": "exploded"}]))


def test_responses_pages_until_an_empty_page_even_though_next_stays() -> None:
    query = operations.ResponsesQuery(session_ids=["s1", "s2"], limit=1)
    first = query.next_call()
    assert first is not None
    assert first.request == {"session_id": ["s1", "s2"], "limit": 1}
    assert [r.session_id for r in query.feed(first, envelope([{"session_id": "s1"}], next_="n1"))] == ["s1"]
    second = query.next_call()
    assert second is not None and second.request["next"] == "n1"
    query.feed(second, envelope([{"session_id": "s2"}], next_="n2"))
    third = query.next_call()
    assert third is not None
    assert query.feed(third, envelope([], next_="n3")) == []
    assert query.next_call() is None


def test_responses_query_validates_filters_and_limit() -> None:
    with pytest.raises(ValueError, match="at least one"):
        operations.ResponsesQuery()
    with pytest.raises(ValueError, match="limit"):
        operations.ResponsesQuery(user_ids=["u"], limit=51)


def test_models_keep_fields_the_api_adds() -> None:
    query = operations.JobsQuery(["a"])
    call = query.next_call()
    assert call is not None
    query.feed(call, envelope([{**job("a"), "data": {"sessions_stored": ["s"], "new": True}}]))
    stored = query.jobs["a"]
    assert stored.model_dump()["future_field"] == 1
    assert stored.data == {"sessions_stored": ["s"], "new": True}


@pytest.mark.parametrize(
    "data",
    [
        {"sessions_stored": "all", "errors": {"count": 2}, "halt_reason": 7},
        [{"session_id": "s", "status": "stored"}, "s2", 3],
        "completed fine",
        12,
        True,
        None,
    ],
    ids=["odd-object", "list", "text", "number", "bool", "null"],
)
def test_any_job_data_shape_is_kept_as_sent(data: Any) -> None:
    """What a job's `data` holds is undocumented: no shape of it may fail reading the jobs."""
    query = operations.JobsQuery(["a", "b"])
    call = query.next_call()
    assert call is not None
    query.feed(call, envelope([{**job("a"), "data": data}, job("b", "halted")]))
    assert query.jobs["a"].data == data and query.jobs["a"].status is JobStatus.COMPLETED
    assert query.jobs["b"].data is None
