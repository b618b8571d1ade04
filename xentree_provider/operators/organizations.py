"""Organization membership sync: make a Xentree organization's members follow a roster (HR system).

The roster is the truth; the operator plans the adds, role changes, team changes and (optionally)
removals, checks the safety guards on the whole plan before the first write, applies it idempotently,
reconciles after failures, and writes a JSON report. A bad roster can never wipe the organization.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from xentree_provider._compat import AirflowException, AirflowFailException
from xentree_provider._task.hooked import UsesXentreeHook, fail_fast_on_bad_config
from xentree_provider.api.errors import XentreeAuthError, XentreePermissionError
from xentree_provider.links.xentree import XentreeOrganizationLink
from xentree_provider.membership.plan import format_plan_table
from xentree_provider.membership.report import (
    blocked_message,
    failure_list,
    new_report,
    record_outcomes,
    summary_text,
    task_result,
)
from xentree_provider.membership.roster import RosterFormat, protected_patterns
from xentree_provider.membership.sync import SyncSettings, plan_sync
from xentree_provider.operators._membership_files import (
    MembershipRosterError,
    read_roster,
    report_location,
    write_report,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "MembershipGuardError",
    "MembershipRosterError",
    "MembershipSyncError",
    "XentreeOrgMembershipSyncOperator",
]


class MembershipGuardError(AirflowFailException):
    """The plan exceeds a safety guard (``max_removals``, ``max_changes_ratio``); nothing was changed."""


class MembershipSyncError(AirflowException):
    """Some members could not be synced after every try; a re-run (task retry) picks up where it left."""


class XentreeOrgMembershipSyncOperator(UsesXentreeHook, BaseOperator):
    """Make one Xentree organization's membership and roles follow a roster.

    The roster (``source``) is read and validated first: duplicate e-mails, unknown roles, empty
    e-mails and malformed rows are all reported with their line numbers, and the task fails before any
    change. The current members are read (every page) and a plan is computed: adds, role changes
    (PATCH), team changes (PUT) and, with ``remove_missing``, removals. Owners and members matching
    ``protected`` are never removed or demoted, and a sole owner is never touched. The guards are
    checked on the whole plan before the first write; exceeding one fails the task with the plan
    summary and no change. Every member is then tried (409 "already a member" and 404 on removal count
    as done); after any failure the members are read again and only what is still missing is retried,
    so nothing is done twice and a re-run after a partial failure converges.

    Mapped over organizations with ``.expand(organization_id=[...])``; ``{organization_id}`` in
    ``source`` and ``report_path`` is replaced by the organization id, so each mapped task reads its own
    roster and writes its own report.

    :param source: the roster: a path or URL read through ``ObjectStoragePath`` (CSV with a header,
        JSON array, or JSON lines; ``.gz`` allowed), or a list of dicts such as an upstream task's
        XCom. Columns ``email``, ``role`` (owner, admin, manager, member) and optional ``team_id``
        (empty: leave the member's team as it is). Templated.
    :param organization_id: the organization to sync; defaults to the connection's extra
        ``organization_id``. Templated.
    :param report_path: where to write the JSON plan/result report (atomically), or None for no file.
        Templated.
    :param remove_missing: remove members that are not in the roster (default False: keep them).
    :param protected: shell-style e-mail patterns (``*@example.com``, ``ceo@example.com``) of members
        never removed or demoted, case-insensitive. Templated.
    :param max_removals: fail without any change when the plan removes more members than this
        (default 10; None switches the guard off).
    :param max_changes_ratio: fail without any change when the plan changes more than this share of
        the current member count (default 0.2; None switches the guard off), but see
        ``min_changes_allowed``.
    :param min_changes_allowed: small organizations may always make this many changes (default 5):
        the changes allowed are ``max(min_changes_allowed, max_changes_ratio * current members)``, so a
        new or empty organization can be filled in small runs. ``max_removals`` still applies.
    :param dry_run: compute, log and report the plan only; no write is made and the guards never fail.
    :param source_format: ``auto`` (by file name, then content), ``csv``, ``json`` or ``jsonl``.
    :param source_conn_id: Airflow connection for the roster's object storage (``s3://``, ...), if any.
    :param report_conn_id: Airflow connection for the report's object storage, if any.
    :param reconcile_rounds: how many times to re-read the members and retry what transient failures
        left undone before giving up (default 5); the waits between rounds follow the connection's
        retry backoff.
    :param xentree_conn_id: the Xentree connection id. Templated.
    """

    template_fields: Sequence[str] = (
        "xentree_conn_id",
        "source",
        "organization_id",
        "report_path",
        "protected",
    )
    template_fields_renderers = {"source": "py"}
    operator_extra_links = (XentreeOrganizationLink(),)
    ui_color = "#d9f2e6"

    def __init__(
        self,
        *,
        source: str | ObjectStoragePath | list[dict[str, Any]],
        organization_id: str | None = None,
        report_path: str | ObjectStoragePath | None = None,
        remove_missing: bool = False,
        protected: Sequence[str] = (),
        max_removals: int | None = 10,
        max_changes_ratio: float | None = 0.2,
        min_changes_allowed: int = 5,
        dry_run: bool = False,
        source_format: RosterFormat = "auto",
        source_conn_id: str | None = None,
        report_conn_id: str | None = None,
        reconcile_rounds: int = 5,
        xentree_conn_id: str = "xentree_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if source_format not in ("auto", "csv", "json", "jsonl"):
            raise ValueError(f"source_format must be auto, csv, json or jsonl, got {source_format!r}")
        self.remove_missing = remove_missing
        self.max_removals = max_removals
        self.max_changes_ratio = max_changes_ratio
        self.min_changes_allowed = min_changes_allowed
        self.reconcile_rounds = reconcile_rounds
        self.sync_settings  # noqa: B018 - validates the settings at DAG parse
        self.source = source
        self.organization_id = organization_id
        self.report_path = report_path
        self.protected = protected
        # ``dry_run`` would shadow BaseOperator.dry_run(), Airflow's own render-only hook.
        self.plan_only = dry_run
        self.source_format = source_format
        self.source_conn_id = source_conn_id
        self.report_conn_id = report_conn_id
        self.xentree_conn_id = xentree_conn_id

    @property
    def sync_settings(self) -> SyncSettings:
        """The plan, guard and reconcile settings (validated)."""
        return SyncSettings(
            remove_missing=self.remove_missing,
            max_removals=self.max_removals,
            max_changes_ratio=self.max_changes_ratio,
            min_changes_allowed=self.min_changes_allowed,
            reconcile_rounds=self.reconcile_rounds,
        )

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> dict[str, Any]:
        """Read the roster, plan, guard, apply (unless dry run), report; return the counts."""
        org = self.hook.settings.organization(self.organization_id, self.xentree_conn_id)
        XentreeOrganizationLink.persist(context, self.hook.settings.base_url, org_id=org)
        desired, source_name = read_roster(
            self.source, org, fmt=self.source_format, conn_id=self.source_conn_id
        )
        self.log.info("Roster %s: %d members for organization %s", source_name, len(desired), org)

        patterns = protected_patterns(self.protected)
        planned = plan_sync(org, desired, self.hook, self.sync_settings, patterns)
        plan, guards = planned.plan, planned.guards
        self.log.info(
            "Membership plan for organization %s%s: %s\n%s",
            org,
            " (dry run)" if self.plan_only else "",
            summary_text(plan.summary()),
            format_plan_table(plan),
        )
        report = new_report(
            org,
            source_name,
            plan,
            guards,
            settings=planned.settings.to_report(patterns),
            dry_run=self.plan_only,
        )
        report_path = report_location(self.report_path, org, self.report_conn_id)
        shown_path = str(report_path) if report_path is not None else None

        if self.plan_only:
            if not guards.ok:
                self.log.warning("A real run would be blocked: %s", "; ".join(guards.violations))
            report["status"] = "dry_run"
            self._write_report(report_path, report)
            return task_result(org, plan, shown_path, dry_run=True, guards=guards)

        if not guards.ok:
            report["status"] = "blocked"
            self._write_report(report_path, report)
            raise MembershipGuardError(blocked_message(org, plan, guards))

        reconciler = planned.reconciler(
            self.hook,
            wait_seconds=lambda round_: self.hook.settings.retry.wait_seconds(round_, None),
            log=self.log,
        )
        try:
            outcomes = reconciler.run()
        except (XentreeAuthError, XentreePermissionError) as error:
            report["status"] = "aborted"
            report["result"] = {"error": str(error)}
            self._write_report(report_path, report)
            raise
        counts = record_outcomes(report, plan, outcomes, reconciler.rounds_made)
        self.log.info(
            "Membership sync of organization %s: %s\n%s",
            org,
            summary_text(counts),
            format_plan_table(plan, outcomes={k: o.text() for k, o in outcomes.items()}),
        )
        self._write_report(report_path, report)
        if (failures := failure_list(org, outcomes)) is not None:
            raise MembershipSyncError(failures)
        return {**task_result(org, plan, shown_path, dry_run=False, guards=guards), **counts}

    def _write_report(self, path: ObjectStoragePath | None, report: dict[str, Any]) -> None:
        if path is not None:
            write_report(path, report)
            self.log.info("Membership report written to %s", path)
