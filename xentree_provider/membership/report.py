"""The membership sync's JSON report, its task return value and its log lines; pure data, no Airflow.

The report is written on every outcome (``dry_run``, ``blocked``, ``applied``, ``failed``,
``aborted``); the task returns only small counts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from xentree_provider.membership.plan import GuardCheck, Plan
from xentree_provider.membership.reconcile import Outcome, WriteRecord

__all__ = [
    "REPORT_VERSION",
    "applied_counts",
    "audit_lines",
    "blocked_message",
    "dry_run_result",
    "failure_list",
    "new_report",
    "record_outcomes",
    "report_json",
    "summary_text",
    "task_result",
]

REPORT_VERSION = 1
_FAILURES_LISTED = 50
_FIRST_REMOVALS = 10


def summary_text(counts: Mapping[str, Any]) -> str:
    """``key=value, ...`` for log lines and messages."""
    return ", ".join(f"{k}={v}" for k, v in counts.items())


def new_report(
    org: str,
    source_name: str,
    plan: Plan,
    guards: GuardCheck,
    *,
    settings: Mapping[str, Any],
    dry_run: bool,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The report of a planned sync (``status`` ``planned``, no ``result`` yet)."""
    moment = now or dt.datetime.now(dt.timezone.utc)
    return {
        "report_version": REPORT_VERSION,
        "organization_id": org,
        "generated_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "dry_run": dry_run,
        "status": "planned",
        "source": source_name,
        "settings": dict(settings),
        "summary": plan.summary(),
        "guards": guards.to_dict(),
        "plan": [a.to_dict() for a in plan.actions],
        "skipped": [s.to_dict() for s in plan.skipped],
        "unknown_role": [s.to_dict() for s in plan.unclassified],
        "waiting_removal": [w.to_dict() for w in plan.waiting],
        "removals_reported_only": [a.to_dict() for a in plan.reported_removals],
        "result": None,
    }


def applied_counts(plan: Plan, outcomes: Mapping[str, Outcome]) -> dict[str, int]:
    """What the apply did: changes done per kind, unchanged, skipped and failed."""

    def done(kind: str) -> int:
        return sum(1 for o in outcomes.values() if o.kind == kind and o.status == "done")

    return {
        "added": done("add"),
        "updated": done("update"),
        "removed": done("remove"),
        "unchanged": plan.unchanged,
        "skipped": len(plan.skipped),
        "failed": sum(1 for o in outcomes.values() if o.status != "done"),
    }


def record_outcomes(
    report: dict[str, Any], plan: Plan, outcomes: Mapping[str, Outcome], rounds: int
) -> dict[str, int]:
    """Put the apply's result into ``report`` (status ``applied`` or ``failed``); return the counts."""
    counts = applied_counts(plan, outcomes)
    report["status"] = "failed" if counts["failed"] else "applied"
    report["result"] = {
        **counts,
        "rounds": rounds,
        "outcomes": [o.to_dict() for o in outcomes.values()],
    }
    return counts


def blocked_message(org: str, plan: Plan, guards: GuardCheck, *, approval: bool = False) -> str:
    """The message of a sync stopped by its guards before any change."""
    remedy = (
        "with on_guard='request_approval' the apply step needs the approved plan (approved_plan), "
        "given only after a human approved the dry run's plan"
        if approval
        else "if the change is intended, raise max_removals/max_changes_ratio/min_changes_allowed for one run"
    )
    return (
        f"Membership sync of organization {org} blocked before any change: "
        f"{'; '.join(guards.violations)}. Plan: {summary_text(plan.summary())}. Check the roster; {remedy}."
    )


def failure_list(org: str, outcomes: Mapping[str, Outcome]) -> str | None:
    """The message for a sync with failed changes (None when every change is done)."""
    failures = [o for o in outcomes.values() if o.status != "done"]
    if not failures:
        return None
    listed = "\n".join(f"  - {o.kind} {o.email}: {o.detail}" for o in failures[:_FAILURES_LISTED])
    more = len(failures) - _FAILURES_LISTED
    tail = f"\n  ... and {more} more" if more > 0 else ""
    return (
        f"{len(failures)} of {len(outcomes)} membership changes in organization {org} failed "
        f"(the others are done; a re-run retries only what is left):\n{listed}{tail}"
    )


def task_result(
    org: str, plan: Plan, report_path: str | None, *, dry_run: bool, guards: GuardCheck
) -> dict[str, Any]:
    """The task's small return value: the planned counts (the apply overrides them with what it did)."""
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
        "report_path": report_path,
    }
    if dry_run:
        result["blocked"] = not guards.ok
    return result


def audit_lines(org: str, writes: list[WriteRecord]) -> str:
    """The audit log's JSON lines: one per write sent, with the organization."""
    return "".join(json.dumps({"organization_id": org, **w.to_dict()}) + "\n" for w in writes)


def dry_run_result(
    org: str, plan: Plan, report_path: str | None, *, guards: GuardCheck, approval_required: bool
) -> dict[str, Any]:
    """A dry run's return value: the planned counts, the verdict, and what an approver needs to see."""
    return {
        **task_result(org, plan, report_path, dry_run=True, guards=guards),
        "approval_required": approval_required,
        "guard_violations": list(guards.violations),
        "first_removals": [a.email for a in plan.of_kind("remove")[:_FIRST_REMOVALS]],
    }


def report_json(report: Mapping[str, Any]) -> str:
    """The report as the text written to ``report_path``."""
    return json.dumps(report, indent=2) + "\n"
