"""The XEL progress report stores its extra link (XentreeXelLink) while it runs, under ``dag.test()``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.e2e


def test_the_report_operator_stores_the_xel_link(
    airflow_db: Path,
    xentree_sandbox_factory: Callable[..., SandboxServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from dags_examples.demo_reporting import DEMO_ANCHOR, DEMO_RUNS
    from dags_examples.xentree_learning_report import xentree_learning_report
    from xentree_provider.links.xentree import XentreeXelLink

    sandbox = xentree_sandbox_factory(anchor=DEMO_ANCHOR)
    organization_id = sandbox.credentials()["first_org_id"]
    monkeypatch.setenv(
        "AIRFLOW_CONN_XENTREE_DEFAULT", sandbox.connection_env(organization_id=organization_id)
    )
    dag = xentree_learning_report()
    report = dag.get_task("organization_report")
    assert [type(link) for link in report.operator_extra_links] == [XentreeXelLink]

    run = dag.test(logical_date=DEMO_RUNS[-1], run_conf={"report_dir": str(tmp_path)})

    assert str(run.state).endswith("success")
    with create_session() as session:
        rows = session.scalars(
            XComModel.get_many(
                run_id=run.run_id, key=XentreeXelLink().xcom_key, task_ids="organization_report"
            )
        ).all()
        links = [XComModel.deserialize_value(row) for row in rows]
    assert links == [f"{sandbox.url}/xel"]
