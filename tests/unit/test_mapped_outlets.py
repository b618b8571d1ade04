"""Mapped export and report operators declare their output Asset at DAG-parse time."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Asset

from xentree_provider.operators.english import XentreeXELProgressReportOperator
from xentree_provider.operators.live import XentreeTranscriptExportOperator


def _outlets(task: object) -> list[str]:
    outlets = getattr(task, "outlets", None) or getattr(task, "partial_kwargs", {}).get("outlets", [])
    return [o.uri for o in outlets if isinstance(o, Asset)]


def test_mapped_operators_declare_the_derived_asset_once() -> None:
    with DAG("mapped_outlets", schedule=None, start_date=datetime(2026, 1, 1)):
        export = XentreeTranscriptExportOperator.partial(
            task_id="export", output_path="/data/xentree/{{ ds }}/transcripts.jsonl"
        ).expand(xentree_conn_id=["a", "b"])
        report = XentreeXELProgressReportOperator.partial(
            task_id="report", scope="user", output_path="/reports/xel/{{ ds }}"
        ).expand(xentree_conn_id=["a", "b"])
        declared = XentreeTranscriptExportOperator.partial(
            task_id="declared",
            output_path="/data/xentree/{{ ds }}/x.jsonl",
            outlets=[Asset("file:///data/xentree")],
        ).expand(xentree_conn_id=["a"])
    assert _outlets(export) == ["file:///data/xentree"]
    assert _outlets(report) == ["file:///reports/xel"]
    assert _outlets(declared) == ["file:///data/xentree"]  # not twice


def test_every_mapped_operator_gets_airflows_list_defaults() -> None:
    """Task defaults come from each operator class's ``__init__``: none may leave ``inlets`` None."""
    from xentree_provider.operators.conversations import XentreeGenerateResponseOperator
    from xentree_provider.operators.knowledge import (
        XentreeKnowledgeSearchOperator,
        XentreeRagQueryOperator,
    )
    from xentree_provider.operators.organizations import XentreeOrgMembershipSyncOperator

    with DAG("mapped_defaults", schedule=None, start_date=datetime(2026, 1, 1)):
        mapped = [
            XentreeKnowledgeSearchOperator.partial(task_id="kb").expand(query=["a", "b"]),
            XentreeRagQueryOperator.partial(task_id="rag").expand(query=["a", "b"]),
            XentreeGenerateResponseOperator.partial(task_id="chat").expand(prompt=["a"]),
            XentreeOrgMembershipSyncOperator.partial(task_id="sync", source="/r.csv").expand(
                organization_id=["o1"]
            ),
            XentreeXELProgressReportOperator.partial(task_id="r", scope="user").expand(
                output_path=["/a", "/b"]
            ),
            XentreeTranscriptExportOperator.partial(task_id="t").expand(output_path=["/a.jsonl"]),
        ]
    for task in mapped:
        assert task.partial_kwargs["inlets"] == [], task.task_id
        assert isinstance(task.partial_kwargs["outlets"], list), task.task_id
        assert task.partial_kwargs["executor_config"] == {}, task.task_id
