"""Xentree English (XEL) operators: learning-progress reports for a learner or a whole organization."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any, cast

from airflow.sdk import Asset, BaseOperator, Context

from xentree_provider._task.assets import DeclaresOutputAsset, add_outlet, resolve_asset
from xentree_provider._task.hooked import UsesXentreeHook, fail_fast_on_bad_config
from xentree_provider._task.lineage import ApiInput, FileOutput, Lineage, WritesFileLineage
from xentree_provider._task.outputs import atomic_write, output_path
from xentree_provider._task.window import resolve_report_days
from xentree_provider.links.xentree import XentreeXelLink
from xentree_provider.reporting.assemble import (
    ReportRequest,
    assemble_report,
    report_inputs,
    report_summary,
)
from xentree_provider.reporting.data import Scope
from xentree_provider.reporting.files import WrittenFile, report_files, write_report
from xentree_provider.reporting.previous import load_previous_report
from xentree_provider.tabular.parquet import require_pyarrow

__all__ = ["XentreeXELProgressReportOperator", "resolve_report_days"]

_SCOPES = ("user", "organization")


class XentreeXELProgressReportOperator(WritesFileLineage, DeclaresOutputAsset, UsesXentreeHook, BaseOperator):
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

    With ``parquet=True`` the table is also written as ``progress.parquet`` (needs the ``parquet``
    extra). Returns a small dict: ``html``, ``csv``, ``json``, ``parquet`` (paths; ``parquet`` None
    unless written), ``members``, ``average_progress``
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
    :param parquet: also write the table as ``progress.parquet`` (typed columns; needs
        ``airflow-provider-xentree[parquet]``).
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
        parquet: bool = False,
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
        self.parquet = parquet
        self.asset = outlet

    def _request(self, days: tuple[date, date] | None) -> ReportRequest:
        organization_id = None
        if self.scope == "organization":
            organization_id = self.hook.settings.organization(self.organization_id, self.xentree_conn_id)
        return ReportRequest(
            scope=self.scope,
            days=days,
            organization_id=organization_id,
            team_id=self.team_id or None,
            page_size=self.page_size,
            title=self.title or None,
        )

    def _lineage(self, request: ReportRequest, written: Mapping[str, WrittenFile] | None = None) -> Lineage:
        base_url = self.hook.settings.base_url
        prefix = output_path(self.output_path, self.output_conn_id)
        outputs = []
        for spec in report_files(parquet=self.parquet):
            done = (written or {}).get(spec.name)
            schema = spec.schema(self.scope) if spec.schema else None
            rows, size = (done.rows, done.size) if done else (None, None)
            outputs.append(FileOutput(str(prefix / spec.name), schema, rows, size))
        inputs = tuple(ApiInput(base_url, path) for path in report_inputs(request))
        return Lineage(inputs, tuple(outputs))

    def planned_lineage(self) -> Lineage:
        """The API endpoints the report reads and its three files (for OpenLineage)."""
        return self._lineage(self._request(None))

    def _announce(self, context: Context, paths: Mapping[str, str], result: Mapping[str, Any]) -> None:
        if self.asset is None:
            return
        headline = {k: result[k] for k in ("scope", "members", "average_progress", "active_share")}
        context["outlet_events"][self.asset].extra = {**headline, "files": dict(paths)}

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> dict[str, Any]:
        """Read progress, write the three files, announce them, return the headline figures."""
        prefix = output_path(self.output_path, self.output_conn_id)
        if self.parquet:
            require_pyarrow()  # before any request
        XentreeXelLink.persist(context, self.hook.settings.base_url)
        previous_path = self.previous_report_path
        previous = load_previous_report(
            output_path(previous_path, self.output_conn_id) if previous_path else None, self.log
        )
        days = resolve_report_days(
            context, self.start_day, self.end_day, required=self.scope == "organization"
        )
        request = self._request(days)
        report = assemble_report(
            self.hook,
            request,
            previous=previous,
            generated_at=datetime.now(timezone.utc).replace(microsecond=0),
            log=self.log,
        )
        files = report_files(parquet=self.parquet)
        written = write_report(report, lambda name: atomic_write(prefix / name), files)
        self.record_lineage(self._lineage(request, written))
        paths = {name: str(prefix / name) for name in written}
        summary = report_summary(report)
        result = {
            **{k: summary[k] for k in ("scope", "organization_id", "team_id", "window")},
            "output_path": str(prefix),
            "html": paths["report.html"],
            "csv": paths["progress.csv"],
            "json": paths["progress.json"],
            "parquet": paths.get("progress.parquet"),
            **summary,
            "compared_with": previous.path if previous else None,
        }
        self._announce(context, paths, result)
        self.log.info(
            "Wrote %s: %s member(s), average progress %.1f%%, %.0f%% active",
            paths["report.html"],
            result["members"],
            result["average_progress"],
            result["active_share"] * 100,
        )
        return result
