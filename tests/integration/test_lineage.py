"""OpenLineage of the operators that write files, extracted as Airflow's OpenLineage listener does.

The listener hands each task to ``ExtractorManager.extract_metadata`` with the task's state: RUNNING
before ``execute`` (the operator's ``get_openlineage_facets_on_start``), SUCCESS after it
(``..._on_complete``). These tests run the real operators against the sandbox and check the datasets
and facets the listener would emit.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.openlineage.extractors.manager import ExtractorManager
from airflow.sdk.execution_time.context import OutletEventAccessors
from airflow.utils.state import TaskInstanceState

from xentree_provider._task.lineage import dataset_identity
from xentree_provider.operators.english import XentreeXELProgressReportOperator
from xentree_provider.operators.knowledge import XentreeKnowledgeSearchOperator, XentreeRagQueryOperator
from xentree_provider.reporting.data import MODULE_COLUMNS, ORGANIZATION_COLUMNS
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


def _extract(operator: Any, state: TaskInstanceState) -> Any:
    """What the OpenLineage listener extracts for ``operator`` in ``state``."""
    return ExtractorManager().extract_metadata(
        SimpleNamespace(run_id="manual__lineage"), operator, state, SimpleNamespace(task=operator)
    )


def _schema(dataset: Any) -> list[tuple[str, str]]:
    return [(f.name, f.type) for f in dataset.facets["schema"].fields]


def _by_name(datasets: list[Any]) -> dict[str, Any]:
    return {Path(d.name).name: d for d in datasets}


def test_organization_report_lineage_names_the_directory_and_every_file(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    org_id = sandbox.credentials()["first_org_id"]
    operator = XentreeXELProgressReportOperator(
        task_id="report", scope="organization", organization_id=org_id, output_path=str(tmp_path / "r")
    )

    start = _extract(operator, TaskInstanceState.RUNNING)
    assert [(i.namespace, i.name) for i in start.inputs] == [
        (sandbox.url, f"/api/v1/admin/stats/progress/members?org_id={org_id}"),
        (sandbox.url, f"/api/organizations/{org_id}"),
    ]
    planned = _by_name(start.outputs)
    assert set(planned) == {"progress.csv", "progress.json", "report.html"}
    assert all(not d.outputFacets for d in start.outputs)  # nothing written yet

    result = operator.execute({**WEEK, "outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]
    done = _extract(operator, TaskInstanceState.SUCCESS)

    assert [(i.namespace, i.name) for i in done.inputs] == [(i.namespace, i.name) for i in start.inputs]
    outputs = _by_name(done.outputs)
    csv_file = outputs["progress.csv"]
    assert (csv_file.namespace, csv_file.name) == ("file", str(tmp_path / "r" / "progress.csv"))
    assert [name for name, _ in _schema(csv_file)] == list(ORGANIZATION_COLUMNS)
    assert dict(_schema(csv_file))["progress_percent"] == "DOUBLE"
    assert dict(_schema(csv_file))["active_in_window"] == "BOOLEAN"
    assert result["rows"] == 250
    for name, dataset in outputs.items():
        stats = dataset.outputFacets["outputStatistics"]
        assert stats.size == (tmp_path / "r" / name).stat().st_size
        assert stats.rowCount == (None if name == "report.html" else 250)
    rows_field = next(f for f in outputs["progress.json"].facets["schema"].fields if f.name == "rows")
    assert [f.name for f in rows_field.fields[0].fields] == list(ORGANIZATION_COLUMNS)
    assert "schema" not in outputs["report.html"].facets


def test_user_report_lineage_reads_dashboard_and_modules(sandbox: SandboxServer, tmp_path: Path) -> None:
    operator = XentreeXELProgressReportOperator(task_id="me", scope="user", output_path=str(tmp_path))
    operator.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]
    done = _extract(operator, TaskInstanceState.SUCCESS)
    assert [i.name for i in done.inputs] == ["/api/xel/dashboard", "/api/xel/modules"]
    assert [n for n, _ in _schema(_by_name(done.outputs)["progress.csv"])] == list(MODULE_COLUMNS)


def test_knowledge_search_to_a_file_has_lineage_and_to_xcom_has_none(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    target = tmp_path / "hits.jsonl"
    operator = XentreeKnowledgeSearchOperator(task_id="kb", query="refund policy", output_path=str(target))
    result = operator.execute({})  # type: ignore[arg-type]
    done = _extract(operator, TaskInstanceState.SUCCESS)
    assert [(i.namespace, i.name) for i in done.inputs] == [(sandbox.url, "/api/knowledge/search")]
    (output,) = done.outputs
    assert (output.namespace, output.name) == ("file", str(target))
    assert [n for n, _ in _schema(output)] == [
        "query",
        "rank",
        "id",
        "score",
        "source",
        "content",
        "metadata",
    ]
    stats = output.outputFacets["outputStatistics"]
    assert (stats.rowCount, stats.size) == (result["count"], target.stat().st_size)

    in_xcom = XentreeKnowledgeSearchOperator(task_id="kb2", query="refund policy")
    in_xcom.execute({})  # type: ignore[arg-type]
    assert not _extract(in_xcom, TaskInstanceState.SUCCESS).outputs


def test_rag_answer_to_a_file_has_lineage(sandbox: SandboxServer, tmp_path: Path) -> None:
    target = tmp_path / "answer.json"
    operator = XentreeRagQueryOperator(task_id="rag", query="How do refunds work?", output_path=str(target))
    operator.execute({})  # type: ignore[arg-type]
    done = _extract(operator, TaskInstanceState.SUCCESS)
    assert [i.name for i in done.inputs] == ["/api/rag/query"]
    (output,) = done.outputs
    assert [n for n, _ in _schema(output)] == ["query", "answer", "sources"]
    stats = output.outputFacets["outputStatistics"]
    assert (stats.rowCount, stats.size) == (1, target.stat().st_size)


def test_without_the_openlineage_provider_the_methods_return_none(
    sandbox: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator = XentreeXELProgressReportOperator(task_id="me", scope="user", output_path=str(tmp_path))
    monkeypatch.setitem(sys.modules, "airflow.providers.openlineage.extractors", None)
    assert operator.get_openlineage_facets_on_start() is None
    assert operator.get_openlineage_facets_on_complete(None) is None


@pytest.mark.parametrize(
    ("path", "identity"),
    [
        ("file:///data/x/progress.csv", ("file", "/data/x/progress.csv")),
        ("/data/x.jsonl", ("file", "/data/x.jsonl")),
        ("s3://bucket/reports/2026/progress.csv", ("s3://bucket", "reports/2026/progress.csv")),
        ("gs://b/k.parquet", ("gs://b", "k.parquet")),
    ],
)
def test_dataset_identity_follows_the_openlineage_naming(path: str, identity: tuple[str, str]) -> None:
    assert dataset_identity(path) == identity


def test_report_with_parquet_reports_the_parquet_file_too(sandbox: SandboxServer, tmp_path: Path) -> None:
    operator = XentreeXELProgressReportOperator(
        task_id="me", scope="user", output_path=str(tmp_path), parquet=True
    )
    assert "progress.parquet" in _by_name(_extract(operator, TaskInstanceState.RUNNING).outputs)
    result = operator.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]
    parquet = _by_name(_extract(operator, TaskInstanceState.SUCCESS).outputs)["progress.parquet"]
    assert [n for n, _ in _schema(parquet)] == list(MODULE_COLUMNS)
    stats = parquet.outputFacets["outputStatistics"]
    assert (stats.rowCount, stats.size) == (result["rows"], (tmp_path / "progress.parquet").stat().st_size)


@pytest.mark.parametrize(
    ("export_format", "compression"), [("jsonl", "gzip"), ("csv", None), ("parquet", None)]
)
def test_transcript_export_lineage_has_schema_rows_and_bytes(
    sandbox: SandboxServer, tmp_path: Path, export_format: str, compression: str | None
) -> None:
    import csv
    import gzip

    from xentree_provider.operators.live import CSV_COLUMNS, XentreeTranscriptExportOperator

    target = tmp_path / f"t.{export_format}"
    operator = XentreeTranscriptExportOperator(
        task_id="export", output_path=str(target), export_format=export_format, compression=compression
    )
    start = _extract(operator, TaskInstanceState.RUNNING)
    assert [(i.namespace, i.name) for i in start.inputs] == [(sandbox.url, "/api/live/transcripts")]
    assert not start.outputs[0].outputFacets

    result = operator.execute(
        {
            "data_interval_start": datetime(2026, 11, 20, tzinfo=UTC),
            "data_interval_end": datetime(2026, 11, 21, tzinfo=UTC),
        }  # type: ignore[arg-type]
    )
    (output,) = _extract(operator, TaskInstanceState.SUCCESS).outputs
    assert (output.namespace, output.name) == ("file", str(target))
    stats = output.outputFacets["outputStatistics"]
    assert stats.size == result["bytes"] == target.stat().st_size
    names = [n for n, _ in _schema(output)]
    if export_format == "csv":
        with target.open(newline="", encoding="utf-8") as handle:
            assert stats.rowCount == len(list(csv.DictReader(handle))) >= result["turns"] > 0
        assert names == list(CSV_COLUMNS)
    else:
        assert stats.rowCount == result["count"] > 0
        assert names[-1] == "turns"
        turns = output.facets["schema"].fields[-1]
        assert turns.type == "ARRAY"
        assert [f.name for f in turns.fields[0].fields] == ["role", "text", "timestamp"]
    if compression:
        assert gzip.decompress(target.read_bytes())


def test_membership_sync_lineage_reports_the_report_and_the_audit_log(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    from xentree_provider.operators.organizations import XentreeOrgMembershipSyncOperator

    org = str(sandbox.credentials()["first_org_id"])
    roster = [{"email": m["email"], "role": m["role"]} for m in sandbox.members(org)]
    roster += [{"email": f"new{i}@example.com", "role": "member"} for i in range(2)]
    report = tmp_path / "reports" / "{organization_id}.json"
    operator = XentreeOrgMembershipSyncOperator(
        task_id="sync", organization_id=org, source=roster, report_path=str(report)
    )
    start = _extract(operator, TaskInstanceState.RUNNING)
    assert [(i.namespace, i.name) for i in start.inputs] == [
        (sandbox.url, f"/api/organizations/{org}/members")
    ]
    assert [d.name for d in start.outputs] == [str(tmp_path / "reports" / f"{org}.json")]

    operator.execute({})  # type: ignore[arg-type]
    done = _by_name(_extract(operator, TaskInstanceState.SUCCESS).outputs)
    written = tmp_path / "reports" / f"{org}.json"
    audit = tmp_path / "reports" / f"{org}.audit.jsonl"
    assert set(done) == {written.name, audit.name}
    report_stats = done[written.name].outputFacets["outputStatistics"]
    plan = json.loads(written.read_text(encoding="utf-8"))["plan"]
    assert (report_stats.rowCount, report_stats.size) == (len(plan), written.stat().st_size)
    audit_stats = done[audit.name].outputFacets["outputStatistics"]
    lines = audit.read_text(encoding="utf-8").splitlines()
    assert (audit_stats.rowCount, audit_stats.size) == (len(lines), audit.stat().st_size)
    assert len(lines) == 2
    assert [n for n, _ in _schema(done[audit.name])] == list(json.loads(lines[0]))
    assert set(json.loads(written.read_text(encoding="utf-8"))) <= {n for n, _ in _schema(done[written.name])}


@pytest.mark.parametrize("export_format", ["jsonl", "csv", "parquet"])
def test_conversation_export_lineage_names_both_endpoints_with_schema_rows_and_bytes(
    sandbox: SandboxServer, tmp_path: Path, export_format: str
) -> None:
    from xentree_provider.conversations.schema import CSV_COLUMNS
    from xentree_provider.operators.conversations import XentreeConversationExportOperator

    target = tmp_path / f"c.{export_format}"
    operator = XentreeConversationExportOperator(
        task_id="export", output_path=str(target), export_format=export_format, settle=0
    )
    start = _extract(operator, TaskInstanceState.RUNNING)
    assert [(i.namespace, i.name) for i in start.inputs] == [
        (sandbox.url, "/api/core/conversations"),
        (sandbox.url, "/api/core/conversations/{conversation_id}/messages"),
    ]
    result = operator.execute(
        {
            "data_interval_start": datetime(2026, 10, 26, tzinfo=UTC),
            "data_interval_end": datetime(2026, 11, 23, tzinfo=UTC),
        }  # type: ignore[arg-type]
    )
    (output,) = _extract(operator, TaskInstanceState.SUCCESS).outputs
    stats = output.outputFacets["outputStatistics"]
    assert stats.size == result["bytes"] == target.stat().st_size
    names = [n for n, _ in _schema(output)]
    if export_format == "csv":
        assert names == list(CSV_COLUMNS)
        assert stats.rowCount == result["messages"] > 0
    else:
        assert names == ["id", "title", "created_at", "updated_at", "messages"]
        assert stats.rowCount == result["count"] > 0
