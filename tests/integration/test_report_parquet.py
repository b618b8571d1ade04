"""The XEL report's table as Parquet: typed, equal value by value to progress.json, byte-stable."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from airflow.sdk.execution_time.context import OutletEventAccessors

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.operators.english import XentreeXELProgressReportOperator
from xentree_provider.reporting.data import MODULE_COLUMNS, ORGANIZATION_COLUMNS
from xentree_provider.reporting.schema import table_schema
from xentree_provider.tabular.parquet import arrow_schema
from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.integration

UTC = timezone.utc
WEEK = {
    "data_interval_start": datetime(2026, 11, 16, tzinfo=UTC),
    "data_interval_end": datetime(2026, 11, 23, tzinfo=UTC),
}


@pytest.fixture
def sandbox(xentree_sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    xentree_sandbox.reset(anchor="2026-11-23")
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", xentree_sandbox.connection_env())
    return xentree_sandbox


def _report(tmp_path: Path, name: str, **kwargs: Any) -> dict[str, Any]:
    operator = XentreeXELProgressReportOperator(
        task_id=f"r_{name}", output_path=str(tmp_path / name), parquet=True, **kwargs
    )
    return operator.execute({**WEEK, "outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]


def _local(path: str) -> Path:
    return Path(path.removeprefix("file://"))


def _expected(row: dict[str, Any]) -> dict[str, Any]:
    """A progress.json row as the Parquet file types it (timestamps as UTC datetimes)."""
    stamp = row["last_activity_at"]
    parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
    return {**row, "last_activity_at": parsed}


def _same_instant(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their timestamps as UTC instants (readers return their own tzinfo objects)."""
    return [{k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in row.items()} for row in rows]


def test_organization_table_in_parquet_equals_the_json_rows(sandbox: SandboxServer, tmp_path: Path) -> None:
    org_id = sandbox.credentials()["first_org_id"]
    result = _report(tmp_path, "org", scope="organization", organization_id=org_id)
    parquet = _local(result["parquet"])
    assert parquet == tmp_path / "org" / "progress.parquet"
    rows = json.loads(_local(result["json"]).read_text(encoding="utf-8"))["rows"]
    expected = [_expected(row) for row in rows]

    table = pq.read_table(parquet)
    assert table.schema.equals(arrow_schema(table_schema("organization")))
    assert table.column_names == list(ORGANIZATION_COLUMNS)
    assert _same_instant(table.to_pylist()) == expected
    assert len(expected) == 250

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    cursor = connection.execute(f"SELECT * FROM read_parquet('{parquet}')")
    names = [column[0] for column in cursor.description]
    from_duckdb = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    assert _same_instant(from_duckdb) == expected
    described = connection.execute(f"DESCRIBE SELECT * FROM read_parquet('{parquet}')").fetchall()
    types = {name: kind for name, kind, *_ in described}
    assert types["last_activity_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["progress_percent"] == "DOUBLE"
    assert types["active_in_window"] == "BOOLEAN"


def test_module_table_in_parquet_and_bytes_are_stable(sandbox: SandboxServer, tmp_path: Path) -> None:
    first = _report(tmp_path, "a", scope="user")
    second = _report(tmp_path, "b", scope="user", page_size=7)
    table = pq.read_table(_local(first["parquet"]))
    assert table.column_names == list(MODULE_COLUMNS)
    rows = json.loads(_local(first["json"]).read_text(encoding="utf-8"))["rows"]
    assert _same_instant(table.to_pylist()) == [_expected(row) for row in rows]
    assert _local(first["parquet"]).read_bytes() == _local(second["parquet"]).read_bytes()


def test_organization_parquet_bytes_do_not_depend_on_paging(sandbox: SandboxServer, tmp_path: Path) -> None:
    org_id = sandbox.credentials()["first_org_id"]
    a = _report(tmp_path, "a", scope="organization", organization_id=org_id, page_size=37)
    b = _report(tmp_path, "b", scope="organization", organization_id=org_id, page_size=200)
    assert _local(a["parquet"]).read_bytes() == _local(b["parquet"]).read_bytes()


def test_without_pyarrow_the_task_fails_naming_the_extra_before_any_request(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    sandbox.reset_counters()
    with pytest.raises(XentreeConfigError, match=r"pip install 'airflow-provider-xentree\[parquet\]'"):
        _report(tmp_path, "none", scope="user")
    assert not (tmp_path / "none").exists()
    assert "/api/xel/" not in json.dumps(sandbox.counters())
    plain = XentreeXELProgressReportOperator(
        task_id="plain", scope="user", output_path=str(tmp_path / "plain")
    )
    plain.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]
    assert "/api/xel/" in json.dumps(sandbox.counters())  # the check above can see requests


def test_without_parquet_no_parquet_file_is_written(sandbox: SandboxServer, tmp_path: Path) -> None:
    operator = XentreeXELProgressReportOperator(task_id="plain", scope="user", output_path=str(tmp_path))
    result = operator.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]
    assert result["parquet"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["progress.csv", "progress.json", "report.html"]
