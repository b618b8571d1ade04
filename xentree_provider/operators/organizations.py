"""Organization membership sync: make a Xentree organization's members follow a roster (HR system).

The roster is the truth; the operator plans the adds, role changes, team changes and (optionally)
removals, checks the safety guards on the whole plan before the first write, applies it idempotently,
reconciles after failures, and writes a JSON report. A bad roster can never wipe the organization.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from xentree_provider._compat import AirflowException, AirflowFailException
from xentree_provider._task.hooked import UsesXentreeHook, fail_fast_on_bad_config
from xentree_provider._task.outputs import atomic_write, output_path
from xentree_provider.api.errors import (
    XentreeAuthError,
    XentreeConflictError,
    XentreeConnectionError,
    XentreeError,
    XentreeNotFoundError,
    XentreePermissionError,
    XentreeQuotaExceededError,
    XentreeRateLimitError,
    XentreeResponseError,
    XentreeServerError,
)
from xentree_provider.links.xentree import XentreeOrganizationLink
from xentree_provider.membership.plan import (
    Action,
    GuardCheck,
    Plan,
    check_guards,
    compute_plan,
    current_members,
    format_plan_table,
)
from xentree_provider.membership.roster import (
    RosterEntry,
    RosterError,
    RosterFormat,
    parse_roster,
    parse_roster_text,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "MembershipGuardError",
    "MembershipRosterError",
    "MembershipSyncError",
    "XentreeOrgMembershipSyncOperator",
]

ORG_PLACEHOLDER = "{organization_id}"
REPORT_VERSION = 1


class MembershipRosterError(AirflowFailException):
    """The roster is unusable (bad rows, unreadable file); nothing was changed. Not retried."""


class MembershipGuardError(AirflowFailException):
    """The plan exceeds a safety guard (``max_removals``, ``max_changes_ratio``); nothing was changed."""


class MembershipSyncError(AirflowException):
    """Some members could not be synced after every try; a re-run (task retry) picks up where it left."""


@dataclass
class _Outcome:
    """What happened to one planned member change."""

    kind: str
    email: str
    status: str = "pending"  # done | failed | retry (transient; not known to have taken effect)
    detail: str | None = None
    tries: int = 0
    permanent: bool = False


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
        if max_removals is not None and max_removals < 0:
            raise ValueError(f"max_removals must be >= 0 or None, got {max_removals}")
        if max_changes_ratio is not None and max_changes_ratio < 0:
            raise ValueError(f"max_changes_ratio must be >= 0 or None, got {max_changes_ratio}")
        if not isinstance(min_changes_allowed, int) or min_changes_allowed < 0:
            raise ValueError(f"min_changes_allowed must be an integer >= 0, got {min_changes_allowed!r}")
        if source_format not in ("auto", "csv", "json", "jsonl"):
            raise ValueError(f"source_format must be auto, csv, json or jsonl, got {source_format!r}")
        if reconcile_rounds < 0:
            raise ValueError(f"reconcile_rounds must be >= 0, got {reconcile_rounds}")
        self.source = source
        self.organization_id = organization_id
        self.report_path = report_path
        self.remove_missing = remove_missing
        self.protected = protected
        self.max_removals = max_removals
        self.max_changes_ratio = max_changes_ratio
        self.min_changes_allowed = min_changes_allowed
        # ``dry_run`` would shadow BaseOperator.dry_run(), Airflow's own render-only hook.
        self.plan_only = dry_run
        self.source_format = source_format
        self.source_conn_id = source_conn_id
        self.report_conn_id = report_conn_id
        self.reconcile_rounds = reconcile_rounds
        self.xentree_conn_id = xentree_conn_id

    # -- execute --------------------------------------------------------------------------------

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> dict[str, Any]:
        """Read the roster, plan, guard, apply (unless dry run), report; return the counts."""
        org = self.hook.settings.organization(self.organization_id, self.xentree_conn_id)
        XentreeOrganizationLink.persist(context, self.hook.settings.base_url, org_id=org)
        desired, source_name = self._read_roster(org)
        self.log.info("Roster %s: %d members for organization %s", source_name, len(desired), org)

        current = current_members(self.hook.iter_members(org))
        patterns = self._patterns()
        plan = compute_plan(desired, current, remove_missing=self.remove_missing, protected=patterns)
        guards = check_guards(
            plan,
            max_removals=self.max_removals,
            max_changes_ratio=self.max_changes_ratio,
            min_changes_allowed=self.min_changes_allowed,
        )
        self.log.info(
            "Membership plan for organization %s%s: %s\n%s",
            org,
            " (dry run)" if self.plan_only else "",
            _summary_text(plan.summary()),
            format_plan_table(plan),
        )
        report = self._report(org, source_name, plan, guards, patterns)
        report_path = self._report_path(org)

        if self.plan_only:
            if not guards.ok:
                self.log.warning("A real run would be blocked: %s", "; ".join(guards.violations))
            report["status"] = "dry_run"
            self._write_report(report_path, report)
            return self._result(org, plan, report_path, dry_run=True, guards=guards)

        if not guards.ok:
            report["status"] = "blocked"
            self._write_report(report_path, report)
            raise MembershipGuardError(
                f"Membership sync of organization {org} blocked before any change: "
                f"{'; '.join(guards.violations)}. Plan: {_summary_text(plan.summary())}. Check the "
                "roster; if the change is intended, raise max_removals/max_changes_ratio/"
                "min_changes_allowed for one run."
            )

        try:
            outcomes, rounds = self._apply(org, plan, desired, patterns)
        except (XentreeAuthError, XentreePermissionError) as error:
            report["status"] = "aborted"
            report["result"] = {"error": str(error)}
            self._write_report(report_path, report)
            raise
        failures = [o for o in outcomes.values() if o.status != "done"]
        counts = {
            "added": sum(1 for o in outcomes.values() if o.kind == "add" and o.status == "done"),
            "updated": sum(1 for o in outcomes.values() if o.kind == "update" and o.status == "done"),
            "removed": sum(1 for o in outcomes.values() if o.kind == "remove" and o.status == "done"),
            "unchanged": plan.unchanged,
            "skipped": len(plan.skipped),
            "failed": len(failures),
        }
        report["status"] = "failed" if failures else "applied"
        report["result"] = {
            **counts,
            "rounds": rounds,
            "outcomes": [
                {"email": o.email, "action": o.kind, "status": o.status, "tries": o.tries, "detail": o.detail}
                for o in outcomes.values()
            ],
        }
        self.log.info(
            "Membership sync of organization %s: %s\n%s",
            org,
            _summary_text(counts),
            format_plan_table(plan, outcomes={k: _outcome_text(o) for k, o in outcomes.items()}),
        )
        self._write_report(report_path, report)
        if failures:
            listed = "\n".join(f"  - {o.kind} {o.email}: {o.detail}" for o in failures[:50])
            more = f"\n  ... and {len(failures) - 50} more" if len(failures) > 50 else ""
            raise MembershipSyncError(
                f"{len(failures)} of {len(outcomes)} membership changes in organization {org} failed "
                f"(the others are done; a re-run retries only what is left):\n{listed}{more}"
            )
        return {**self._result(org, plan, report_path, dry_run=False, guards=guards), **counts}

    # -- roster ---------------------------------------------------------------------------------

    def _read_roster(self, org: str) -> tuple[list[RosterEntry], str]:
        source = self.source
        try:
            if isinstance(source, ObjectStoragePath) or (
                isinstance(source, str) and not source.lstrip().startswith("[")
            ):
                path = output_path(_with_org(source, org), self.source_conn_id)
                name = str(path)
                try:
                    data = path.read_bytes()
                except FileNotFoundError as error:
                    raise MembershipRosterError(
                        f"The roster {name} does not exist; check source (and the "
                        f"{ORG_PLACEHOLDER} placeholder) for organization {org}"
                    ) from error
                if name.endswith(".gz"):
                    data = gzip.decompress(data)
                try:
                    text = data.decode("utf-8-sig")
                except UnicodeDecodeError as error:
                    raise MembershipRosterError(f"The roster {name} is not UTF-8 text: {error}") from error
                return parse_roster_text(text, source=name, fmt=self.source_format), name
            entries = parse_roster(source)
            return entries, f"(a list of {len(entries)} rows)"
        except RosterError as error:
            raise MembershipRosterError(str(error)) from error
        except ValueError as error:
            raise MembershipRosterError(f"Unusable roster source: {error}") from error

    def _patterns(self) -> list[str]:
        protected = self.protected
        if isinstance(protected, str):
            protected = protected.replace(";", ",").split(",")
        return [str(p).strip() for p in protected if str(p).strip()]

    # -- apply ----------------------------------------------------------------------------------

    def _apply(
        self, org: str, plan: Plan, desired: list[RosterEntry], patterns: list[str]
    ) -> tuple[dict[str, _Outcome], int]:
        """Apply the plan; after failures, re-read the members and retry only what is still to do."""
        outcomes = {a.key: _Outcome(kind=a.kind, email=a.email) for a in plan.actions}
        planned_removals = {a.key for a in plan.of_kind("remove")}
        pending = list(plan.actions)
        rounds = 0
        while pending:
            rounds += 1
            clean = True
            for action in pending:
                outcome = outcomes[action.key]
                self._apply_one(org, action, outcome)
                clean = clean and outcome.status == "done" and not outcome.detail
            if clean:
                break
            try:
                fresh = current_members(self.hook.iter_members(org))
            except (XentreeAuthError, XentreePermissionError):
                raise
            except XentreeError as error:
                for outcome in outcomes.values():
                    if outcome.status != "done" or outcome.detail:
                        outcome.status = "failed"
                        outcome.detail = f"{outcome.detail or 'unverified'}; members re-read failed: {error}"
                break
            residual = compute_plan(desired, fresh, remove_missing=self.remove_missing, protected=patterns)
            still = {
                a.key: a
                for a in residual.actions
                if a.key in outcomes and (a.kind != "remove" or a.key in planned_removals)
            }
            pending = []
            for key, outcome in outcomes.items():
                if key not in still:
                    if outcome.status != "done":
                        self.log.info("%s %s: done (confirmed by re-reading the members)", outcome.kind, key)
                        outcome.detail = f"confirmed by re-reading the members after: {outcome.detail}"
                    outcome.status = "done"
                    continue
                if outcome.permanent:
                    outcome.status = "failed"
                    continue
                if rounds > self.reconcile_rounds:
                    outcome.status = "failed"
                    outcome.detail = f"not converged after {rounds} rounds: {outcome.detail or 'unknown'}"
                    continue
                outcome.status = "retry"
                pending.append(still[key])
            if pending:
                wait = self.hook.settings.retry.wait_seconds(rounds, None)
                self.log.warning(
                    "Round %d left %d membership changes to do; retrying them in %.2f s",
                    rounds,
                    len(pending),
                    wait,
                )
                time.sleep(wait)
        return outcomes, rounds

    def _apply_one(self, org: str, action: Action, outcome: _Outcome) -> None:
        """Make one write; record done, a permanent failure, or a transient one to verify and retry."""
        outcome.tries += 1
        outcome.detail = None
        hook = self.hook
        try:
            if action.kind == "add":
                try:
                    member = hook.add_member(action.email, action.role or "member", org_id=org)
                except XentreeConflictError as error:
                    outcome.status, outcome.detail = "done", f"already a member ({error.code or 'HTTP 409'})"
                    return
                user_id = str(member.get("user_id") or "") if isinstance(member, dict) else ""
                if action.team_id is not None and user_id and member.get("team_id") != action.team_id:
                    hook.replace_member(user_id, action.role or "member", team_id=action.team_id, org_id=org)
            elif action.kind == "update":
                assert action.user_id is not None
                if action.team_change:
                    hook.replace_member(
                        action.user_id, action.role or "member", team_id=action.team_id, org_id=org
                    )
                else:
                    hook.update_member_role(action.user_id, action.role or "member", org_id=org)
            else:
                assert action.user_id is not None
                try:
                    hook.remove_member(action.user_id, org_id=org)
                except XentreeNotFoundError:
                    outcome.status, outcome.detail = "done", "already removed"
                    return
            outcome.status = "done"
        except (XentreeAuthError, XentreePermissionError):
            raise
        except XentreeError as error:
            transient = _is_transient(error) or (
                action.kind == "update" and isinstance(error, XentreeNotFoundError)
            )
            outcome.status = "retry" if transient else "failed"
            outcome.permanent = not transient
            outcome.detail = str(error)
            self.log.warning(
                "%s %s failed (%s): %s",
                action.kind,
                action.email,
                "will verify and retry" if transient else "not retried",
                error,
            )

    # -- report ---------------------------------------------------------------------------------

    def _report_path(self, org: str) -> ObjectStoragePath | None:
        if self.report_path is None or (isinstance(self.report_path, str) and not self.report_path.strip()):
            return None
        return output_path(_with_org(self.report_path, org), self.report_conn_id)

    def _report(
        self, org: str, source_name: str, plan: Plan, guards: GuardCheck, patterns: list[str]
    ) -> dict[str, Any]:
        return {
            "report_version": REPORT_VERSION,
            "organization_id": org,
            "generated_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "dry_run": self.plan_only,
            "status": "planned",
            "source": source_name,
            "settings": {
                "remove_missing": self.remove_missing,
                "protected": patterns,
                "max_removals": self.max_removals,
                "max_changes_ratio": self.max_changes_ratio,
                "min_changes_allowed": self.min_changes_allowed,
            },
            "summary": plan.summary(),
            "guards": guards.to_dict(),
            "plan": [a.to_dict() for a in plan.actions],
            "skipped": [s.to_dict() for s in plan.skipped],
            "result": None,
        }

    def _write_report(self, path: ObjectStoragePath | None, report: dict[str, Any]) -> None:
        if path is None:
            return
        with atomic_write(path, binary=False) as handle:
            json.dump(report, handle, indent=2)
            handle.write("\n")
        self.log.info("Membership report written to %s", path)

    def _result(
        self, org: str, plan: Plan, path: ObjectStoragePath | None, *, dry_run: bool, guards: GuardCheck
    ) -> dict[str, Any]:
        summary = plan.summary()
        result: dict[str, Any] = {
            "organization_id": org,
            "dry_run": dry_run,
            "added": summary["add"],
            "updated": summary["update"],
            "removed": summary["remove"],
            "unchanged": summary["unchanged"],
            "skipped": summary["skipped"],
            "failed": 0,
            "report_path": str(path) if path is not None else None,
        }
        if dry_run:
            result["blocked"] = not guards.ok
        return result


def _with_org(value: str | ObjectStoragePath, org: str) -> str | ObjectStoragePath:
    if isinstance(value, str):
        return value.replace(ORG_PLACEHOLDER, org)
    return value


def _is_transient(error: XentreeError) -> bool:
    """Whether ``error`` may pass on a later try (or may hide a write that did take effect)."""
    if isinstance(error, XentreeQuotaExceededError):
        return False
    transient = (XentreeConnectionError, XentreeRateLimitError, XentreeResponseError, XentreeServerError)
    return isinstance(error, transient)


def _summary_text(counts: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in counts.items())


def _outcome_text(outcome: _Outcome) -> str:
    text = outcome.status
    if outcome.detail:
        text += f" ({outcome.detail})"
    if outcome.tries > 1:
        text += f" [{outcome.tries} tries]"
    return text
