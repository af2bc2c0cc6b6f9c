"""Run reports: an HTML page (table, chart, quarantine reasons, failures) and a log summary.

Both DAGs describe a run as rows of counts per group (an activity, or the failed-submission
corpus), so one renderer serves them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import jinja2
from pydantic import BaseModel, Field

from learnosity_core.ledger import SessionStatus

_CHART_COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]


class ReportGroup(BaseModel):
    name: str
    counts: dict[str, int]


class RunReport(BaseModel):
    title: str
    dag_id: str
    run_id: str
    dry_run: bool = False
    window: str | None = None
    columns: list[str]
    groups: list[ReportGroup]
    reasons: dict[str, int] = Field(default_factory=dict)
    failures: list[tuple[str, str]] = Field(default_factory=list)
    quarantine_csv: str | None = None
    generated_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def totals(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for group in self.groups:
            totals.update(group.counts)
        return {c: totals.get(c, 0) for c in self.columns}

    @property
    def failed(self) -> int:
        return self.totals().get("failed", 0)


def outcome_counts(
    sessions: Iterable[Mapping[str, Any]], key: str = "activity_id"
) -> dict[str, Counter[str]]:
    """Per group: sessions submitted, completed, failed and verified, from ledger rows."""
    counts: dict[str, Counter[str]] = {}
    for row in sessions:
        c = counts.setdefault(str(row.get(key) or "-"), Counter())
        status = row["status"]
        if status == SessionStatus.QUARANTINED:
            continue
        if row.get("job_reference"):
            c["submitted"] += 1
        if status == SessionStatus.COMPLETED:
            c["completed"] += 1
        elif status == SessionStatus.FAILED:
            c["failed"] += 1
        if row.get("verified"):
            c["verified"] += 1
    return counts


def failures(sessions: Iterable[Mapping[str, Any]], limit: int = 200) -> list[tuple[str, str]]:
    rows = [(str(r["session_id"]), str(r.get("error") or "")) for r in sessions if r["status"] == "failed"]
    return rows[:limit]


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
    source = resources.files("learnosity_core").joinpath("templates/report.html.j2").read_text("utf-8")
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
    if report.reasons:
        lines.append(
            "  quarantined by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(report.reasons.items()))
        )
    return lines


def merge_reasons(groups: Sequence[Mapping[str, int]]) -> dict[str, int]:
    merged: Counter[str] = Counter()
    for reasons in groups:
        merged.update(reasons)
    return dict(merged)
