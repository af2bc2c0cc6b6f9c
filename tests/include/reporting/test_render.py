"""Reports render as HTML (summary sentence, labelled charts with their values, reasons explained,
failures linked to their history, escaped ids) and compact log lines."""

from __future__ import annotations

import re
from pathlib import Path

from learnosity_core.reporting.render import MIN_BAR_PERCENT, render_html, summary_lines, write_report
from learnosity_core.reporting.report import (
    Bar,
    Chart,
    Clause,
    Failure,
    ReportGroup,
    RunReport,
    Segment,
    merge_counts,
)


def _report() -> RunReport:
    return RunReport(
        title="Learnosity template submission",
        dag_id="learnosity_template_submission",
        run_id="manual__1",
        columns=["rows", "submitted", "completed", "failed"],
        groups=[
            ReportGroup(name="act-a", counts={"rows": 10, "submitted": 3, "completed": 3, "failed": 0}),
            ReportGroup(name="act-<b>", counts={"rows": 4, "submitted": 2, "completed": 1, "failed": 1}),
        ],
        headline=[
            Clause(text="4 sessions delivered and verified"),
            Clause(text="7 rows held back in 2 sessions (quarantined)", anchor="quarantine"),
        ],
        charts=[
            Chart(
                title="Rows by outcome",
                axis="outcome",
                unit="rows",
                bars=[Bar(label="staged", value=120_000, tone="good"), Bar(label="quarantined", value=1)],
            ),
            Chart(
                title="Rows by activity",
                axis="activity",
                unit="rows",
                bars=[
                    Bar(
                        label="a-very-long-activity-name-that-must-never-be-cut-short-<b>",
                        value=14,
                        segments=[Segment(label="staged", value=10), Segment(label="quarantined", value=4)],
                    )
                ],
            ),
        ],
        reasons=merge_counts([{"invalid_value": 2}, {"invalid_value": 1, "unknown_question": 4}]),
        failures=[
            Failure(session_id="s-1", label="s-1", error="job j halted: injected"),
            Failure(session_id="a/b <&>", label="a/b <&>", error="invalid_value: x", status="rejected"),
        ],
        quarantine_csv="quarantine.csv",
    )


def _cells(html: str) -> list[str]:
    return re.findall(r'<div class="value" role="cell">([^<]*)</div>', html)


def test_html_has_the_summary_sentence_table_totals_and_failures() -> None:
    html = render_html(_report())
    assert (
        '<p class="headline not-green" id="summary">4 sessions delivered and verified; 7 rows held back'
        ' in 2 sessions (quarantined): <a href="#quarantine">see the list</a>.</p>'
    ) in html
    assert "<td>total</td><td>14</td><td>5</td><td>4</td><td>1</td>" in html
    assert "act-&lt;b&gt;" in html and "act-<b>" not in html  # ids are escaped
    assert "job j halted: injected" in html and 'href="quarantine.csv"' in html


def test_charts_print_their_values_labels_and_full_names() -> None:
    html = render_html(_report())
    assert _cells(html) == ["120,000", "1", "14"]
    assert (
        "<figcaption>Rows by outcome</figcaption>" in html
        and "<figcaption>Rows by activity</figcaption>" in html
    )
    assert 'role="columnheader">outcome</div>' in html and "120,000 rows</span>" in html  # axis labels
    assert "a-very-long-activity-name-that-must-never-be-cut-short-&lt;b&gt;" in html
    # one count beside 120,000 still shows; a stacked bar has one rectangle per part
    assert f'width="{MIN_BAR_PERCENT:.2f}%"' in html
    assert 'aria-label="quarantined: 1 row"' in html
    assert html.count("<title>staged: 10</title>") == 1 and "<title>quarantined: 4</title>" in html


def test_quarantine_reasons_are_explained_with_the_next_step() -> None:
    html = render_html(_report())
    row = re.search(r"<tr><td>unknown_question</td><td>4</td>(.*?)</tr>", html)
    assert row and "not in the activity&#39;s template" in row.group(1)
    assert "Check the question_id against the activity in Learnosity" in row.group(1)
    assert "<td>invalid_value</td><td>3</td>" in html


def test_failed_and_rejected_sessions_link_to_their_delivery_history() -> None:
    html = render_html(_report())
    assert '<a class="history" href="/learnosity/lookup?session=s-1">s-1</a>' in html
    assert (
        '<a class="history" href="/learnosity/lookup?session=a%2Fb%20%3C%26%3E">a/b &lt;&amp;&gt;</a>' in html
    )
    assert '<td class="bad">rejected</td>' in html
    assert "Learnosity halted the job that carried it" in html  # delivery's wording explained


def test_an_empty_run_says_nothing_to_report_instead_of_a_blank_chart() -> None:
    empty = RunReport(title="t", dag_id="d", run_id="r", columns=["rows"], groups=[])
    html = render_html(empty)
    assert "<svg" not in html and "Nothing to report" in html
    assert summary_lines(empty)[0] == "Nothing to report."
    zeros = empty.model_copy(
        update={
            "charts": [
                Chart(
                    title="Sessions",
                    axis="status",
                    unit="sessions",
                    bars=[Bar(label="x", value=0)],
                    empty="No session was sent.",
                )
            ]
        }
    )
    html = render_html(zeros)
    assert "<svg" not in html and '<p class="nothing">No session was sent.</p>' in html


def test_the_page_is_responsive_and_printable() -> None:
    html = render_html(_report())
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "@media (max-width: 640px)" in html and "@media print" in html
    assert html.count('<div class="scroll"><table>') >= 3  # tables scroll sideways on a phone
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_the_report_says_whether_response_revisions_were_ignored() -> None:
    unset = render_html(_report())
    assert "did not record whether ignore_response_revisions was set" in unset
    on = render_html(_report().model_copy(update={"ignore_response_revisions": True}))
    assert "ignore_response_revisions was ON for this run" in on
    off = render_html(_report().model_copy(update={"ignore_response_revisions": False}))
    assert "ignore_response_revisions was off for this run (the default)" in off
    assert "Controls whether to ignore the revision value inside a recorded response" in off
    assert "  ignore_response_revisions=false" in summary_lines(
        _report().model_copy(update={"ignore_response_revisions": False})
    )


def test_summary_lines_start_with_the_sentence_and_are_counted() -> None:
    lines = summary_lines(_report())
    assert (
        lines[0]
        == "4 sessions delivered and verified; 7 rows held back in 2 sessions (quarantined): see the list."
    )
    assert lines[1].endswith("rows=14, submitted=5, completed=4, failed=1")
    assert "  act-a: rows=10, submitted=3, completed=3, failed=0" in lines
    assert lines[-1] == "  quarantined by reason: invalid_value=3, unknown_question=4"
    assert _report().failed == 1


def test_write_report_writes_the_page_and_returns_its_path(tmp_path: Path) -> None:
    path = write_report(_report(), tmp_path)
    assert path == str(tmp_path / "report.html")
    assert "<td>total</td><td>14</td>" in (tmp_path / "report.html").read_text(encoding="utf-8")
    assert (
        (tmp_path / "summary.txt")
        .read_text(encoding="utf-8")
        .startswith("4 sessions delivered and verified;")
    )


def test_held_back_groups_and_warnings_are_shown_and_logged() -> None:
    report = _report().model_copy(
        update={
            "held_back": [("act-x", "no question found in the template: check it")],
            "warnings": {"over_max_length": 2},
        }
    )
    html = render_html(report)
    assert "Held back" in html and "<td>act-x</td>" in html and "no question found" in html
    assert "<td>over_max_length</td><td>2</td>" in html and "sent as written" in html
    lines = summary_lines(report)
    assert "  held back: act-x: no question found in the template: check it" in lines
    assert "  sent as written, with warnings: over_max_length=2" in lines


def test_an_unknown_code_is_shown_as_unexplained_not_dropped() -> None:
    html = render_html(_report().model_copy(update={"reasons": {"brand_new_code": 2}}))
    assert '<td>brand_new_code</td><td>2</td><td class="text">No explanation recorded' in html
