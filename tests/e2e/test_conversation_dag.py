"""Real Airflow runs (``dag.test()``) of the example conversation export DAG: a day's file, masked
contact details, the Asset event, and a re-run that writes the same bytes."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone

import pytest
from test_transcript_dag import _asset_event_extras, _states, _xcom

from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.e2e

ANCHOR = datetime(2026, 3, 1, tzinfo=timezone.utc)
CONN_ENV = "AIRFLOW_CONN_XENTREE_DEFAULT"


@pytest.fixture
def world(airflow_db, xentree_sandbox_clean: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    xentree_sandbox_clean.reset(anchor=ANCHOR.date().isoformat(), conversations=150)
    monkeypatch.setenv(CONN_ENV, xentree_sandbox_clean.connection_env())
    return xentree_sandbox_clean


def test_example_dag_exports_a_day_masked_and_a_rerun_writes_the_same_bytes(world, tmp_path, monkeypatch):
    monkeypatch.setenv("XENTREE_EXAMPLES_OUTPUT", str(tmp_path))
    from dags_examples.xentree_conversation_export import build_dag

    dag = build_dag(str(tmp_path))
    # the busiest day of the seeded data, so the file is not trivially small
    day = ANCHOR - timedelta(days=3)
    expected = tmp_path / "conversations" / f"dt={day.date().isoformat()}" / "conversations.jsonl.gz"

    run = dag.test(logical_date=day + timedelta(days=1))  # the run at D+1 00:00 covers day D
    assert str(run.state).endswith("success"), _states(run)
    assert _states(run) == {"export_conversations": "success"}
    first = expected.read_bytes()
    records = [json.loads(line) for line in gzip.decompress(first).decode().splitlines()]
    assert records
    messages = [m for r in records for m in r["messages"]]
    assert all(m["created_at"].startswith(day.date().isoformat()) for m in messages)
    assert "@example.com" not in gzip.decompress(first).decode()

    summary = _xcom(run, "export_conversations")
    assert summary["path"] == f"file://{expected}"
    assert (summary["count"], summary["messages"]) == (len(records), len(messages))
    assert summary["asset"] == f"file://{tmp_path}/conversations"
    assert set(summary["redactions"]) == {"email", "phone"}
    assert summary["redactions"]["email"] > 0 and "[email]" in gzip.decompress(first).decode()

    events = _asset_event_extras(f"file://{tmp_path}/conversations")
    assert events and events[-1]["path"] == f"file://{expected}"
    assert events[-1]["messages"] == len(messages)

    rerun = dag.test(logical_date=day + timedelta(days=1))
    assert str(rerun.state).endswith("success")
    assert expected.read_bytes() == first


def test_example_dag_module_parses_with_a_data_interval_timetable():
    from dags_examples import xentree_conversation_export as module

    assert module.dag.dag_id == "xentree_conversation_export"
    assert set(module.dag.task_dict) == {"export_conversations"}
    assert type(module.dag.timetable).__name__ == "CronDataIntervalTimetable"
