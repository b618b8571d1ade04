"""Pure data side of the XEL progress report: normalised rows, totals, groups, CSV/JSON, comparison.

No Airflow and no HTTP here: the operator feeds API records in and writes what comes out, so every
figure of the report is testable without a server. Numbers are rounded once, here, so the CSV, the
JSON and the HTML page always agree.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

from xentree_provider.api.timestamps import format_timestamp, parse_timestamp
from xentree_provider.tabular.csv_lines import CsvLines
from xentree_provider.tabular.spreadsheet import spreadsheet_safe

__all__ = [
    "DISTRIBUTION_BUCKETS",
    "MODULE_COLUMNS",
    "NO_TEAM",
    "ORGANIZATION_COLUMNS",
    "REPORT_SCHEMA_VERSION",
    "Scope",
    "build_report",
    "compare_reports",
    "csv_text",
    "member_row",
    "module_row",
]

Scope = Literal["user", "organization"]

REPORT_SCHEMA_VERSION = 1
NO_TEAM = "(no team)"

#: Column order of ``progress.csv`` for the organization scope (one row per member). Never reorder:
#: append new columns at the end so downstream readers keep working.
ORGANIZATION_COLUMNS: tuple[str, ...] = (
    "user_id",
    "full_name",
    "email",
    "team",
    "role",
    "modules_completed",
    "progress_percent",
    "average_score",
    "learning_minutes",
    "last_activity_at",
    "active_in_window",
    "progress_change",
)

#: Column order of ``progress.csv`` for the user scope (one row per XEL module).
MODULE_COLUMNS: tuple[str, ...] = (
    "module_id",
    "title",
    "level",
    "skill",
    "status",
    "total_tasks",
    "completed_tasks",
    "progress_percent",
    "average_score",
    "last_activity_at",
    "active_in_window",
    "progress_change",
)

#: Progress buckets of the distribution chart: ``[low, high)`` percent, the last one closed (100 %).
DISTRIBUTION_BUCKETS: tuple[tuple[int, int], ...] = tuple((low, low + 10) for low in range(0, 100, 10))

_FLOAT_FIELDS = frozenset({"progress_percent", "average_score", "learning_minutes", "progress_change"})


# -- small coercions (the API may send ints, floats, strings or nulls) ------------------------------


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) or math.isinf(number) else number


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value + 0.0, digits) + 0.0  # +0.0 turns -0.0 into 0.0


def _percent(value: Any) -> float:
    number = _number(value)
    return _round(min(100.0, max(0.0, number)) if number is not None else 0.0) or 0.0


def _int(value: Any) -> int:
    number = _number(value)
    return int(number) if number is not None else 0


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _stamp(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return parse_timestamp(value)
    except (ValueError, TypeError):
        return None


def _in_window(when: datetime | None, window: tuple[datetime, datetime] | None) -> bool:
    if when is None:
        return False
    return window is None or window[0] <= when < window[1]


def team_of(record: Mapping[str, Any], organization_id: str | None) -> str:
    """The member's team in this organization.

    Prefers an ``affiliations`` entry for the organization (``{organization_id, team}``); otherwise the
    ``teams`` list (one team: that one; several: joined with ``"; "``); otherwise :data:`NO_TEAM`.
    """
    affiliations = record.get("affiliations")
    if isinstance(affiliations, list) and organization_id:
        for entry in affiliations:
            if isinstance(entry, Mapping) and entry.get("organization_id") == organization_id:
                return _team_name(entry.get("team")) or NO_TEAM
    teams = record.get("teams")
    if isinstance(teams, list):
        names = [name for name in (_team_name(t) for t in teams) if name]
        if names:
            return "; ".join(names)
    return _team_name(record.get("team")) or NO_TEAM


def _team_name(value: Any) -> str:
    if isinstance(value, Mapping):
        return _text(value.get("name") or value.get("id")).strip()
    return _text(value).strip()


# -- rows ---------------------------------------------------------------------------------------------


def member_row(
    record: Mapping[str, Any],
    *,
    organization_id: str | None,
    window: tuple[datetime, datetime] | None,
) -> dict[str, Any]:
    """One CSV/JSON row from a row of the organization progress directory."""
    last = _stamp(record.get("last_activity_at"))
    minutes = _number(record.get("learning_minutes")) or 0.0
    return {
        "user_id": _text(record.get("user_id") or record.get("id")),
        "full_name": _text(record.get("full_name") or record.get("name")),
        "email": _text(record.get("email")),
        "team": team_of(record, organization_id),
        "role": _text(record.get("role")),
        "modules_completed": _int(record.get("modules_completed")),
        "progress_percent": _percent(record.get("progress_percent")),
        "average_score": _round(_number(record.get("average_score"))),
        "learning_minutes": _round(minutes),
        "last_activity_at": format_timestamp(last) if last else None,
        "active_in_window": minutes > 0 or _in_window(last, window),
        "progress_change": None,
    }


def module_row(record: Mapping[str, Any], *, window: tuple[datetime, datetime] | None) -> dict[str, Any]:
    """One CSV/JSON row from an XEL module summary (the connection's learner)."""
    last = _stamp(record.get("last_activity_at"))
    status = _text(record.get("status"))
    progress = _percent(record.get("progress_percent"))
    if not status:
        status = "completed" if progress >= 100 else ("in_progress" if progress > 0 else "not_started")
    return {
        "module_id": _text(record.get("id") or record.get("module_id")),
        "title": _text(record.get("title")),
        "level": _text(record.get("level")),
        "skill": _text(record.get("skill")),
        "status": status,
        "total_tasks": _int(record.get("total_tasks")),
        "completed_tasks": _int(record.get("completed_tasks")),
        "progress_percent": progress,
        "average_score": _round(_number(record.get("average_score"))),
        "last_activity_at": format_timestamp(last) if last else None,
        "active_in_window": _in_window(last, window),
        "progress_change": None,
    }


def _member_sort_key(row: Mapping[str, Any]) -> tuple[str, str, str]:
    return (row["team"].casefold(), row["full_name"].casefold(), row["user_id"])


_LEVELS = ("A1", "A2", "B1", "B2", "C1", "C2")


def _module_sort_key(row: Mapping[str, Any]) -> tuple[int, str, str, str]:
    level = row["level"].upper()
    return (
        _LEVELS.index(level) if level in _LEVELS else len(_LEVELS),
        level,
        row["title"].casefold(),
        row["module_id"],
    )


def dedupe_sorted(rows: Iterable[dict[str, Any]], scope: Scope) -> list[dict[str, Any]]:
    """Drop repeated ids (a row can appear twice if the directory shifts while paging) and sort stably."""
    key = "user_id" if scope == "organization" else "module_id"
    unique: dict[str, dict[str, Any]] = {}
    for row in rows:
        unique.setdefault(row[key], row)
    ordered = list(unique.values())
    ordered.sort(key=_member_sort_key if scope == "organization" else _module_sort_key)
    return ordered


# -- aggregates ---------------------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return _round(statistics.fmean(values)) if values else None


def _distribution(values: Iterable[float]) -> list[dict[str, Any]]:
    counts = [0] * len(DISTRIBUTION_BUCKETS)
    for value in values:
        counts[min(len(counts) - 1, int(value // 10))] += 1
    return [
        {"label": f"{low}\u2013{high}%", "low": low, "high": high, "count": count}
        for (low, high), count in zip(DISTRIBUTION_BUCKETS, counts, strict=True)
    ]


def _groups(rows: Sequence[Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    buckets: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        buckets.setdefault(row[key] or NO_TEAM, []).append(row)
    groups = []
    for name in sorted(buckets, key=str.casefold):
        members = buckets[name]
        active = sum(1 for r in members if r["active_in_window"])
        scores = [r["average_score"] for r in members if r["average_score"] is not None]
        groups.append(
            {
                "name": name,
                "members": len(members),
                "active": active,
                "active_share": round(active / len(members), 4),
                "average_progress": _mean([r["progress_percent"] for r in members]),
                "average_score": _mean(scores),
                "learning_minutes": _round(sum(r.get("learning_minutes") or 0.0 for r in members)),
                "progress_change": None,
            }
        )
    return groups


def organization_totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Headline figures of an organization report."""
    progress = [r["progress_percent"] for r in rows]
    scores = [r["average_score"] for r in rows if r["average_score"] is not None]
    active = sum(1 for r in rows if r["active_in_window"])
    return {
        "members": len(rows),
        "active_members": active,
        "inactive_members": len(rows) - active,
        "active_share": round(active / len(rows), 4) if rows else 0.0,
        "average_progress": _mean(progress) if progress else 0.0,
        "median_progress": _round(statistics.median(progress)) if progress else 0.0,
        "average_score": _mean(scores),
        "average_modules_completed": _mean([float(r["modules_completed"]) for r in rows]),
        "learning_minutes": _round(sum(r["learning_minutes"] or 0.0 for r in rows)) or 0.0,
        "completed_members": sum(1 for r in rows if r["progress_percent"] >= 100),
    }


def user_totals(rows: Sequence[Mapping[str, Any]], dashboard: Mapping[str, Any]) -> dict[str, Any]:
    """Headline figures of a learner report (the dashboard wins where it has the figure)."""
    progress = [r["progress_percent"] for r in rows]
    scores = [r["average_score"] for r in rows if r["average_score"] is not None]
    active_modules = sum(1 for r in rows if r["active_in_window"])
    overall = _number(dashboard.get("overall_progress_percent"))
    average_score = _number(dashboard.get("average_score"))

    def count(status: str, field: str) -> int:
        value = _number(dashboard.get(field))
        return int(value) if value is not None else sum(1 for r in rows if r["status"] == status)

    return {
        "members": 1,
        "active_members": 1 if active_modules else 0,
        "inactive_members": 0 if active_modules else 1,
        "active_share": 1.0 if active_modules else 0.0,
        "average_progress": _percent(overall) if overall is not None else (_mean(progress) or 0.0),
        "median_progress": _round(statistics.median(progress)) if progress else 0.0,
        "average_score": _round(average_score) if average_score is not None else _mean(scores),
        "modules_total": _int(dashboard.get("modules_total")) or len(rows),
        "modules_completed": count("completed", "modules_completed"),
        "modules_in_progress": count("in_progress", "modules_in_progress"),
        "modules_not_started": sum(1 for r in rows if r["status"] == "not_started"),
        "modules_active_in_window": active_modules,
        "current_streak": _int(dashboard.get("current_streak")),
        "xp_total": _int(dashboard.get("xp_total")),
    }


def build_report(
    *,
    scope: Scope,
    rows: Sequence[dict[str, Any]],
    window: tuple[date, date] | None,
    generated_at: datetime,
    organization: Mapping[str, Any] | None = None,
    team_id: str | None = None,
    dashboard: Mapping[str, Any] | None = None,
    previous: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """The whole report as one JSON-able dict (what ``progress.json`` holds and the HTML shows).

    ``rows`` must already be normalised (:func:`member_row` / :func:`module_row`) and sorted.
    ``previous`` is an earlier report of the same scope; rows and groups then carry ``progress_change``
    and the report a ``comparison`` section.
    """
    if scope == "organization":
        totals = organization_totals(rows)
        groups = _groups(rows, "team")
        inactive = [
            {k: r[k] for k in ("user_id", "full_name", "email", "team", "progress_percent")}
            for r in rows
            if not r["active_in_window"]
        ]
        columns = ORGANIZATION_COLUMNS
    else:
        totals = user_totals(rows, dashboard or {})
        groups = _groups(rows, "level")
        inactive = []
        columns = MODULE_COLUMNS
    report: dict[str, Any] = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "scope": scope,
        "title": title or default_title(scope, organization),
        "generated_at": format_timestamp(generated_at),
        "window": {"start_date": window[0].isoformat(), "end_date": window[1].isoformat()}
        if window
        else None,
        "organization": dict(organization) if organization else None,
        "team_id": team_id,
        "columns": list(columns),
        "totals": totals,
        "groups": groups,
        "group_by": "team" if scope == "organization" else "level",
        "distribution": _distribution(r["progress_percent"] for r in rows),
        "inactive": inactive,
        "dashboard": dict(dashboard) if dashboard else None,
        "comparison": None,
        "rows": list(rows),
    }
    if previous is not None:
        report["comparison"] = compare_reports(report, previous)
    return report


def default_title(scope: Scope, organization: Mapping[str, Any] | None) -> str:
    """``Xentree English progress: <organization>`` or ``... : my learning``."""
    if scope == "organization":
        name = (organization or {}).get("name") or (organization or {}).get("id") or "organization"
        return f"Xentree English progress — {name}"
    return "Xentree English progress — my learning"


def compare_reports(current: dict[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """Fill ``progress_change`` in ``current``'s rows and groups; return the comparison summary.

    Raises ``ValueError`` when ``previous`` is not a report of the same scope.
    """
    scope = current["scope"]
    if not isinstance(previous, Mapping) or "totals" not in previous or "rows" not in previous:
        raise ValueError("the previous report is not a progress.json written by this operator")
    if previous.get("scope") != scope:
        raise ValueError(
            f"the previous report has scope {previous.get('scope')!r} but this report has scope {scope!r}; "
            "point previous_report_path at a report of the same scope"
        )
    key = "user_id" if scope == "organization" else "module_id"
    before = {str(row.get(key)): row for row in previous.get("rows") or [] if isinstance(row, Mapping)}
    now_keys = set()
    for row in current["rows"]:
        now_keys.add(row[key])
        old = before.get(row[key])
        old_progress = _number(old.get("progress_percent")) if old else None
        row["progress_change"] = (
            _round(row["progress_percent"] - old_progress) if old_progress is not None else None
        )
    previous_groups = {str(g.get("name")): g for g in previous.get("groups") or [] if isinstance(g, Mapping)}
    for group in current["groups"]:
        old_group = previous_groups.get(group["name"])
        old_avg = _number(old_group.get("average_progress")) if old_group else None
        if old_avg is not None and group["average_progress"] is not None:
            group["progress_change"] = _round(group["average_progress"] - old_avg)
    old_totals = previous.get("totals") or {}
    deltas: dict[str, float | None] = {}
    for name in (
        "members",
        "active_members",
        "active_share",
        "average_progress",
        "average_score",
        "learning_minutes",
    ):
        new_value, old_value = _number(current["totals"].get(name)), _number(old_totals.get(name))
        digits = 4 if name == "active_share" else 1
        deltas[name] = (
            _round(new_value - old_value, digits) if new_value is not None and old_value is not None else None
        )
    movers = [r for r in current["rows"] if r["progress_change"]]
    movers.sort(key=lambda r: (-abs(r["progress_change"]), r[key]))
    label = "full_name" if scope == "organization" else "title"
    was_active = {k for k, r in before.items() if r.get("active_in_window")}
    newly_inactive = [r[key] for r in current["rows"] if r[key] in was_active and not r["active_in_window"]]
    return {
        "previous_generated_at": previous.get("generated_at"),
        "previous_window": previous.get("window"),
        "totals_change": deltas,
        "new": sorted(now_keys - set(before)),
        "gone": sorted(set(before) - now_keys),
        "newly_inactive": newly_inactive,
        "top_changes": [
            {
                key: r[key],
                "name": r[label],
                "progress_percent": r["progress_percent"],
                "progress_change": r["progress_change"],
            }
            for r in movers[:10]
        ],
    }


# -- CSV ----------------------------------------------------------------------------------------------


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if column in _FLOAT_FIELDS and isinstance(value, int | float):
        return f"{float(value):.1f}"
    if isinstance(value, str):
        return spreadsheet_safe(value)
    return str(value)


def csv_text(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> Iterable[str]:
    """The CSV lines (header first) in the fixed column order; the same rows give the same bytes.

    The CSV is for people: text that a spreadsheet would run as a formula gets a leading ``'``
    (:func:`~xentree_provider.tabular.spreadsheet.spreadsheet_safe`); ``progress.json`` keeps it raw.
    """
    lines = CsvLines()
    yield lines.line(columns)
    for row in rows:
        yield lines.line(_cell(c, row.get(c)) for c in columns)
