"""The nightly membership-sync example DAG under ``dag.test()``, mapped over two organizations."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.e2e


def roster_state(path: Path, before: dict[str, tuple[str, str | None]]) -> dict[str, tuple[str, str | None]]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    wanted = {}
    for row in rows:
        key = row["email"].strip().lower()
        wanted[key] = (row["role"], row["team_id"] or before.get(key, ("", None))[1])
    return wanted


def members(sandbox: SandboxServer, org: str) -> dict[str, tuple[str, str | None]]:
    return {m["email"].lower(): (m["role"], m["team_id"]) for m in sandbox.members(org)}


def link_urls(run_id: str) -> list[str]:
    """The members-page URLs the mapped tasks stored for their extra link."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from xentree_provider.links.xentree import XentreeOrganizationLink

    key = XentreeOrganizationLink().xcom_key
    with create_session() as session:
        rows = session.scalars(XComModel.get_many(run_id=run_id, key=key)).all()
        return [str(XComModel.deserialize_value(row)) for row in rows]


def test_example_dag_plans_then_applies_per_organization(
    xentree_sandbox_clean: SandboxServer, airflow_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dags_examples.demo_membership import run_demo
    from dags_examples.xentree_org_membership_sync import ROSTER_DIR

    sandbox = xentree_sandbox_clean
    orgs = sorted(p.stem for p in Path(ROSTER_DIR).glob("*.csv"))
    assert len(orgs) == 2
    before = {org: members(sandbox, org) for org in orgs}

    # Night one: adds and role/team changes; members missing from the roster wait (grace of 2 nights).
    outcome = run_demo(sandbox, report_dir=tmp_path, migrate=False)

    assert outcome["state"].endswith("success")
    reports: dict[str, Any] = outcome["reports"]
    assert sorted(Path(name).name for name in reports) == sorted(
        f"{org}.{kind}.json" for org in orgs for kind in ("plan", "result")
    )
    waiting = 0
    for name, report in reports.items():
        assert report["status"] == ("dry_run" if name.endswith(".plan.json") else "applied"), name
        assert report["summary"]["add"] >= 1 and report["summary"]["remove"] == 0
        assert report["summary"]["waiting_removal"] >= 1
        waiting += report["summary"]["waiting_removal"] if name.endswith(".result.json") else 0
    assert outcome["writes"] > 0
    for org in orgs:
        audit = next(tmp_path.rglob(f"{org}.result.audit.jsonl"))
        assert len(audit.read_text().splitlines()) > 0
    assert sorted(link_urls(outcome["run_id"])) == sorted(
        f"{sandbox.url}/organizations/{org}/members" for org in orgs for _task in ("plan", "apply")
    )
    printed = capsys.readouterr().out
    assert (
        "skip   grace.turing40@globex.example: role owner -> admin (the last owner is never changed)"
        in printed
    )

    # Night two, same roster: the members missing for two nights are removed, nothing else changes.
    second = run_demo(sandbox, report_dir=tmp_path, migrate=False)
    assert second["state"].endswith("success")
    assert second["writes"] == waiting
    for org in orgs:
        # The organization now follows its roster, except what the rules protect (globex's sole owner).
        result = next(r for n, r in second["reports"].items() if n.endswith(f"{org}.result.json"))
        assert result["summary"]["remove"] >= 1 and result["grace"]["restarted"] is None
        expected = roster_state(Path(ROSTER_DIR) / f"{org}.csv", before[org])
        for skip in result["skipped"]:
            expected[skip["email"]] = before[org][skip["email"]]
        assert members(sandbox, org) == expected

    # Night three, with nothing changed in HR, the sync makes no write.
    again = run_demo(sandbox, report_dir=tmp_path, migrate=False)
    assert again["state"].endswith("success")
    assert again["writes"] == 0
    for report in again["reports"].values():
        assert report["summary"]["add"] == report["summary"]["update"] == report["summary"]["remove"] == 0


def test_a_roster_that_would_wipe_the_organization_fails_the_apply_step(
    xentree_sandbox_clean: SandboxServer, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dags_examples.xentree_org_membership_sync import xentree_org_membership_sync

    sandbox = xentree_sandbox_clean
    org = sandbox.credentials()["org_ids"]["acme"]
    roster_dir = tmp_path / "rosters"
    roster_dir.mkdir()
    # A truncated HR export: only the first three members are left.
    rows = sandbox.members(org)[:3]
    (roster_dir / f"{org}.csv").write_text(
        "email,role,team_id\n" + "".join(f"{m['email']},{m['role']},{m['team_id']}\n" for m in rows)
    )
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", sandbox.connection_env())
    before = members(sandbox, org)

    conf = {"roster_dir": str(roster_dir), "report_dir": str(tmp_path / "reports"), "on_guard": "fail"}
    # Night one: the 36 removable missing members only start their grace (two nights): no write.
    first = xentree_org_membership_sync().test(run_conf=conf)
    assert str(first.state).endswith("success")
    assert sandbox.counters()["writes"] == {}
    (night_one,) = (tmp_path / "reports").rglob(f"{org}.result.json")
    assert json.loads(night_one.read_text())["summary"]["waiting_removal"] == 36  # Ada is protected

    # Night two: the removals are due, and the guard stops them before any write.
    run = xentree_org_membership_sync().test(run_conf=conf)

    assert str(run.state).endswith("failed")
    states = {(ti.task_id, ti.map_index): str(ti.state) for ti in run.get_task_instances()}
    assert states[("sync.plan", 0)].endswith("success")
    assert states[("sync.apply", 0)].endswith("failed")
    assert sandbox.counters()["writes"] == {}
    assert members(sandbox, org) == before
    (result,) = (tmp_path / "reports").rglob(f"{org}.result.json")
    report = json.loads(result.read_text())
    assert report["status"] == "blocked"
    assert report["guards"]["violations"]


def test_a_manual_run_without_logical_date_writes_reports_under_the_run_date(
    xentree_sandbox_clean: SandboxServer, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dags_examples.xentree_org_membership_sync import xentree_org_membership_sync

    sandbox = xentree_sandbox_clean
    org = sandbox.credentials()["org_ids"]["acme"]
    roster_dir = tmp_path / "rosters"
    roster_dir.mkdir()
    rows = sandbox.members(org)  # the roster matches the organization: nothing to change
    (roster_dir / f"{org}.csv").write_text(
        "email,role,team_id\n" + "".join(f"{m['email']},{m['role']},{m['team_id'] or ''}\n" for m in rows)
    )
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", sandbox.connection_env())

    run = xentree_org_membership_sync().test(
        logical_date=None, run_conf={"roster_dir": str(roster_dir), "report_dir": str(tmp_path / "reports")}
    )

    assert run.logical_date is None
    assert str(run.state).endswith("success")
    day = run.run_after.strftime("%Y-%m-%d")
    assert sorted(
        p.relative_to(tmp_path / "reports").as_posix() for p in (tmp_path / "reports").rglob("*")
    ) == [
        day,
        f"{day}/{org}.plan.json",
        f"{day}/{org}.result.audit.jsonl",
        f"{day}/{org}.result.json",
    ]
    assert sandbox.counters()["writes"] == {}


def test_a_missing_roster_folder_fails_with_a_message_naming_it_and_the_param(
    xentree_sandbox_clean: SandboxServer,
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from dags_examples.xentree_org_membership_sync import xentree_org_membership_sync

    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", xentree_sandbox_clean.connection_env())
    missing = tmp_path / "not-mounted-here"

    run = xentree_org_membership_sync().test(
        logical_date=None, run_conf={"roster_dir": str(missing), "report_dir": str(tmp_path / "reports")}
    )

    assert str(run.state).endswith("failed")
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["organizations"].endswith("failed")
    printed = capsys.readouterr()
    output = printed.out + printed.err
    assert f"roster folder {missing} not found on this worker; set the DAG param roster_dir" in output
    assert "Errno 2" not in output
    assert xentree_sandbox_clean.counters()["writes"] == {}
