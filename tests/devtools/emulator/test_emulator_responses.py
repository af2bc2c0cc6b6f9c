"""`sessions/responses`: filters, the clamped limit and the `next` that never goes away."""

from __future__ import annotations

import pytest
from learnosity_sdk.request import DataApi


@pytest.fixture
def seven_sessions(api, build) -> list[dict]:
    entries = [build.session(user_id=f"student-{i % 3}") for i in range(7)]
    api.submit(build.from_template(*entries))
    return entries


def test_pages_until_an_empty_page_and_next_is_always_there(api, seven_sessions) -> None:
    seen, request, sizes = [], {"limit": 3}, []
    while True:
        body = api.ok("sessions/responses", request)
        assert "next" in body["meta"]
        assert body["meta"]["records"] == len(body["data"])
        sizes.append(len(body["data"]))
        if not body["data"]:
            break
        seen += [s["session_id"] for s in body["data"]]
        request = {"limit": 3, "next": body["meta"]["next"]}
    assert sizes == [3, 3, 1, 0]
    assert seen == [e["session_id"] for e in seven_sessions]


def test_the_sdk_iterator_stops_on_the_empty_page(api, seven_sessions) -> None:
    security = {"consumer_key": api.key, "domain": "localhost"}
    records = list(
        DataApi().results_iter(
            f"{api.url}/v2025.2.LTS/sessions/responses", security, api.secret, {"limit": 2}
        )
    )
    assert len(records) == 7


def test_session_shape(api, build, seven_sessions) -> None:
    entry = seven_sessions[0]
    (stored,) = api.ok("sessions/responses", {"session_id": [entry["session_id"]]})["data"]
    assert {k: stored[k] for k in ("user_id", "activity_id", "session_id", "status")} == {
        "user_id": entry["user_id"],
        "activity_id": entry["activity_id"],
        "session_id": entry["session_id"],
        "status": "Completed",
    }
    assert stored["num_questions"] == len(build.questions())
    assert stored["num_attempted"] == len(entry["responses"])
    assert stored["dt_saved"] and stored["dt_started"] and stored["dt_completed"]
    by_id = {r["response_id"]: r for r in stored["responses"]}
    for sent in entry["responses"]:
        got = by_id[sent["question_id"]]
        assert got["question_type"] == build.questions()[sent["question_id"]].type
        assert got["attempted"] is True
        assert (got["response"]["value"], got["response"]["type"]) == (sent["value"], sent["type"])


def test_unattempted_response(api, build) -> None:
    entry = build.session()
    entry["responses"][0]["value"] = None
    api.submit(build.from_template(entry))
    (stored,) = api.ok("sessions/responses", {"session_id": [entry["session_id"]]})["data"]
    assert stored["responses"][0]["attempted"] is False
    assert stored["num_attempted"] == len(entry["responses"]) - 1


def test_filters(api, seven_sessions) -> None:
    by_user = api.ok("sessions/responses", {"user_id": ["student-1"]})["data"]
    assert {s["session_id"] for s in by_user} == {
        e["session_id"] for e in seven_sessions if e["user_id"] == "student-1"
    }
    ids = [seven_sessions[1]["session_id"], seven_sessions[4]["session_id"]]
    assert [s["session_id"] for s in api.ok("sessions/responses", {"session_id": ids})["data"]] == ids
    assert api.ok("sessions/responses", {"activity_id": ["demo-algebra-linear-p1"]})["data"] == []
    assert api.ok("sessions/responses", {"status": ["Incomplete"]})["data"] == []


def test_limit_is_clamped_to_50(api, build) -> None:
    for batch in range(2):
        api.submit(build.from_template(*[build.session(user_id=f"u{batch}-{i}") for i in range(30)]))
    body = api.ok("sessions/responses", {"limit": 500})
    assert body["meta"]["records"] == 50
    assert len(api.ok("sessions/responses", {})["data"]) == 50


@pytest.mark.parametrize(
    ("request_body", "code"),
    [
        ({"session_id": [f"s{i}" for i in range(1001)]}, 20002),
        ({"user_id": "student-1"}, 20009),
        ({"limit": 0}, 20009),
        ({"next": "not-a-cursor"}, 20009),
        ({"status": ["Finished"]}, 20004),
        ({"sort": "desc"}, 20009),
    ],
)
def test_bad_responses_requests(api, request_body: dict, code: int) -> None:
    response = api.post("sessions/responses", request_body)
    assert (response.status_code, response.json()["meta"]["code"]) == (400, code)
