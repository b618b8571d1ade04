"""The membership example DAG's approval round under a real Airflow (scheduler, workers, api-server).

A guard that trips pauses the run at Airflow's own human-in-the-loop approval; the test answers it
through Airflow's REST API (``PATCH .../hitlDetails``), as an approver would from the UI:

* night one: 12 members are missing from the roster; with the example's grace of two nights they only
  wait (no write, no approval needed);
* night two: the 12 removals trip ``max_removals=10``; the approval shows the counts, the first
  removals and the plan file; **Approve** applies the stored plan after re-checking it;
* night three: 12 new hires trip the change ratio; **Reject** writes nothing.

The sandbox's write counters prove what was written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from xentree_provider.testing import SandboxServer
from xentree_provider.testing.airflow_cluster import AirflowCluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags_examples"
DAG_ID = "xentree_org_membership_sync"
ANSWER_AFTER_SECONDS = 8.0
WAITING_STATES = {"awaiting_input", "deferred"}  # Airflow 3.3+ parks HITL tasks; 3.1/3.2 defer them
DELETE = "DELETE /api/organizations/{org_id}/members/{user_id}"
ADD = "POST /api/organizations/{org_id}/members"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="module")
def cluster(sandbox: SandboxServer) -> Iterator[AirflowCluster]:
    env = {"AIRFLOW_CONN_XENTREE_DEFAULT": sandbox.connection_env()}
    with AirflowCluster(DAGS_FOLDER, env=env, startup_timeout=420) as running:
        running.wait_for_dags([DAG_ID])
        yield running
    assert not running.running


def write_roster(folder: Path, org: str, rows: list[dict[str, Any]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{r['email']},{r['role']},{r['team_id'] or ''}\n" for r in rows)
    (folder / f"{org}.csv").write_text("email,role,team_id\n" + lines)


def states(cluster: AirflowCluster, run_id: str) -> dict[str, str]:
    return {ti["task_id"]: str(ti["state"]) for ti in cluster.task_instances(DAG_ID, run_id)}


def hitl_path(run_id: str) -> str:
    return f"dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/sync.approve/0/hitlDetails"


def trigger(cluster: AirflowCluster, day: str, roster_dir: Path, report_dir: Path) -> str:
    return cluster.trigger_dag(
        DAG_ID,
        logical_date=f"{day}T02:30:00+00:00",
        conf={"roster_dir": str(roster_dir), "report_dir": str(report_dir)},
        run_id=f"membership_{day}",
    )


def wait_for_approval(cluster: AirflowCluster, run_id: str) -> dict[str, Any]:
    """Wait until the approval task waits for a human; return its request as the REST API shows it."""

    deadline = time.monotonic() + 240
    while True:
        now = states(cluster, run_id)
        if now.get("sync.approve") in WAITING_STATES:
            break
        if cluster.dag_run(DAG_ID, run_id)["state"] in ("success", "failed"):
            raise AssertionError(f"the run ended without asking for approval: {now}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no approval asked within 240 s: {now}\n{cluster.logs_tail()}")
        time.sleep(0.5)
    # Airflow 3.3.2 can fail a deferred try whose trigger fires within seconds of the deferral
    # (apache/airflow#67287, the race docs/deployment.md names): let the deferral settle before the
    # answer makes the trigger fire.
    time.sleep(ANSWER_AFTER_SECONDS)
    detail: dict[str, Any] = cluster.api("GET", hitl_path(run_id))
    return detail


def finished(cluster: AirflowCluster, run_id: str) -> str:
    """Wait for the run; on failure, show every task's state and the failed tasks' logs."""
    state = cluster.wait_for_run(DAG_ID, run_id, timeout=240)
    if state != "success":
        tis = cluster.task_instances(DAG_ID, run_id)
        shown = [f"{ti['task_id']}[{ti['map_index']}]: {ti['state']}" for ti in tis]
        logs = [
            cluster.task_log(DAG_ID, run_id, ti["task_id"], int(ti["try_number"] or 1), ti["map_index"])[
                -3000:
            ]
            for ti in tis
            if ti["state"] == "failed" and ti["try_number"]
        ]
        print("\n".join(shown + logs))
    return state


def answer(cluster: AirflowCluster, run_id: str, option: str) -> None:
    cluster.api("PATCH", hitl_path(run_id), json={"chosen_options": [option], "params_input": {}})


def test_an_approval_round_under_the_real_scheduler(
    cluster: AirflowCluster, sandbox: SandboxServer, tmp_path: Path
) -> None:
    org = sandbox.credentials()["org_ids"]["acme"]
    members = sandbox.members(org)
    plain = [m for m in members if m["role"] == "member" and not m["email"].startswith("ada@")]
    leaving = {m["email"] for m in plain[:12]}
    staying = [m for m in members if m["email"] not in leaving]
    rosters, reports = tmp_path / "rosters", tmp_path / "reports"
    write_roster(rosters, org, staying)
    sandbox.reset_counters()

    # Night one: the 12 missing members only start their grace period.
    first = trigger(cluster, "2026-11-24", rosters, reports)
    assert finished(cluster, first) == "success"
    assert states(cluster, first)["sync.apply"] == "success"
    assert sandbox.counters()["writes"] == {}
    night_one = json.loads((reports / "2026-11-24" / f"{org}.result.json").read_text())
    assert night_one["summary"]["waiting_removal"] == 12

    # Night two: the removals are due, 12 > max_removals: a human is asked.
    second = trigger(cluster, "2026-11-25", rosters, reports)
    request = wait_for_approval(cluster, second)
    body = str(request.get("body"))
    assert "removes 12 members, more than max_removals=10" in body
    assert "removes 12 members" in body
    assert f"{reports}/2026-11-25/{org}.plan.json" in body
    assert sum(1 for email in leaving if email in body) == 10, "the first ten removals are listed"
    assert sandbox.counters()["writes"] == {}, "nothing is written while the approval waits"
    answer(cluster, second, "Approve")
    assert finished(cluster, second) == "success"
    done = states(cluster, second)
    assert (done["sync.apply_approved"], done["sync.apply"]) == ("success", "skipped")
    assert sandbox.counters()["writes"] == {DELETE: 12}
    assert {m["email"] for m in sandbox.members(org)} == {m["email"] for m in staying}
    applied = json.loads((reports / "2026-11-25" / f"{org}.result.json").read_text())
    assert applied["status"] == "applied" and applied["approval"]["drift"] == []
    audit = (reports / "2026-11-25" / f"{org}.result.audit.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["email"] for line in audit) == sorted(leaving)

    # Night three: 12 new hires trip the change ratio; the approver rejects: nothing is written.
    sandbox.reset_counters()
    hires = [{"email": f"hire{n}@acme.example", "role": "member", "team_id": None} for n in range(12)]
    write_roster(rosters, org, staying + hires)
    third = trigger(cluster, "2026-11-26", rosters, reports)
    request = wait_for_approval(cluster, third)
    assert "more than max_changes_ratio=0.2" in str(request.get("body"))
    answer(cluster, third, "Reject")
    assert finished(cluster, third) == "success"
    done = states(cluster, third)
    assert (done["sync.approve"], done["sync.apply_approved"], done["sync.apply"]) == (
        "success",
        "skipped",
        "skipped",
    )
    assert sandbox.counters()["writes"] == {}
    rejected = json.loads((reports / "2026-11-26" / f"{org}.result.json").read_text())
    assert rejected["status"] == "rejected" and rejected["result"] is None
