"""The typed schema of the membership sync's files (for their documentation and lineage)."""

from __future__ import annotations

from xentree_provider.tabular.schema import Column

__all__ = ["AUDIT_SCHEMA", "PLAN_SCHEMA", "REPORT_SCHEMA"]

#: The top-level fields of the JSON report (``grace``, ``approval*`` and ``audit_log`` only when they apply).
REPORT_SCHEMA: tuple[Column, ...] = (
    Column("report_version", "int64", "version of this layout"),
    Column("organization_id", "string"),
    Column("generated_at", "timestamp"),
    Column("dry_run", "bool"),
    Column("status", "string", "dry_run, blocked, drifted, aborted, applied or failed"),
    Column("source", "string", "the roster read"),
    Column("settings", "json", "the guards and options of the run"),
    Column("summary", "json", "planned changes per kind"),
    Column("guards", "json", "the guard checks"),
    Column("plan", "list", "the planned changes", (Column("element", "json"),)),
    Column("skipped", "list", "roster rows left alone, with the reason", (Column("element", "json"),)),
    Column(
        "unknown_role", "list", "members with a role the sync does not know", (Column("element", "json"),)
    ),
    Column("waiting_removal", "list", "members missing, not removed yet", (Column("element", "json"),)),
    Column("removals_reported_only", "list", "removals reported, not made", (Column("element", "json"),)),
    Column("result", "json", "what the apply did (null before it)"),
    Column("grace", "json", "missing-run counts before removal"),
    Column("approval_required", "bool", "a dry run whose plan needs approval"),
    Column("approval", "json", "the approved plan checked, and the drift since"),
    Column("audit_log", "string", "where the audit log of the writes is"),
    Column("plan_parquet", "string", "where the plan is as Parquet (parquet=True)"),
    Column("audit_parquet", "string", "where the audit log is as Parquet (parquet=True, after an apply)"),
)

#: One planned change (a row of the report's ``plan``; ``<report>.plan.parquet``).
PLAN_SCHEMA: tuple[Column, ...] = (
    Column("action", "string", "add, update or remove"),
    Column("email", "string"),
    Column("user_id", "string", "the member's user id (not known before an add)"),
    Column("role", "string", "the role after the change"),
    Column("from_role", "string", "the role before the change"),
    Column("team_id", "string", "the team after the change"),
    Column("from_team_id", "string", "the team before the change"),
    Column("note", "string"),
)

#: One line of the audit log: one write request sent (``<report>.audit.jsonl`` / ``.audit.parquet``).
AUDIT_SCHEMA: tuple[Column, ...] = (
    Column("organization_id", "string"),
    Column("time", "timestamp", "when the request was sent (UTC)"),
    Column("action", "string", "add, change_role, change_team or remove"),
    Column("email", "string"),
    Column("before", "json", "the member before (null for an add)"),
    Column("after", "json", "the member after (null for a removal)"),
    Column("outcome", "string", "done, already a member, already removed, failed or unknown"),
    Column("detail", "string"),
    Column("request_id", "string", "the response's X-Request-ID, when given"),
)
