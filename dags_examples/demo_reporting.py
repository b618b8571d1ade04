"""Demo of the weekly learning report against the bundled sandbox (``run_demo()``).

Runs ``xentree_learning_report`` with ``dag.test()`` for two consecutive weeks, so the second report
shows the change since the first, and prints where ``report.html`` is. The sandbox's data ends on
Monday 2026-11-23 (its ``anchor``), so the demo reports the weeks of 2026-11-09 and 2026-11-16. Needs a
migrated Airflow metadata database (``airflow db migrate``; ``run_demo`` runs it once when asked to).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dags_examples._demo import prepare_airflow, with_sandbox

if TYPE_CHECKING:
    from xentree_provider.testing import SandboxServer

DAG_ID = "xentree_learning_report"
DEMO_ANCHOR = "2026-11-23"  # a Monday: the sandbox's data covers the 28 days before it
#: Logical dates of the demo runs; each run reports the week (Monday to Sunday) before its date.
DEMO_RUNS = (datetime(2026, 11, 16, tzinfo=timezone.utc), datetime(2026, 11, 23, tzinfo=timezone.utc))


def _xcom(run: Any, task_id: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=DAG_ID, run_id=run.run_id, task_id=task_id, key="return_value", map_index=-1)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


def _run(sandbox: SandboxServer, report_dir: Path) -> dict[str, Any]:
    organization_id = sandbox.credentials()["first_org_id"]
    os.environ["AIRFLOW_CONN_XENTREE_DEFAULT"] = sandbox.connection_env(organization_id=organization_id)
    from dags_examples.xentree_learning_report import xentree_learning_report

    dag = xentree_learning_report()
    runs = []
    for logical_date in DEMO_RUNS:
        run = dag.test(logical_date=logical_date, run_conf={"report_dir": str(report_dir)})
        runs.append(
            {
                "logical_date": logical_date.isoformat(),
                "run_id": run.run_id,
                "state": str(getattr(run, "state", "unknown")),
                "summary": _xcom(run, "summary"),
            }
        )
    return {"runs": runs, "report_dir": str(report_dir)}


def run_demo(
    sandbox: SandboxServer | None = None, *, report_dir: str | Path | None = None, migrate: bool = True
) -> dict[str, Any]:
    """Run the weekly report DAG twice against ``sandbox`` (or a fresh one) and print the report path.

    Returns ``{"runs": [{"logical_date", "run_id", "state", "summary"}, ...], "report_dir", "report"}`` where
    ``report`` is the path of the latest ``report.html``.
    """
    prepare_airflow(migrate)
    target = Path(report_dir) if report_dir else Path(tempfile.mkdtemp(prefix="xentree-learning-report-"))
    outcome = with_sandbox(sandbox, lambda server: _run(server, target), anchor=DEMO_ANCHOR)
    latest = (outcome["runs"][-1].get("summary") or {}).get("report")
    outcome["report"] = latest
    for run in outcome["runs"]:
        summary = run["summary"] or {}
        print(
            f"learning report {run['logical_date'][:10]}: dag run {run['state']}; "
            f"{summary.get('members')} members, average progress {summary.get('average_progress')}%, "
            f"{round(100 * float(summary.get('active_share') or 0))}% active"
        )
        print(f"  knowledge-base reading: {json.dumps(summary.get('reading'))}")
    print(f"  open the report: {latest}")
    return outcome


if __name__ == "__main__":
    sys.exit(0 if all(r["state"].endswith("success") for r in run_demo()["runs"]) else 1)
