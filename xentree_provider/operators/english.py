"""Xentree English (XEL) operators: learning-progress reports for a learner or a whole organization."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, cast

from airflow.sdk import Asset, BaseOperator, Context, ObjectStoragePath

from xentree_provider._task.assets import DeclaresOutputAsset, add_outlet, resolve_asset
from xentree_provider._task.hooked import UsesXentreeHook, fail_fast_on_bad_config
from xentree_provider._task.outputs import atomic_write, output_path
from xentree_provider._task.window import parse_instant
from xentree_provider.api.errors import XentreeConfigError, XentreeError, XentreePermissionError
from xentree_provider.links.xentree import XentreeXelLink
from xentree_provider.reporting.data import (
    Scope,
    build_report,
    csv_text,
    dedupe_sorted,
    member_row,
    module_row,
)
from xentree_provider.reporting.html import render_report_html

__all__ = ["XentreeXELProgressReportOperator", "resolve_report_days"]

_SCOPES = ("user", "organization")
REPORT_FILES = ("progress.csv", "progress.json", "report.html")


def _day(value: Any, name: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return parse_instant(value, name).date()


def resolve_report_days(
    context: Mapping[str, Any], start_day: Any = None, end_day: Any = None, *, required: bool = True
) -> tuple[date, date] | None:
    """The report's UTC days ``(first, last)``, both inclusive.

    Explicit ``start_day`` / ``end_day`` (``YYYY-MM-DD``; a datetime counts as its UTC day) win;
    otherwise the run's data interval gives them: its start's day, and the day of the last instant
    before its end (an interval ending at midnight does not include the next day). Returns ``None``
    when there is no window and ``required`` is false.
    """
    given_start = start_day not in (None, "")
    given_end = end_day not in (None, "")
    interval_start = context.get("data_interval_start")
    interval_end = context.get("data_interval_end")
    if (not given_start and interval_start is None) or (not given_end and interval_end is None):
        if not required:
            return None
        raise XentreeConfigError(
            "this run has no data interval (manual and asset-triggered runs in Airflow 3 have none): "
            "pass start_day and end_day as YYYY-MM-DD (both days included), e.g. "
            "start_day='2026-11-16', end_day='2026-11-22'"
        )
    first = (
        _day(start_day, "start_day")
        if given_start
        else parse_instant(interval_start, "data_interval_start").date()
    )
    if given_end:
        last = _day(end_day, "end_day")
    else:
        end = parse_instant(interval_end, "data_interval_end")
        last = (end - timedelta(microseconds=1)).date()
    if first > last:
        raise XentreeConfigError(
            f"the report window is empty: start_day {first.isoformat()} is after end_day "
            f"{last.isoformat()} (both days are included, so a one-day report has start_day == end_day)"
        )
    return first, last


class XentreeXELProgressReportOperator(DeclaresOutputAsset, UsesXentreeHook, BaseOperator):
    """Write a Xentree English progress report: ``progress.csv``, ``progress.json`` and ``report.html``.

    Two scopes:

    * ``"organization"``: the organization's member progress directory (every page) for the report
      window, one CSV row per member; the page shows totals, progress by team, the distribution of
      progress, who was not active in the window, and the change since ``previous_report_path``.
      Needs an organization admin or team manager login (or an API key with ``xel:read``).
    * ``"user"``: the connection's own learner: the XEL dashboard and one row per module.

    The window is UTC days, both included: ``start_day`` / ``end_day`` (``YYYY-MM-DD``), by default
    the run's data interval (a weekly interval from Monday 00:00 to the next Monday 00:00 reports
    Monday to Sunday). Files are written atomically through ``ObjectStoragePath`` under ``output_path``
    (a local absolute path or a URL such as ``s3://bucket/reports/{{ ds }}``). The report is an Airflow
    Asset outlet (by default the static part of ``output_path``); each run's asset event lists the
    files it wrote. The task's extra link (:class:`~xentree_provider.links.xentree.XentreeXelLink`)
    opens the XEL page of the web app.

    Returns a small dict: ``html``, ``csv``, ``json`` (paths), ``members``, ``average_progress``
    (percent), ``active_share`` (0 to 1), ``active_members``, ``window``, ``scope`` and
    ``compared_with``.

    :param scope: ``"organization"`` or ``"user"`` (required).
    :param output_path: folder (prefix) the three files are written under. Templated.
    :param organization_id: organization of an ``organization`` report; default: the connection's
        extra ``organization_id``. Templated.
    :param team_id: only this team's members (``organization`` scope). Templated.
    :param start_day: first UTC day of the window, ``YYYY-MM-DD``. Templated.
    :param end_day: last UTC day of the window, included whole, ``YYYY-MM-DD``. Templated.
    :param previous_report_path: an earlier report (its folder or its ``progress.json``) to show the
        change since; when it does not exist (the first run) the report is written without it.
        Templated.
    :param title: page title; default ``Xentree English progress — <organization name>``. Templated.
    :param xentree_conn_id: the Xentree connection. Templated.
    :param output_conn_id: Airflow connection for the object store of ``output_path`` (e.g. AWS).
    :param page_size: rows per request when reading the directory (the API allows at most 200).
    :param asset: the Asset outlet: None derives it from ``output_path`` (its static folder when the path
        is templated), a string is an Asset URI, an ``Asset`` is used as is, False disables.
    """

    template_fields: Sequence[str] = (
        "xentree_conn_id",
        "output_path",
        "organization_id",
        "team_id",
        "start_day",
        "end_day",
        "previous_report_path",
        "title",
    )
    operator_extra_links = (XentreeXelLink(),)
    ui_color = "#dbeafe"

    def __init__(
        self,
        *,
        scope: str | None = None,
        output_path: str,
        organization_id: str | None = None,
        team_id: str | None = None,
        start_day: str | date | None = None,
        end_day: str | date | None = None,
        previous_report_path: str | None = None,
        title: str | None = None,
        xentree_conn_id: str = "xentree_default",
        output_conn_id: str | None = None,
        page_size: int = 200,
        asset: Asset | str | bool | None = None,
        **kwargs: Any,
    ) -> None:
        if scope not in _SCOPES:
            given = "no scope was given" if scope is None else f"scope={scope!r} is not one of them"
            raise ValueError(
                f"{type(self).__name__} needs scope='organization' (the organization's member progress "
                "directory) or scope='user' (the connection's own learner: dashboard and modules); "
                f"{given}"
            )
        if scope == "user" and team_id:
            raise ValueError("team_id only applies to scope='organization'")
        if not 1 <= page_size <= 200:
            raise ValueError(f"page_size must be between 1 and 200, got {page_size}")
        outlet = resolve_asset(asset, output_path)
        add_outlet(kwargs, outlet)
        super().__init__(**kwargs)
        self.scope: Scope = cast(Scope, scope)
        self.output_path = output_path
        self.organization_id = organization_id
        self.team_id = team_id
        self.start_day = start_day
        self.end_day = end_day
        self.previous_report_path = previous_report_path
        self.title = title
        self.xentree_conn_id = xentree_conn_id
        self.output_conn_id = output_conn_id
        self.page_size = page_size
        self.asset = outlet

    # -- reading ------------------------------------------------------------------------------------

    def _organization(self, org_id: str) -> dict[str, Any]:
        try:
            record = self.hook.get_organization(org_id)
        except XentreePermissionError:
            self.log.info("Cannot read organization %s's name (no organizations:read); using its id", org_id)
            return {"id": org_id, "name": org_id}
        except XentreeError as error:
            self.log.warning("Could not read organization %s (%s); using its id as its name", org_id, error)
            return {"id": org_id, "name": org_id}
        return {
            "id": str(record.get("id") or org_id),
            "name": str(record.get("name") or org_id),
            "slug": record.get("slug"),
        }

    def _organization_rows(
        self, org_id: str, days: tuple[date, date], window: tuple[datetime, datetime]
    ) -> Iterable[dict[str, Any]]:
        records = self.hook.iter_member_progress(
            org_id,
            start_date=days[0],
            end_date=days[1],
            team_id=self.team_id or None,
            page_size=self.page_size,
        )
        for record in records:
            yield member_row(record, organization_id=org_id, window=window)

    def _load_previous(self) -> tuple[dict[str, Any] | None, str | None]:
        if not self.previous_report_path:
            return None, None
        path = output_path(self.previous_report_path, self.output_conn_id)
        if path.suffix != ".json":
            path = path / "progress.json"
        if not path.exists():
            self.log.warning("No previous report at %s: writing this report without a comparison", path)
            return None, None
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise XentreeConfigError(
                f"previous_report_path {str(path)!r} is not a readable progress.json ({error}); "
                "point it at the folder or progress.json of an earlier report"
            ) from None
        return previous, str(path)

    # -- writing ------------------------------------------------------------------------------------

    def _write(self, prefix: ObjectStoragePath, report: dict[str, Any]) -> dict[str, ObjectStoragePath]:
        paths = {name: prefix / name for name in REPORT_FILES}
        with atomic_write(paths["progress.csv"], binary=False) as stream:
            for line in csv_text(report["rows"], report["columns"]):
                stream.write(line)
        with atomic_write(paths["progress.json"], binary=False) as stream:
            json.dump(report, stream, ensure_ascii=False, indent=1)
            stream.write("\n")
        with atomic_write(paths["report.html"], binary=False) as stream:
            stream.write(render_report_html(report))
        return paths

    def _announce(
        self, context: Context, paths: Mapping[str, ObjectStoragePath], extra: dict[str, Any]
    ) -> None:
        if self.asset is None:
            return
        context["outlet_events"][self.asset].extra = {
            **extra,
            "files": {name: str(path) for name, path in paths.items()},
        }

    # -- execute ------------------------------------------------------------------------------------

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> dict[str, Any]:
        """Read progress, write the three files, announce them, return the headline figures."""
        prefix = output_path(self.output_path, self.output_conn_id)
        XentreeXelLink.persist(context, self.hook.settings.base_url)
        previous, previous_path = self._load_previous()
        days = resolve_report_days(
            context, self.start_day, self.end_day, required=self.scope == "organization"
        )
        window = None
        if days is not None:
            window = (
                datetime.combine(days[0], time(), tzinfo=timezone.utc),
                datetime.combine(days[1] + timedelta(days=1), time(), tzinfo=timezone.utc),
            )
        organization: dict[str, Any] | None = None
        dashboard: dict[str, Any] | None = None
        if self.scope == "organization":
            assert days is not None
            assert window is not None
            org_id = self.hook.settings.organization(self.organization_id, self.xentree_conn_id)
            self.log.info(
                "Reading the progress directory of organization %s for %s to %s (UTC days, both included)%s",
                org_id,
                days[0],
                days[1],
                f", team {self.team_id}" if self.team_id else "",
            )
            rows = dedupe_sorted(self._organization_rows(org_id, days, window), "organization")
            organization = self._organization(org_id)
            if not rows:
                self.log.warning(
                    "The directory returned no members for organization %s in this window", org_id
                )
        else:
            dashboard = dict(self.hook.get_dashboard())
            rows = dedupe_sorted((module_row(m, window=window) for m in self.hook.iter_modules()), "user")
        try:
            report = build_report(
                scope=self.scope,
                rows=rows,
                window=days,
                generated_at=datetime.now(timezone.utc).replace(microsecond=0),
                organization=organization,
                team_id=self.team_id or None,
                dashboard=dashboard,
                previous=previous,
                title=self.title or None,
            )
        except ValueError as error:
            raise XentreeConfigError(f"previous_report_path {previous_path!r}: {error}") from None
        paths = self._write(prefix, report)
        totals = report["totals"]
        result = {
            "scope": self.scope,
            "organization_id": (organization or {}).get("id"),
            "team_id": self.team_id or None,
            "window": report["window"],
            "output_path": str(prefix),
            "html": str(paths["report.html"]),
            "csv": str(paths["progress.csv"]),
            "json": str(paths["progress.json"]),
            "rows": len(rows),
            "members": totals["members"],
            "active_members": totals["active_members"],
            "average_progress": totals["average_progress"],
            "active_share": totals["active_share"],
            "compared_with": previous_path,
        }
        self._announce(
            context,
            paths,
            {k: result[k] for k in ("scope", "members", "average_progress", "active_share")},
        )
        self.log.info(
            "Wrote %s: %s member(s), average progress %.1f%%, %.0f%% active",
            paths["report.html"],
            result["members"],
            result["average_progress"],
            result["active_share"] * 100,
        )
        return result
