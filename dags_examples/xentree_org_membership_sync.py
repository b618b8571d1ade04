"""Nightly organization membership sync: the HR roster is the truth, Xentree follows it.

One roster file per organization lives in a folder (``<organization_id>.csv``; the HR export drops them
there). Every night the DAG lists the folder and, for each organization in parallel:

1. ``plan``: computes and reports the plan (a dry run, ``<organization_id>.plan.json``);
2. ``within_guards``: a plan within the guards goes straight to ``apply``; a plan that trips a guard
   (too many removals or changes) asks a human first (``within_guards`` and ``apply`` are skipped);
3. ``approval_request`` + ``approve`` (skipped when no approval is needed): Airflow's human-in-the-loop
   approval (Required Actions in the UI, or the REST API) shows the counts, the first removals and the
   plan file. Reject: nothing is written;
4. ``apply`` / ``apply_approved``: applies the plan. The approved plan is re-checked against the
   organization as it is now and refused if what changed since trips the guards again.

A member missing from the roster is removed only after two consecutive nights without them (the count
is kept in the previous night's report). Every write is in the audit log beside the report.

Params (set them when triggering): ``roster_dir`` (a local folder or an object-storage URL such as
``s3://hr-exports/xentree``; the default, this file's ``rosters/`` folder, is resolved where the DAG is
parsed and may not exist on a worker), ``report_dir``, and ``on_guard`` (``request_approval``, or
``fail`` to fail the apply step instead of asking). Reports go to a folder named after the run's
logical date, or its ``run_after`` date for a manual run without one. The Xentree connection is
``xentree_default``.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param, dag, task, task_group

from xentree_provider._compat import AirflowSkipException
from xentree_provider.operators.organizations import XentreeOrgMembershipSyncOperator

ROSTER_DIR = str(Path(__file__).resolve().parent / "rosters")
REPORT_DIR = os.environ.get(
    "XENTREE_MEMBERSHIP_REPORT_DIR", str(Path(tempfile.gettempdir()) / "xentree-membership-reports")
)
ROSTER_SUFFIX = ".csv"
#: Not ``{{ ds }}``: it is undefined for manual runs without a logical date; ``run_after`` is always set.
REPORT_PATH = (
    "{{ params.report_dir }}/{{ (dag_run.logical_date or dag_run.run_after) | ds }}/{organization_id}"
)
PLAN_PATH = REPORT_PATH + ".plan.json"
RESULT_PATH = REPORT_PATH + ".result.json"

#: Settings shared by the plan and both apply steps (an approved plan is refused if they differ).
SYNC_SETTINGS = {
    "source": "{{ params.roster_dir }}/{organization_id}" + ROSTER_SUFFIX,
    "remove_missing": True,
    # The pipeline's own account is never removed or demoted, whatever the roster says.
    "protected": ["ada@acme.example"],
    "max_removals": 10,
    "max_changes_ratio": 0.2,
    "on_guard": "request_approval",
    # Removed only after two consecutive nights missing; the count is in the last night's result report.
    "remove_after_missing_runs": 2,
    "previous_report_path": "{{ params.report_dir }}/*/{organization_id}.result.json",
}


@dag(
    dag_id="xentree_org_membership_sync",
    schedule="30 2 * * *",  # nightly, after the HR export
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "people-ops"},
    params={
        "roster_dir": Param(ROSTER_DIR, type="string", description="folder or URL of <org_id>.csv rosters"),
        "report_dir": Param(REPORT_DIR, type="string", description="where the JSON reports go"),
        "on_guard": Param(
            "request_approval",
            enum=["request_approval", "fail"],
            description="when a guard trips: ask a human (request_approval) or fail the apply step",
        ),
    },
    tags=["xentree", "example"],
    doc_md=__doc__,
)
def xentree_org_membership_sync() -> None:
    """Plan, then apply (with a human's approval when a guard trips), every organization's roster."""

    @task
    def organizations(roster_dir: str) -> list[str]:
        """The organization ids that have a roster file (``<organization_id>.csv``) in the folder."""
        from airflow.sdk import ObjectStoragePath

        folder = ObjectStoragePath(roster_dir if "://" in roster_dir else f"file://{roster_dir}")
        if not folder.is_dir():
            raise FileNotFoundError(
                f"roster folder {roster_dir} not found on this worker; set the DAG param roster_dir (when "
                f"triggering) to a folder or URL holding <organization_id>{ROSTER_SUFFIX} rosters"
            )
        found = sorted(
            p.name.removesuffix(ROSTER_SUFFIX) for p in folder.iterdir() if p.name.endswith(ROSTER_SUFFIX)
        )
        if not found:
            raise ValueError(f"no *{ROSTER_SUFFIX} roster in {roster_dir}")
        return found

    @task
    def within_guards(plan: dict[str, Any], on_guard: str) -> None:
        """Let ``apply`` run unless the plan waits for a human's approval (then this step is skipped)."""
        if plan["approval_required"] and on_guard == "request_approval":
            raise AirflowSkipException("the plan trips a guard: it goes to the approval instead")

    @task
    def approval_request(plan: dict[str, Any], on_guard: str) -> str:
        """What the approver reads: why the guards tripped, the counts, the first removals, the plan file.

        Skipped (and with it the approval and ``apply_approved``) when no approval is needed.
        """
        if not (plan["approval_required"] and on_guard == "request_approval"):
            raise AirflowSkipException("the plan is within the guards: no approval needed")
        lines = [f"The membership sync of organization **{plan['organization_id']}** trips its guards:", ""]
        lines += [f"- {violation}" for violation in plan["guard_violations"]]
        lines += [
            "",
            f"The plan adds {plan['added']}, updates {plan['updated']} and removes {plan['removed']} "
            f"members ({plan['unchanged']} unchanged, {plan['skipped']} refused by the safety rules).",
        ]
        if plan["first_removals"]:
            lines += ["", "First removals:", *(f"- {email}" for email in plan["first_removals"])]
        lines += [
            "",
            f"Plan file: `{plan['report_path']}`",
            "",
            "Approve: the plan is re-checked against the organization as it is now, then applied. "
            "Reject: nothing is written.",
        ]
        return "\n".join(lines)

    @task_group
    def sync(organization_id: str) -> None:
        """Dry-run plan, the route (with an approval when a guard trips), then the apply step."""
        plan = XentreeOrgMembershipSyncOperator(
            task_id="plan",
            organization_id=organization_id,
            map_index_template="{{ task.organization_id }}",  # the UI labels each mapped task by it
            dry_run=True,
            report_path=PLAN_PATH,
            **SYNC_SETTINGS,  # type: ignore[arg-type]
        )
        request = approval_request(plan.output, "{{ params.on_guard }}")
        # A plain HITLOperator: apply_approved reads the answer itself (ApprovalOperator's skipping of
        # its downstream tasks fails inside a mapped task group on Airflow 3.3.2).
        approve = HITLOperator(
            task_id="approve",
            subject="Membership sync blocked by its guards: apply the plan anyway?",
            options=["Approve", "Reject"],
            body=request,
            response_timeout=timedelta(hours=12),  # unanswered: the approval fails, nothing is written
        )
        apply = XentreeOrgMembershipSyncOperator(
            task_id="apply",
            organization_id=organization_id,
            map_index_template="{{ task.organization_id }}",
            report_path=RESULT_PATH,
            retries=2,
            **SYNC_SETTINGS,  # type: ignore[arg-type]
        )
        apply_approved = XentreeOrgMembershipSyncOperator(
            task_id="apply_approved",
            organization_id=organization_id,
            map_index_template="{{ task.organization_id }}",
            approved_plan=PLAN_PATH,
            approval_task_id="sync.approve",  # applies only if the approval said "Approve"; else skips
            report_path=RESULT_PATH,
            retries=2,
            **SYNC_SETTINGS,  # type: ignore[arg-type]
        )
        within_guards(plan.output, "{{ params.on_guard }}") >> apply
        request >> approve >> apply_approved

    sync.expand(organization_id=organizations("{{ params.roster_dir }}"))


xentree_org_membership_sync()
