"""Assemble the XEL progress report from the API: fetch, normalise rows, compare, build the report dict.

The client is anything with the four reads of :class:`ProgressSource` (the provider's hook is one), so
this module needs neither Airflow nor HTTP and runs against an in-memory source in tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import quote

from xentree_provider.api.errors import XentreeConfigError, XentreeError, XentreePermissionError
from xentree_provider.api.routes import route
from xentree_provider.reporting.data import Scope, build_report, dedupe_sorted, member_row, module_row
from xentree_provider.reporting.previous import PreviousReport

__all__ = [
    "ProgressSource",
    "ReportLog",
    "ReportRequest",
    "assemble_report",
    "day_window",
    "report_inputs",
    "report_summary",
]


class ProgressSource(Protocol):
    """The reads a progress report needs (``XentreeHook`` provides them)."""

    def get_organization(self, org_id: str) -> Mapping[str, Any]:
        """One organization (for its name)."""
        ...

    def iter_member_progress(
        self, org_id: str, *, start_date: date, end_date: date, team_id: str | None, page_size: int
    ) -> Iterable[Mapping[str, Any]]:
        """Every row of the organization's progress directory for the UTC days given."""
        ...

    def get_dashboard(self) -> Mapping[str, Any]:
        """The connection's learner's XEL dashboard."""
        ...

    def iter_modules(self) -> Iterable[Mapping[str, Any]]:
        """Every XEL module with the learner's progress."""
        ...


class ReportLog(Protocol):
    """A printf-style logger (``logging.Logger`` and Airflow's task logger both fit)."""

    def info(self, event: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Log at INFO."""

    def warning(self, event: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Log at WARNING."""


@dataclass(frozen=True)
class ReportRequest:
    """What to report on: the scope, the UTC days (both included) and, for an organization, which."""

    scope: Scope
    days: tuple[date, date] | None
    organization_id: str | None = None
    team_id: str | None = None
    page_size: int = 200
    title: str | None = None


def day_window(days: tuple[date, date] | None) -> tuple[datetime, datetime] | None:
    """The instants ``[first day 00:00, day after the last 00:00)`` in UTC, or None without days."""
    if days is None:
        return None
    return (
        datetime.combine(days[0], time(), tzinfo=timezone.utc),
        datetime.combine(days[1] + timedelta(days=1), time(), tzinfo=timezone.utc),
    )


def _organization(source: ProgressSource, org_id: str, log: ReportLog) -> dict[str, Any]:
    """The organization's id, name and slug; its id as its name when it cannot be read."""
    try:
        record = source.get_organization(org_id)
    except XentreePermissionError:
        log.info("Cannot read organization %s's name (no organizations:read); using its id", org_id)
        return {"id": org_id, "name": org_id}
    except XentreeError as error:
        log.warning("Could not read organization %s (%s); using its id as its name", org_id, error)
        return {"id": org_id, "name": org_id}
    return {
        "id": str(record.get("id") or org_id),
        "name": str(record.get("name") or org_id),
        "slug": record.get("slug"),
    }


def _member_rows(
    source: ProgressSource, request: ReportRequest, org_id: str, log: ReportLog
) -> list[dict[str, Any]]:
    assert request.days is not None
    first, last = request.days
    window = day_window(request.days)
    log.info(
        "Reading the progress directory of organization %s for %s to %s (UTC days, both included)%s",
        org_id,
        first,
        last,
        f", team {request.team_id}" if request.team_id else "",
    )
    records = source.iter_member_progress(
        org_id, start_date=first, end_date=last, team_id=request.team_id, page_size=request.page_size
    )
    rows = dedupe_sorted(
        (member_row(record, organization_id=org_id, window=window) for record in records), "organization"
    )
    if not rows:
        log.warning("The directory returned no members for organization %s in this window", org_id)
    return rows


def assemble_report(
    source: ProgressSource,
    request: ReportRequest,
    *,
    previous: PreviousReport | None,
    generated_at: datetime,
    log: ReportLog,
) -> dict[str, Any]:
    """Read what ``request`` asks for from ``source`` and build the report dict (``progress.json``).

    An organization report needs ``request.days`` and ``request.organization_id``. A ``previous`` report
    of the other scope is a :class:`~xentree_provider.api.errors.XentreeConfigError` naming its path.
    """
    organization: dict[str, Any] | None = None
    dashboard: dict[str, Any] | None = None
    if request.scope == "organization":
        if request.days is None or not request.organization_id:
            raise XentreeConfigError("an organization report needs its days and its organization_id")
        rows = _member_rows(source, request, request.organization_id, log)
        organization = _organization(source, request.organization_id, log)
    else:
        dashboard = dict(source.get_dashboard())
        window = day_window(request.days)
        rows = dedupe_sorted((module_row(m, window=window) for m in source.iter_modules()), "user")
    try:
        return build_report(
            scope=request.scope,
            rows=rows,
            window=request.days,
            generated_at=generated_at,
            organization=organization,
            team_id=request.team_id or None,
            dashboard=dashboard,
            previous=previous.report if previous else None,
            title=request.title or None,
        )
    except ValueError as error:
        where = previous.path if previous else None
        raise XentreeConfigError(f"previous_report_path {where!r}: {error}") from None


def report_inputs(request: ReportRequest) -> tuple[str, ...]:
    """The API paths a report reads (for lineage); the directory's organization as its query."""
    if request.scope == "organization":
        org_id = request.organization_id or ""
        return (
            f"{route('list_member_progress').path}?org_id={quote(org_id, safe='')}",
            route("get_organization").format_path(org_id=org_id),
        )
    return (route("get_xel_dashboard").path, route("list_xel_modules").path)


def report_summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report's headline figures, small and JSON-able (what a task returns besides the paths)."""
    totals = report["totals"]
    return {
        "scope": report["scope"],
        "organization_id": (report.get("organization") or {}).get("id"),
        "team_id": report.get("team_id"),
        "window": report["window"],
        "rows": len(report["rows"]),
        "members": totals["members"],
        "active_members": totals["active_members"],
        "average_progress": totals["average_progress"],
        "active_share": totals["active_share"],
    }
