"""Real Airflow runs (``dag.test()``): the weekly learning-report example DAG and mapped lookups."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.e2e


def _xcoms(dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> dict[int, Any]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id, key=key)
        return {row.map_index: XComModel.deserialize_value(row) for row in rows}


def test_weekly_report_demo(
    airflow_db: Path,
    xentree_sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dags_examples.demo_reporting import DEMO_ANCHOR, run_demo

    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", "")  # restored after the test; run_demo sets it
    sandbox = xentree_sandbox_factory(anchor=DEMO_ANCHOR)
    outcome = run_demo(sandbox, report_dir=tmp_path, migrate=False)

    assert all(run["state"].endswith("success") for run in outcome["runs"])

    # The report task stored its extra link (XentreeXelLink) while it ran.
    from dags_examples.demo_reporting import DAG_ID
    from xentree_provider.links.xentree import XentreeXelLink

    report_task = "organization_report"
    links = _xcoms(DAG_ID, outcome["runs"][-1]["run_id"], report_task, key=XentreeXelLink().xcom_key)
    assert links == {-1: f"{sandbox.url}/xel"}
    first, second = (run["summary"] for run in outcome["runs"])
    assert first["report"] == (tmp_path / "2026-11-09" / "report.html").as_uri()
    assert second["report"] == outcome["report"] == (tmp_path / "2026-11-16" / "report.html").as_uri()
    assert second["members"] == 250
    assert set(second["reading"]) == {"learning path", "pronunciation", "business email"}
    assert all(len(sources) == 3 for sources in second["reading"].values())

    latest = json.loads((tmp_path / "2026-11-16" / "progress.json").read_text())
    assert latest["window"] == {"start_date": "2026-11-16", "end_date": "2026-11-22"}
    assert latest["comparison"]["previous_window"] == {"start_date": "2026-11-09", "end_date": "2026-11-15"}
    first_report = json.loads((tmp_path / "2026-11-09" / "progress.json").read_text())
    assert first_report["comparison"] is None  # no report the week before: written without one

    # Each run announced its files through one stable Asset.
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    from dags_examples.xentree_learning_report import REPORT_ASSET

    with create_session() as session:
        extras = [
            extra
            for (extra,) in session.query(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == REPORT_ASSET.uri)
        ]
    files = [
        extra["files"]
        for extra in extras
        if extra.get("files", {}).get("report.html", "").startswith(tmp_path.as_uri())
    ]
    assert sorted(f["report.html"] for f in files) == [
        (tmp_path / week / "report.html").as_uri() for week in ("2026-11-09", "2026-11-16")
    ]


def test_mapped_knowledge_lookups_are_each_addressable(
    airflow_db: Path,
    xentree_sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One mapped task per topic in the example DAG; each result is its own XCom, labelled by topic."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    from dags_examples.demo_reporting import DAG_ID, DEMO_ANCHOR, DEMO_RUNS
    from dags_examples.xentree_learning_report import TOPICS, xentree_learning_report

    sandbox = xentree_sandbox_factory(anchor=DEMO_ANCHOR)
    organization_id = sandbox.credentials()["first_org_id"]
    monkeypatch.setenv(
        "AIRFLOW_CONN_XENTREE_DEFAULT", sandbox.connection_env(organization_id=organization_id)
    )
    topics = [*TOPICS, "zzyzx nothing at all"]
    run = xentree_learning_report().test(
        logical_date=DEMO_RUNS[-1], run_conf={"report_dir": str(tmp_path), "topics": topics}
    )
    assert str(run.state).endswith("success")

    lookups = _xcoms(DAG_ID, run.run_id, "knowledge_lookup")
    assert sorted(lookups) == [0, 1, 2, 3]
    assert [lookups[i]["query"] for i in range(4)] == topics
    assert [lookups[i]["count"] for i in range(4)] == [3, 3, 3, 0]  # no hits: a normal, empty result
    with create_session() as session:
        labels = {
            ti.map_index: ti.rendered_map_index
            for ti in session.query(TaskInstance).filter_by(
                dag_id=DAG_ID, run_id=run.run_id, task_id="knowledge_lookup"
            )
        }
    assert labels == dict(enumerate(topics))
    summary = _xcoms(DAG_ID, run.run_id, "summary")[-1]
    assert summary["reading"]["zzyzx nothing at all"] == []
