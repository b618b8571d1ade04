"""Organization membership sync: make a Xentree organization's members follow a roster (HR system).

The roster is the truth; the operator plans the adds, role changes, team changes and (optionally)
removals, checks the safety guards on the whole plan before the first write, applies it idempotently,
reconciles after failures, and writes a JSON report and an audit log. A bad or empty roster can never
wipe the organization. The logic lives in :mod:`xentree_provider.membership`; this is the Airflow side.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from xentree_provider._compat import AirflowException, AirflowFailException
from xentree_provider._task.hooked import UsesXentreeHook, fail_fast_on_bad_config
from xentree_provider._task.lineage import ApiInput, FileOutput, Lineage, WritesFileLineage
from xentree_provider._task.outputs import atomic_write, output_path
from xentree_provider.api.errors import XentreeAuthError, XentreePermissionError
from xentree_provider.api.routes import route
from xentree_provider.links.xentree import XentreeOrganizationLink
from xentree_provider.membership.approval import ApprovalCheck, check_approval
from xentree_provider.membership.grace import GraceState, grace_section
from xentree_provider.membership.plan import RemovalMode, format_plan_table
from xentree_provider.membership.reconcile import Reconciler
from xentree_provider.membership.report import (
    audit_lines,
    blocked_message,
    failure_list,
    new_report,
    record_outcomes,
    report_json,
    summary_text,
    task_result,
)
from xentree_provider.membership.roster import RosterEntry, RosterFormat, protected_patterns
from xentree_provider.membership.schema import AUDIT_SCHEMA, PLAN_SCHEMA, REPORT_SCHEMA
from xentree_provider.membership.sync import GuardMode, PlannedSync, SyncSettings, plan_sync
from xentree_provider.operators._membership_files import (
    MembershipRosterError,
    audit_location,
    previous_grace,
    read_json,
    read_roster,
    report_location,
    with_org,
    write_report,
    write_text,
)
from xentree_provider.tabular.parquet import parquet_bytes, require_pyarrow

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "MembershipDriftError",
    "MembershipGuardError",
    "MembershipRosterError",
    "MembershipSyncError",
    "XentreeOrgMembershipSyncOperator",
]


class MembershipGuardError(AirflowFailException):
    """The plan exceeds a safety guard (``max_removals``, ``max_changes_ratio``); nothing was changed."""


class MembershipDriftError(AirflowFailException):
    """The approved plan no longer matches the organization beyond the guards; nothing was changed."""


class MembershipSyncError(AirflowException):
    """Some members could not be synced after every try; a re-run (task retry) picks up where it left."""


class XentreeOrgMembershipSyncOperator(WritesFileLineage, UsesXentreeHook, BaseOperator):
    """Make one Xentree organization's membership and roles follow a roster.

    Reads and validates the roster (every bad row reported with its line, before any request; an
    empty roster stops the task unless ``allow_empty_source``), reads the members, plans, checks the
    guards on the whole plan before the first write, applies every change (409/404 count as done),
    re-reads after failures and retries only what is left, then writes the report and the audit log.
    Owners, ``protected`` members and members whose listed role is unknown are never removed or
    demoted; a sole owner is never touched. ``{organization_id}`` in ``source``, ``report_path``,
    ``previous_report_path`` and ``approved_plan`` is replaced by the organization id (for ``.expand``).

    :param source: the roster: a path/URL (CSV, JSON array or JSON lines; ``.gz`` allowed) or a list of
        dicts (columns ``email``, ``role``, optional ``team_id``). Templated.
    :param source_sql: instead of ``source``, a query on the database ``source_conn_id`` (any common-sql
        connection) selecting ``email``, ``role`` and optionally ``team_id``. Templated.
    :param organization_id: the organization; default the connection's extra ``organization_id``. Templated.
    :param report_path: where the JSON report goes (atomically), or None. Templated.
    :param remove_missing: remove members that are not in the roster (default False: keep them).
    :param protected: e-mail patterns (``*@example.com``) never removed or demoted. Templated.
    :param max_removals: the plan may remove at most this many members (default 10; None: off).
    :param max_changes_ratio: the plan may change at most this share of the members (default 0.2).
    :param min_changes_allowed: a plan without removals may always make this many changes (default 5).
    :param allow_empty_source: accept an empty roster (default False: fail before any request).
    :param on_guard: ``fail`` (default) or ``request_approval``: a tripped guard marks the dry run's
        plan for approval, and the apply step then needs ``approved_plan``.
    :param approved_plan: the dry-run report a human approved; re-checked against the organization as
        it is now, applied only if what changed since passes the guards. Templated.
    :param remove_after_missing_runs: remove a member only after N consecutive runs without it (default 1).
    :param previous_report_path: where the previous run's report is (a ``.json`` file, or a folder
        searched for the newest report named like ``report_path``); default ``report_path``. Templated.
    :param removal_mode: ``delete`` (default) or ``report_only`` (removals are reported, never sent).
    :param dry_run: plan and report only; no write, and the guards never fail.
    :param source_format: ``auto``, ``csv``, ``json`` or ``jsonl``.
    :param source_conn_id: connection for the roster's object storage, or the database of ``source_sql``.
    :param report_conn_id: connection for the report's object storage, if any.
    :param reconcile_rounds: re-read-and-retry rounds after transient failures (default 5).
    :param xentree_conn_id: the Xentree connection id. Templated.
    :param parquet: also write the plan (and, after an apply, the audit log) as Parquet beside the
        report: ``<report>.plan.parquet``, ``<report>.audit.parquet`` (needs the ``parquet`` extra).
    """

    template_fields: Sequence[str] = (
        "xentree_conn_id",
        "source",
        "source_sql",
        "organization_id",
        "report_path",
        "previous_report_path",
        "approved_plan",
        "protected",
    )
    template_fields_renderers = {"source": "py", "source_sql": "sql"}
    operator_extra_links = (XentreeOrganizationLink(),)
    ui_color = "#d9f2e6"

    def __init__(
        self,
        *,
        source: str | ObjectStoragePath | list[dict[str, Any]] | None = None,
        source_sql: str | None = None,
        organization_id: str | None = None,
        report_path: str | ObjectStoragePath | None = None,
        remove_missing: bool = False,
        protected: Sequence[str] = (),
        max_removals: int | None = 10,
        max_changes_ratio: float | None = 0.2,
        min_changes_allowed: int = 5,
        allow_empty_source: bool = False,
        on_guard: GuardMode = "fail",
        approved_plan: str | None = None,
        remove_after_missing_runs: int = 1,
        previous_report_path: str | None = None,
        removal_mode: RemovalMode = "delete",
        dry_run: bool = False,
        source_format: RosterFormat = "auto",
        source_conn_id: str | None = None,
        report_conn_id: str | None = None,
        reconcile_rounds: int = 5,
        xentree_conn_id: str = "xentree_default",
        parquet: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if source_format not in ("auto", "csv", "json", "jsonl"):
            raise ValueError(f"source_format must be auto, csv, json or jsonl, got {source_format!r}")
        if (source is None) == (source_sql is None):
            raise ValueError("give the roster as exactly one of source (file, URL, rows) or source_sql")
        if approved_plan is not None and on_guard != "request_approval":
            raise ValueError("approved_plan needs on_guard='request_approval'")
        self.source, self.source_sql, self.organization_id = source, source_sql, organization_id
        self.report_path, self.previous_report_path = report_path, previous_report_path
        self.remove_missing, self.protected = remove_missing, protected
        self.max_removals, self.max_changes_ratio = max_removals, max_changes_ratio
        self.min_changes_allowed, self.allow_empty_source = min_changes_allowed, allow_empty_source
        self.on_guard, self.approved_plan = on_guard, approved_plan
        self.remove_after_missing_runs, self.removal_mode = remove_after_missing_runs, removal_mode
        # ``dry_run`` would shadow BaseOperator.dry_run(), Airflow's own render-only hook.
        self.plan_only = dry_run
        self.source_format, self.source_conn_id = source_format, source_conn_id
        self.report_conn_id, self.reconcile_rounds = report_conn_id, reconcile_rounds
        self.xentree_conn_id, self.parquet = xentree_conn_id, parquet
        self.sync_settings  # noqa: B018 - validates the settings at DAG parse

    @property
    def sync_settings(self) -> SyncSettings:
        """The plan, guard and reconcile settings (validated)."""
        return SyncSettings(
            remove_missing=self.remove_missing,
            max_removals=self.max_removals,
            max_changes_ratio=self.max_changes_ratio,
            min_changes_allowed=self.min_changes_allowed,
            reconcile_rounds=self.reconcile_rounds,
            allow_empty_source=self.allow_empty_source,
            remove_after_missing_runs=self.remove_after_missing_runs,
            removal_mode=self.removal_mode,
            on_guard=self.on_guard,
        )

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> dict[str, Any]:
        """Read the roster, plan, guard, apply (unless dry run), report; return the counts."""
        if self.parquet:
            require_pyarrow()  # before any request
        org = self.hook.settings.organization(self.organization_id, self.xentree_conn_id)
        XentreeOrganizationLink.persist(context, self.hook.settings.base_url, org_id=org)
        desired = self._roster(org)
        report_path = report_location(self.report_path, org, self.report_conn_id)
        grace = self._grace(org, report_path)
        patterns = protected_patterns(self.protected)
        planned = plan_sync(org, desired, self.hook, self.sync_settings, patterns, grace.missing_runs)
        plan, guards = planned.plan, planned.guards
        self.log.info(
            "Membership plan for organization %s%s: %s\n%s",
            org,
            " (dry run)" if self.plan_only else "",
            summary_text(plan.summary()),
            format_plan_table(plan),
        )
        settings = planned.settings.to_report(patterns)
        report = new_report(org, self._source_name, plan, guards, settings=settings, dry_run=self.plan_only)
        report["grace"] = grace_section(
            grace, self.remove_after_missing_runs, plan.missing_runs, counted=False
        )
        shown_path = str(report_path) if report_path is not None else None
        approval_needed = self.on_guard == "request_approval" and not guards.ok

        if self.plan_only:
            if not guards.ok:
                self.log.warning("A real run would be blocked: %s", "; ".join(guards.violations))
            report["status"], report["approval_required"] = "dry_run", approval_needed
            self._write(report_path, report)
            result = task_result(org, plan, shown_path, dry_run=True, guards=guards)
            first_removals = [a.email for a in plan.of_kind("remove")[:10]]
            return {**result, "approval_required": approval_needed, "first_removals": first_removals}

        approval = self._check_approval(planned, report, report_path)
        if not guards.ok and approval is None:
            report["status"] = "blocked"
            self._write(report_path, report)
            raise MembershipGuardError(blocked_message(org, plan, guards, approval=approval_needed))
        reconciler = planned.reconciler(
            self.hook,
            approved=approval is not None,
            wait_seconds=lambda round_: self.hook.settings.retry.wait_seconds(round_, None),
            log=self.log,
            request_id=_request_ids(self.hook),
        )
        try:
            outcomes = reconciler.run()
        except (XentreeAuthError, XentreePermissionError) as error:
            report["status"], report["result"] = "aborted", {"error": str(error)}
            self._write(report_path, report, reconciler)
            raise
        counts = record_outcomes(report, plan, outcomes, reconciler.rounds_made)
        counted = report["status"] == "applied"
        report["grace"] = grace_section(
            grace, self.remove_after_missing_runs, plan.missing_runs, counted=counted
        )
        self.log.info(
            "Membership sync of organization %s: %s\n%s",
            org,
            summary_text(counts),
            format_plan_table(plan, outcomes={k: o.text() for k, o in outcomes.items()}),
        )
        self._write(report_path, report, reconciler)
        if (failures := failure_list(org, outcomes)) is not None:
            raise MembershipSyncError(failures)
        return {**task_result(org, plan, shown_path, dry_run=False, guards=guards), **counts}

    def _roster(self, org: str) -> list[RosterEntry]:
        if self.source_sql is not None:
            from xentree_provider.operators._membership_sql import read_sql_roster

            desired, self._source_name = read_sql_roster(self.source_sql, self.source_conn_id)
        else:
            desired, self._source_name = read_roster(
                self.source, org, fmt=self.source_format, conn_id=self.source_conn_id
            )
        self.log.info("Roster %s: %d members for organization %s", self._source_name, len(desired), org)
        if not desired and not self.allow_empty_source:
            raise MembershipRosterError(
                f"The roster {self._source_name} is empty; no request was made and no membership was "
                "changed. An empty export is taken for a broken one: pass allow_empty_source=True only "
                "if the organization really should have no members from the roster."
            )
        return desired

    def _grace(self, org: str, report_path: ObjectStoragePath | None) -> GraceState:
        if self.remove_after_missing_runs <= 1 or not self.remove_missing:
            return GraceState({}, None, None)
        state = previous_grace(self.previous_report_path, report_path, org, self.report_conn_id)
        if state.restarted:
            self.log.warning("Grace before removal: %s", state.restarted)
        return state

    def _check_approval(
        self, planned: PlannedSync, report: dict[str, Any], report_path: ObjectStoragePath | None
    ) -> ApprovalCheck | None:
        """None without an approved plan; raises MembershipDriftError when it no longer holds."""
        if self.approved_plan is None:
            return None
        location = output_path(with_org(self.approved_plan, planned.org), self.report_conn_id)
        stored, problem = read_json(location)
        check = (
            check_approval(stored, planned, location=str(location))
            if problem is None
            else ApprovalCheck(0, (), f"the approved plan cannot be read: {problem}")
        )
        report["approval"] = {"approved_plan": str(location), **check.to_dict()}
        if check.problem is not None:
            report["status"] = "drifted"
            self._write(report_path, report)
            raise MembershipDriftError(
                f"Membership sync of organization {planned.org} stopped before any change: {check.problem}. "
                "Run the plan again and have the new plan approved."
            )
        self.log.info("Applying the approved plan %s (%d changes not in it)", location, len(check.drift))
        return check

    def _write(
        self, path: ObjectStoragePath | None, report: dict[str, Any], reconciler: Reconciler | None = None
    ) -> None:
        if path is None:
            return
        outputs = []
        if reconciler is not None:
            audit = audit_location(path)
            lines = audit_lines(report["organization_id"], reconciler.writes)
            write_text(audit, lines)
            report["audit_log"] = str(audit)
            outputs.append(FileOutput(str(audit), AUDIT_SCHEMA, len(reconciler.writes), len(lines.encode())))
        if self.parquet:
            outputs += self._write_parquet(path, report, reconciler)
        write_report(path, report)
        size = len(report_json(report).encode())
        outputs.insert(0, FileOutput(str(path), REPORT_SCHEMA, len(report["plan"]), size))
        self.record_lineage(Lineage(self._lineage_inputs(report["organization_id"]), tuple(outputs)))
        self.log.info("Membership report written to %s", path)

    def _write_parquet(
        self, path: ObjectStoragePath, report: dict[str, Any], reconciler: Reconciler | None
    ) -> list[FileOutput]:
        """``<report>.plan.parquet`` and, after an apply, ``<report>.audit.parquet`` beside the report."""
        tables = [("plan", PLAN_SCHEMA, report["plan"])]
        if reconciler is not None:
            org = report["organization_id"]
            tables.append(
                ("audit", AUDIT_SCHEMA, [{"organization_id": org, **w.to_dict()} for w in reconciler.writes])
            )
        written = []
        for part, schema, rows in tables:
            target = path.parent / f"{path.name.removesuffix('.json')}.{part}.parquet"
            data = parquet_bytes(schema, rows)
            with atomic_write(target) as stream:
                stream.write(data)
            report[f"{part}_parquet"] = str(target)
            written.append(FileOutput(str(target), schema, len(rows), len(data)))
        return written

    def _lineage_inputs(self, org: str) -> tuple[ApiInput, ...]:
        members = route("list_members").format_path(org_id=org)
        return (ApiInput(self.hook.settings.base_url, members),)

    def planned_lineage(self) -> Lineage:
        """The organization's members endpoint and the report (for OpenLineage)."""
        org = self.hook.settings.organization(self.organization_id, self.xentree_conn_id)
        path = report_location(self.report_path, org, self.report_conn_id)
        outputs = (FileOutput(str(path), REPORT_SCHEMA),) if path is not None else ()
        return Lineage(self._lineage_inputs(org), outputs)


def _request_ids(hook: Any) -> Any:
    """A callable giving the ``X-Request-ID`` of the hook's last HTTP response (None if unknown)."""
    last: list[str | None] = [None]

    def remember(response: Any, *_args: Any, **_kwargs: Any) -> Any:
        last[0] = response.headers.get("x-request-id")
        return response

    try:
        hook.get_conn().hooks["response"].append(remember)
    except (AttributeError, KeyError, TypeError):
        return lambda: None
    return lambda: last[0]
