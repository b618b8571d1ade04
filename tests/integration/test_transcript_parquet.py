"""Transcript exports as Parquet: the fixed schema, every value equal to the JSON-lines export (read
with pyarrow and with DuckDB), row groups, byte-identical re-runs, and a clear error without pyarrow."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.operators.live import XentreeTranscriptExportOperator
from xentree_provider.tabular.parquet import arrow_schema
from xentree_provider.testing import SandboxServer
from xentree_provider.transcripts import parquet as transcript_parquet
from xentree_provider.transcripts.schema import TRANSCRIPT_SCHEMA

pytestmark = pytest.mark.integration

UTC = timezone.utc
ANCHOR = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW = {"data_interval_start": ANCHOR - timedelta(days=2), "data_interval_end": ANCHOR - timedelta(days=1)}
ODD_TURNS = [
    {"role": "user", "text": "line one\r\nline two\rthree", "timestamp": "2026-02-27T10:00:01Z"},
    {
        "role": "ai",
        "text": '=HYPERLINK("x") \u00e9\u4e2d\U0001f600 "quoted"',
        "timestamp": "2026-02-27T10:00:02.5+00:00",
    },
    {"role": "user", "text": "", "timestamp": "2026-02-27T10:00:03.000001Z"},
]


@pytest.fixture
def world(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """The sandbox at a fixed anchor, plus two saved transcripts with awkward text and no turns."""
    import requests

    sandbox.reset(anchor=ANCHOR.date().isoformat())
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", sandbox.connection_env())
    session = requests.Session()
    session.headers["X-API-Key"] = sandbox.api_key("full")
    for turns, started in ((ODD_TURNS, "2026-02-27T10:00:00Z"), ([], "2026-02-27T11:00:00Z")):
        body = {
            "session_started_at": started,
            "session_ended_at": "2026-02-27T12:00:00Z",
            "transcripts": turns,
        }
        response = session.post(f"{sandbox.url}/api/live/transcripts", json=body, timeout=30)
        assert response.status_code == 201, response.text
    return sandbox


def _export(tmp_path: Path, name: str, **kwargs: Any) -> dict[str, Any]:
    operator = XentreeTranscriptExportOperator(task_id=name, output_path=str(tmp_path / name), **kwargs)
    return operator.execute(dict(WINDOW))  # type: ignore[arg-type]


def _stamp(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _typed(record: dict[str, Any]) -> dict[str, Any]:
    """A JSON-lines record as Parquet types it (timestamps as UTC instants)."""
    typed = {k: _stamp(record[k]) if k.endswith("_at") else v for k, v in record.items()}
    typed["turns"] = [{**turn, "timestamp": _stamp(turn["timestamp"])} for turn in record["turns"]]
    return typed


def _utc(value: Any) -> Any:
    """Readers hand back their own tzinfo; compare instants in UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, list):
        return [_utc(v) for v in value]
    if isinstance(value, dict):
        return {k: _utc(v) for k, v in value.items()}
    return value


def test_parquet_holds_every_value_of_the_jsonl_export(world: SandboxServer, tmp_path: Path) -> None:
    lines = _export(tmp_path, "t.jsonl")
    parquet = _export(tmp_path, "t.parquet", export_format="parquet")
    records = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()]
    expected = [_typed(r) for r in records]
    assert parquet["count"] == lines["count"] == len(records) > 50
    assert parquet["format"] == "parquet" and parquet["compression"] is None
    assert parquet["bytes"] == (tmp_path / "t.parquet").stat().st_size
    odd = next(r for r in records if r["turns"] and r["turns"][0]["text"] == ODD_TURNS[0]["text"])
    assert any(not r["turns"] for r in records)  # the saved transcript without turns is in the window

    table = pq.read_table(tmp_path / "t.parquet")
    assert table.schema.equals(arrow_schema(TRANSCRIPT_SCHEMA))
    assert str(table.schema.field("turns").type) == (
        "list<element: struct<role: string, text: string, timestamp: timestamp[us, tz=UTC]> not null>"
    )
    assert _utc(table.to_pylist()) == expected

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    cursor = connection.execute(f"SELECT * FROM read_parquet('{tmp_path / 't.parquet'}')")
    names = [column[0] for column in cursor.description]
    from_duckdb = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert _utc(from_duckdb) == expected
    texts = connection.execute(
        f"SELECT t.text FROM read_parquet('{tmp_path / 't.parquet'}'), unnest(turns) AS u(t) WHERE id = ?",
        [odd["id"]],
    ).fetchall()
    assert [text for (text,) in texts] == [turn["text"] for turn in ODD_TURNS]


def test_row_groups_and_byte_identical_reruns(
    world: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transcript_parquet, "TRANSCRIPTS_PER_ROW_GROUP", 16)
    first = _export(tmp_path, "a.parquet", export_format="parquet", max_workers=8)
    second = _export(tmp_path, "b.parquet", export_format="parquet", max_workers=1, page_size=13)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    groups = pq.ParquetFile(tmp_path / "a.parquet").metadata
    assert groups.num_row_groups == -(-first["count"] // 16) > 1
    assert [groups.row_group(i).num_rows for i in range(groups.num_row_groups - 1)] == [16] * (
        groups.num_row_groups - 1
    )
    assert second["count"] == first["count"]


def test_an_empty_window_writes_the_schema_and_no_rows(world: SandboxServer, tmp_path: Path) -> None:
    operator = XentreeTranscriptExportOperator(
        task_id="empty", output_path=str(tmp_path / "e.parquet"), export_format="parquet"
    )
    far = datetime(2001, 1, 1, tzinfo=UTC)
    result = operator.execute({"data_interval_start": far, "data_interval_end": far + timedelta(days=1)})  # type: ignore[arg-type]
    table = pq.read_table(tmp_path / "e.parquet")
    assert result["count"] == table.num_rows == 0
    assert table.schema.equals(arrow_schema(TRANSCRIPT_SCHEMA))


def test_parquet_takes_no_outer_compression() -> None:
    with pytest.raises(ValueError, match="compresses inside the file"):
        XentreeTranscriptExportOperator(
            task_id="x", output_path="/tmp/x.parquet", export_format="parquet", compression="gzip"
        )


def test_without_pyarrow_the_export_fails_naming_the_extra_before_any_request(
    world: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    world.reset_counters()
    with pytest.raises(XentreeConfigError, match=r"airflow-provider-xentree\[parquet\]"):
        _export(tmp_path, "none.parquet", export_format="parquet")
    assert not (tmp_path / "none.parquet").exists()
    assert "/api/live/transcripts" not in json.dumps(world.counters())
    _export(tmp_path, "fine.jsonl")  # the other formats need no pyarrow
    assert "/api/live/transcripts" in json.dumps(world.counters())
