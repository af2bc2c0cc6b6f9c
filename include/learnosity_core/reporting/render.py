"""A run report as an HTML page (summary sentence, charts, reasons explained, failures linked to
their history) and as log lines. The page is self-contained (inline CSS and SVG, no script) so it
works offline, on a phone and on paper."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import jinja2

from learnosity_core.delivery.staging import StoragePath
from learnosity_core.reporting.reasons import Reason, explain, explain_failure
from learnosity_core.reporting.report import Chart, RunReport, revisions_note

log = logging.getLogger(__name__)

TONES = {"good": "#2e7d32", "neutral": "#4e79a7", "warn": "#b26a00", "bad": "#c62828"}
MIN_BAR_PERCENT = 1.5  # a count of 1 beside 100,000 still shows as a bar
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.txt"


def _percent(value: int, peak: int) -> float:
    if value <= 0 or peak <= 0:
        return 0.0
    return max(100.0 * value / peak, MIN_BAR_PERCENT)


def _counted(value: int, unit: str) -> str:
    """ "1 row", "2 rows": a chart's unit is plural."""
    return f"{value:,} {unit.removesuffix('s') if value == 1 else unit}"


def _chart_rows(chart: Chart) -> list[dict[str, Any]]:
    """Each bar with its width (share of the chart's largest bar) and its segments' offsets."""
    rows = []
    for bar in chart.bars:
        width = _percent(bar.value, chart.peak)
        segments, x = [], 0.0
        for segment in bar.segments:
            share = width * segment.value / bar.value if bar.value else 0.0
            if segment.value:
                share = max(share, MIN_BAR_PERCENT / 2)
                segments.append({"x": x, "width": share, "colour": TONES[segment.tone], "title": segment})
                x += share
        rows.append({"bar": bar, "width": width, "colour": TONES[bar.tone], "segments": segments})
    return rows


def _explained(report: RunReport) -> dict[str, Reason]:
    """Every code the report shows (quarantine reasons, warnings, landing entries), explained; a
    code missing from `reasons` says so instead of failing the report."""
    codes = [*report.reasons, *report.warnings, *(why.split(": ", 1)[-1] for _, why in report.left_in_place)]
    unknown = "No explanation recorded for this code yet: read the message in the quarantine file."
    return {
        code: explain(code, report.data_format) or Reason(code=code, meaning=unknown, next_step="-")
        for code in codes
    }


def render_html(report: RunReport) -> str:
    source = resources.files("learnosity_core.reporting").joinpath("report.html.j2").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["n"] = lambda value: f"{value:,}"
    env.filters["counted"] = _counted
    return env.from_string(source).render(
        report=report,
        totals=report.totals(),
        charts=[(chart, _chart_rows(chart)) for chart in report.charts],
        explained=_explained(report),
        failure_help={f.error: explain_failure(f.error, report.data_format) for f in report.failures},
        revisions=revisions_note(report.ignore_response_revisions, report.data_format),
        tones=TONES,
    )


def summary_lines(report: RunReport) -> list[str]:
    """Compact, learner-data-free lines for the task log and summary.txt: the summary sentence first."""
    totals = report.totals()
    lines = [
        report.sentence(),
        f"{report.title} {report.run_id}{' (dry run)' if report.dry_run else ''}: "
        + ", ".join(f"{c}={totals[c]}" for c in report.columns),
    ]
    lines += [
        f"  {g.name}: " + ", ".join(f"{c}={g.counts.get(c, 0)}" for c in report.columns)
        for g in report.groups
    ]
    if report.balance:
        lines.append(f"  {report.balance}")
    lines += [f"  held back: {group}: {reason}" for group, reason in report.held_back]
    lines += [f"  PROBLEM: {problem}" for problem in report.problems]
    if report.ignore_response_revisions is not None:
        lines.append(f"  ignore_response_revisions={str(report.ignore_response_revisions).lower()}")
    if report.warnings:
        lines.append(
            "  sent as written, with warnings: "
            + ", ".join(f"{k}={v}" for k, v in sorted(report.warnings.items()))
        )
    if report.reasons:
        lines.append(
            "  quarantined by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(report.reasons.items()))
        )
    return lines


def write_report(report: RunReport, out: StoragePath) -> str:
    """Write report.html and its summary lines (summary.txt, for scripts and terminals) into
    `out`, log the summary without learner data, return the page's path."""
    path = out / REPORT_FILE
    path.write_text(render_html(report), encoding="utf-8")
    lines = summary_lines(report)
    (out / SUMMARY_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    for line in lines:
        log.info("%s", line)
    log.info("Report: %s", path)
    return str(path)
