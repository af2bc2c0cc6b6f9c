"""Reports render as HTML (table, chart, reasons, failures, escaped ids) and compact log lines."""

from __future__ import annotations

from pathlib import Path

from learnosity_core.reporting.render import render_html, summary_lines, write_report
from learnosity_core.reporting.report import ReportGroup, RunReport, merge_counts


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
        reasons=merge_counts([{"invalid_value": 2}, {"invalid_value": 1, "unknown_question": 4}]),
        failures=[("s-1", "job j halted: injected")],
        quarantine_csv="quarantine.csv",
    )


def test_html_has_table_totals_chart_reasons_and_failures() -> None:
    html = render_html(_report())
    assert "<td>total</td><td>14</td><td>5</td><td>4</td><td>1</td>" in html
    assert html.count("<rect ") == 8  # 2 groups x 4 columns
    assert "act-&lt;b&gt;" in html and "act-<b>" not in html  # ids are escaped
    assert "<td>invalid_value</td><td>3</td>" in html and "<td>unknown_question</td><td>4</td>" in html
    assert "job j halted: injected" in html and 'href="quarantine.csv"' in html


def test_summary_lines_are_compact_and_counted() -> None:
    lines = summary_lines(_report())
    assert lines[0].endswith("rows=14, submitted=5, completed=4, failed=1")
    assert "  act-a: rows=10, submitted=3, completed=3, failed=0" in lines
    assert lines[-1] == "  quarantined by reason: invalid_value=3, unknown_question=4"
    assert _report().failed == 1


def test_write_report_writes_the_page_and_returns_its_path(tmp_path: Path) -> None:
    path = write_report(_report(), tmp_path)
    assert path == str(tmp_path / "report.html")
    assert "<td>total</td><td>14</td>" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_held_back_groups_and_warnings_are_shown_and_logged() -> None:
    report = _report().model_copy(
        update={
            "held_back": [("act-x", "no question found in the template: check it")],
            "warnings": {"over_max_length": 2},
        }
    )
    html = render_html(report)
    assert "Held back" in html and "<td>act-x</td>" in html and "no question found" in html
    assert "<td>over_max_length</td><td>2</td>" in html
    lines = summary_lines(report)
    assert "  held back: act-x: no question found in the template: check it" in lines
    assert "  sent as written, with warnings: over_max_length=2" in lines
