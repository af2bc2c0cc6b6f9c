"""A run report as an HTML page (table, chart, quarantine reasons, failures) and as log lines."""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import jinja2

from learnosity_core.delivery.staging import StoragePath
from learnosity_core.reporting.report import RunReport

log = logging.getLogger(__name__)

_CHART_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]
REPORT_FILE = "report.html"
SUMMARY_FILE = "summary.txt"


def _bars(report: RunReport) -> list[dict[str, Any]]:
    """Geometry of a grouped bar chart (one cluster per group, one bar per column)."""
    peak = max([v for g in report.groups for v in g.counts.values()] + [1])
    width = max(1, len(report.columns))
    bars = []
    for gi, group in enumerate(report.groups):
        for ci, column in enumerate(report.columns):
            value = group.counts.get(column, 0)
            height = 160 * value / peak
            bars.append(
                {
                    "x": 60 + gi * (width * 14 + 24) + ci * 14,
                    "y": 190 - height,
                    "height": height,
                    "colour": _CHART_COLOURS[ci % len(_CHART_COLOURS)],
                    "title": f"{group.name} - {column}: {value}",
                }
            )
    return bars


def render_html(report: RunReport) -> str:
    source = resources.files("learnosity_core.reporting").joinpath("report.html.j2").read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    chart_width = 80 + len(report.groups) * (max(1, len(report.columns)) * 14 + 24)
    return env.from_string(source).render(
        report=report,
        totals=report.totals(),
        bars=_bars(report),
        chart_width=chart_width,
        colours=_CHART_COLOURS,
    )


def summary_lines(report: RunReport) -> list[str]:
    """Compact, learner-data-free lines for the task log."""
    totals = report.totals()
    lines = [
        f"{report.title} {report.run_id}{' (dry run)' if report.dry_run else ''}: "
        + ", ".join(f"{c}={totals[c]}" for c in report.columns)
    ]
    lines += [
        f"  {g.name}: " + ", ".join(f"{c}={g.counts.get(c, 0)}" for c in report.columns)
        for g in report.groups
    ]
    if report.balance:
        lines.append(f"  {report.balance}")
    lines += [f"  held back: {group}: {reason}" for group, reason in report.held_back]
    lines += [f"  PROBLEM: {problem}" for problem in report.problems]
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
