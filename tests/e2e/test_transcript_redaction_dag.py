"""A redacted, hashed transcript export under real Airflow (``dag.test()``): counts in XCom and in the
asset event, and the HMAC key nowhere: not in the task's log output, XCom, rendered templates, the
asset event, the file or this test's output; and registered with the secrets masker (the task log
pipeline redacts through it), although Airflow itself would not mask a Variable of that name."""

from __future__ import annotations

import importlib.util
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.e2e

ANCHOR = datetime(2026, 3, 1, tzinfo=timezone.utc)
# A Variable whose name Airflow does not take for a secret: only the provider's masking hides it.
KEY_VARIABLE = "transcript_join_value"
KEY = "e2e-hmac-9b2f6c0d4a8e1357"

DAG_FILE = """
from datetime import datetime

from airflow.sdk import DAG

from xentree_provider.operators.live import XentreeTranscriptExportOperator

with DAG(dag_id="xentree_e2e_redaction", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
    export = XentreeTranscriptExportOperator(
        task_id="export",
        output_path={output!r} + "/2026-02-27.jsonl",
        start="2026-02-27",
        end="2026-02-28",
        redact=["email", "phone"],
        redaction="hash",
        redaction_key_variable={variable!r},
    )
"""


@pytest.fixture
def redaction_dag(airflow_db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: SandboxServer):
    sandbox.reset(anchor=ANCHOR.date().isoformat())
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", sandbox.connection_env())
    monkeypatch.setenv(f"AIRFLOW_VAR_{KEY_VARIABLE.upper()}", KEY)
    folder = tmp_path / "bundle"
    folder.mkdir()
    bundles = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {},
        },
        {
            "name": "xentree-e2e-redaction",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder), "refresh_interval": 0},
        },
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
    output = tmp_path / "out"
    path = folder / "xentree_e2e_redaction.py"
    path.write_text(DAG_FILE.format(output=str(output), variable=KEY_VARIABLE))
    spec = importlib.util.spec_from_file_location("_xentree_e2e_redaction", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag, output


@pytest.fixture
def sandbox(xentree_sandbox_clean: SandboxServer) -> SandboxServer:
    return xentree_sandbox_clean


def test_hashed_export_counts_and_the_key_is_nowhere(redaction_dag, capfd) -> None:
    from airflow.models.asset import AssetEvent
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.sdk._shared.secrets_masker import redact
    from airflow.utils.session import create_session

    from xentree_provider.hooks.xentree import XentreeHook

    dag, output = redaction_dag
    day = ANCHOR - timedelta(days=2)
    hook = XentreeHook()
    try:
        turns = [
            {"role": "user", "text": "mail ada@example.com, +44 20 7946 0958", "timestamp": day.isoformat()}
        ]
        hook.save_transcript(day, day + timedelta(minutes=5), turns)
    finally:
        hook.close()
    capfd.readouterr()  # from here on, everything printed is searched for the key

    run = dag.test(logical_date=None)
    assert str(run.state).endswith("success")
    places: dict[str, str] = {}
    with create_session() as session:
        for row in session.query(XComModel).filter(XComModel.run_id == run.run_id):
            places[f"xcom {row.task_id}/{row.key}"] = json.dumps(row.value, default=str)
        for rendered in session.query(RenderedTaskInstanceFields).filter_by(run_id=run.run_id):
            places[f"rendered {rendered.task_id}"] = json.dumps(rendered.rendered_fields, default=str)
        events = [json.dumps(event.extra) for event in session.query(AssetEvent).all()]
    summary = json.loads(places["xcom export/return_value"])
    assert set(summary["redactions"]) == {"email", "phone"}
    assert any('"redactions"' in event for event in events)
    files = sorted(output.glob("*.jsonl"))
    assert files, "the export wrote no file"
    for file in files:
        places[f"file {file.name}"] = file.read_text()
    captured = capfd.readouterr()
    places["test output"] = captured.out + captured.err
    places["asset events"] = "\n".join(events)
    masked = redact(f"the key is {KEY}") == "the key is ***"  # what a task log line would show
    assert masked, "the redaction key is not registered with the secrets masker"  # (never print it)
    leaks = [name for name, text in places.items() if KEY in text]
    assert leaks == [], f"the redaction key leaked into {leaks}"
