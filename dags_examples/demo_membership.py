"""Demo of the nightly membership sync against the bundled sandbox (``run_demo()``).

Runs ``xentree_org_membership_sync`` with ``dag.test()``: the sandbox's seeded organizations (seed 42)
are synced to the sample rosters in ``dags_examples/rosters/``, and the plan and result reports are
printed. Members missing from a roster are removed on the second night (run it twice with the same
``report_dir``). Needs a migrated Airflow metadata database (``airflow db migrate``; ``run_demo`` runs it once
when asked to).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dags_examples._demo import prepare_airflow, with_sandbox

if TYPE_CHECKING:
    from xentree_provider.testing import SandboxServer

DAG_ID = "xentree_org_membership_sync"
DEMO_SEED = 42  # the sample rosters match the sandbox's organizations for this seed


def _run(sandbox: SandboxServer, report_dir: Path) -> dict[str, Any]:
    os.environ["AIRFLOW_CONN_XENTREE_DEFAULT"] = sandbox.connection_env()
    from dags_examples.xentree_org_membership_sync import ROSTER_DIR, xentree_org_membership_sync

    dag = xentree_org_membership_sync()
    writes_before = sum(sandbox.counters()["writes"].values())
    run = dag.test(run_conf={"roster_dir": ROSTER_DIR, "report_dir": str(report_dir)})
    state = str(getattr(run, "state", "unknown"))
    reports = {
        str(p.relative_to(report_dir)): json.loads(p.read_text()) for p in sorted(report_dir.rglob("*.json"))
    }
    return {
        "state": state,
        "run_id": getattr(run, "run_id", None),
        "writes": sum(sandbox.counters()["writes"].values()) - writes_before,
        "reports": reports,
    }


def print_reports(outcome: dict[str, Any]) -> None:
    """Print a short summary per report (the full JSON stays in the report files)."""
    print(f"membership sync: dag run {outcome['state']}, {outcome['writes']} writes to the sandbox")
    for name, report in outcome["reports"].items():
        summary = report["summary"]
        result = report.get("result") or {}
        print(
            f"  {name}: status={report['status']} add={summary['add']} update={summary['update']} "
            f"remove={summary['remove']} unchanged={summary['unchanged']} skipped={summary['skipped']}"
            + (f" failed={result.get('failed', 0)}" if result else "")
        )
        for action in report["plan"]:
            print(f"    {action['action']:<6} {action['email']}")
        for skip in report["skipped"]:
            print(f"    skip   {skip['email']}: {skip['wanted']} ({skip['reason']})")
        for wait in report.get("waiting_removal", []):
            print(
                f"    wait   {wait['email']}: missing {wait['missing_runs']} of {wait['removed_after']} runs"
            )


def run_demo(
    sandbox: SandboxServer | None = None, *, report_dir: str | Path | None = None, migrate: bool = True
) -> dict[str, Any]:
    """Run the membership-sync DAG against ``sandbox`` (or a fresh one, seed 42) and print the reports.

    Returns ``{"state", "run_id", "writes", "reports"}`` (the reports as parsed JSON, keyed by relative path).
    The sandbox must hold the seed-42 organizations in their initial state for the sample rosters to
    make a few adds, updates and removals.
    """
    prepare_airflow(migrate)
    target = Path(report_dir) if report_dir else Path(tempfile.mkdtemp(prefix="xentree-membership-"))
    outcome = with_sandbox(sandbox, lambda server: _run(server, target), seed=DEMO_SEED)
    print_reports(outcome)
    print(f"  reports in {target}")
    return outcome


if __name__ == "__main__":
    sys.exit(0 if run_demo()["state"].endswith("success") else 1)
