"""The typed schema of the XEL report's table (``progress.csv`` / ``progress.parquet``) and its JSON.

The column order is :data:`~xentree_provider.reporting.data.ORGANIZATION_COLUMNS` /
:data:`~xentree_provider.reporting.data.MODULE_COLUMNS`; this module adds each column's type.
"""

from __future__ import annotations

from xentree_provider.reporting.data import MODULE_COLUMNS, ORGANIZATION_COLUMNS, Scope
from xentree_provider.tabular.schema import Column, LogicalType

__all__ = ["report_json_schema", "table_schema"]

_TYPES: dict[str, tuple[LogicalType, str]] = {
    "user_id": ("string", "the member's user id"),
    "full_name": ("string", "the member's full name"),
    "email": ("string", "the member's e-mail"),
    "team": ("string", "the member's team in this organization ('; '-joined when several)"),
    "role": ("string", "the member's role"),
    "modules_completed": ("int64", "XEL modules completed"),
    "module_id": ("string", "the XEL module's id"),
    "title": ("string", "the module's title"),
    "level": ("string", "CEFR level, A1 to C2"),
    "skill": ("string", "speaking, writing, listening, reading or vocabulary"),
    "status": ("string", "not_started, in_progress or completed"),
    "total_tasks": ("int64", "tasks in the module"),
    "completed_tasks": ("int64", "tasks completed"),
    "progress_percent": ("float64", "progress, 0 to 100, one decimal"),
    "average_score": ("float64", "average score, 0 to 100, one decimal; empty when none"),
    "learning_minutes": ("float64", "learning minutes in the window"),
    "last_activity_at": ("timestamp", "last activity (UTC)"),
    "active_in_window": ("bool", "active in the report window"),
    "progress_change": ("float64", "change of progress_percent since the previous report"),
}


def table_schema(scope: Scope) -> tuple[Column, ...]:
    """The report table's columns with their types, in file order."""
    names = ORGANIZATION_COLUMNS if scope == "organization" else MODULE_COLUMNS
    return tuple(Column(name, _TYPES[name][0], _TYPES[name][1]) for name in names)


def report_json_schema(scope: Scope) -> tuple[Column, ...]:
    """The top-level fields of ``progress.json`` (its ``rows`` are the table's rows)."""
    return (
        Column("schema_version", "int64", "version of this layout"),
        Column("scope", "string", "organization or user"),
        Column("title", "string"),
        Column("generated_at", "timestamp"),
        Column(
            "window",
            "struct",
            "UTC days, both included",
            (Column("start_date", "string"), Column("end_date", "string")),
        ),
        Column("organization", "json", "id, name and slug of the organization"),
        Column("team_id", "string"),
        Column("columns", "list", "the table's column order", (Column("element", "string"),)),
        Column("totals", "json", "headline figures"),
        Column("groups", "json", "per team (or CEFR level) figures"),
        Column("group_by", "string", "team or level"),
        Column("distribution", "json", "members per band of ten percent"),
        Column("inactive", "json", "members not active in the window"),
        Column("dashboard", "json", "the learner's XEL dashboard (user scope)"),
        Column("comparison", "json", "change since the previous report"),
        Column("rows", "list", "the table", (Column("element", "struct", fields=table_schema(scope)),)),
    )
