"""Nightly organization membership sync: the HR roster is the truth, Xentree follows it.

One roster file per organization lives in a folder (``<organization_id>.csv``; the HR export drops them
there). Every night the DAG lists the folder and, for each organization in parallel, first computes and
reports the plan (dry run), then applies it. The guards make sure a bad roster can never wipe an
organization: too many removals or changes fail the apply step before any write.

Params (set them when triggering): ``roster_dir`` (a local folder or an object-storage URL such as
``s3://hr-exports/xentree``; the default, this file's ``rosters/`` folder, is resolved where the DAG is
parsed and may not exist on a worker) and ``report_dir``. Reports go to a folder named after the run's
logical date, or its ``run_after`` date for a manual run without one. The Xentree connection is
``xentree_default``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, task, task_group

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

#: Settings shared by the plan and the apply step (the apply recomputes the plan from fresh state).
SYNC_SETTINGS = {
    "source": "{{ params.roster_dir }}/{organization_id}" + ROSTER_SUFFIX,
    "remove_missing": True,
    # The pipeline's own account is never removed or demoted, whatever the roster says.
    "protected": ["ada@acme.example"],
    "max_removals": 10,
    "max_changes_ratio": 0.2,
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
    },
    tags=["xentree", "example"],
    doc_md=__doc__,
)
def xentree_org_membership_sync() -> None:
    """Plan, then apply, the roster of every organization found in the roster folder."""

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

    @task_group
    def sync(organization_id: str) -> None:
        """Dry-run plan first, then the apply step, for one organization."""
        plan = XentreeOrgMembershipSyncOperator(
            task_id="plan",
            organization_id=organization_id,
            map_index_template="{{ task.organization_id }}",  # the UI labels each mapped task by it
            dry_run=True,
            report_path=REPORT_PATH + ".plan.json",
            **SYNC_SETTINGS,  # type: ignore[arg-type]
        )
        apply = XentreeOrgMembershipSyncOperator(
            task_id="apply",
            organization_id=organization_id,
            map_index_template="{{ task.organization_id }}",
            report_path=REPORT_PATH + ".result.json",
            retries=2,
            **SYNC_SETTINGS,  # type: ignore[arg-type]
        )
        plan >> apply

    sync.expand(organization_id=organizations("{{ params.roster_dir }}"))


xentree_org_membership_sync()
