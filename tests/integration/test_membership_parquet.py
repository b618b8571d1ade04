"""The membership sync's plan and audit log as Parquet beside the JSON report: every value, and lineage."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.membership.schema import AUDIT_SCHEMA, PLAN_SCHEMA
from xentree_provider.operators.organizations import XentreeOrgMembershipSyncOperator
from xentree_provider.tabular.parquet import arrow_schema
from xentree_provider.tabular.schema import column_names
from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox(xentree_sandbox_clean: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", xentree_sandbox_clean.connection_env())
    return xentree_sandbox_clean


def _roster(sandbox: SandboxServer, org: str) -> list[dict[str, Any]]:
    rows = [{"email": m["email"], "role": m["role"]} for m in sandbox.members(org)]
    changed = next(r for r in rows if r["role"] == "member" and not r["email"].startswith("ada@"))
    changed["role"] = "manager"
    return [*rows, {"email": "=1+2@example.com", "role": "member"}]


def _as_rows(schema: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON rows as the Parquet file holds them: every column, JSON columns as sorted text."""
    out = []
    for row in rows:
        typed: dict[str, Any] = {}
        for column in schema:
            value = row.get(column.name)
            if column.type == "json" and value is not None:
                value = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
            if column.type == "timestamp" and value is not None:
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            typed[column.name] = value
        out.append(typed)
    return out


def test_plan_and_audit_in_parquet_equal_the_report_and_the_audit_log(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    org = str(sandbox.credentials()["first_org_id"])
    report_path = tmp_path / "sync.json"
    operator = XentreeOrgMembershipSyncOperator(
        task_id="sync",
        organization_id=org,
        source=_roster(sandbox, org),
        report_path=str(report_path),
        parquet=True,
    )
    operator.execute({})  # type: ignore[arg-type]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    audit = [json.loads(line) for line in (tmp_path / "sync.audit.jsonl").read_text().splitlines()]
    assert report["plan_parquet"] == (tmp_path / "sync.plan.parquet").as_uri()
    assert len(report["plan"]) == len(audit) == 2

    plan_table = pq.read_table(tmp_path / "sync.plan.parquet")
    assert plan_table.schema.equals(arrow_schema(PLAN_SCHEMA))
    assert plan_table.to_pylist() == _as_rows(PLAN_SCHEMA, report["plan"])
    assert "=1+2@example.com" in plan_table.column("email").to_pylist()  # data keeps raw text

    audit_path = tmp_path / "sync.audit.parquet"
    assert column_names(AUDIT_SCHEMA) == tuple(pq.read_schema(audit_path).names)
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    cursor = connection.execute(f"SELECT * FROM read_parquet('{audit_path}')")
    names = [column[0] for column in cursor.description]
    rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    for row in rows:
        row["time"] = row["time"].astimezone(timezone.utc)
    assert rows == _as_rows(AUDIT_SCHEMA, audit)

    lineage = operator.get_openlineage_facets_on_complete(None)
    by_name = {Path(d.name).name: d for d in lineage.outputs}
    assert set(by_name) == {"sync.json", "sync.audit.jsonl", "sync.plan.parquet", "sync.audit.parquet"}
    stats = by_name["sync.plan.parquet"].outputFacets["outputStatistics"]
    assert (stats.rowCount, stats.size) == (2, (tmp_path / "sync.plan.parquet").stat().st_size)


def test_without_pyarrow_the_sync_fails_naming_the_extra_before_any_request(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = str(sandbox.credentials()["first_org_id"])
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    sandbox.reset_counters()
    operator = XentreeOrgMembershipSyncOperator(
        task_id="sync",
        organization_id=org,
        source=[{"email": "a@example.com", "role": "member"}],
        report_path=str(tmp_path / "r.json"),
        parquet=True,
    )
    with pytest.raises(XentreeConfigError, match=r"airflow-provider-xentree\[parquet\]"):
        operator.execute({})  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())
    assert not any(sandbox.counters()["writes"].values())
