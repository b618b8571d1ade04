"""Real Airflow runs (``dag.test()``): the example export DAG, and the deferrable transcript sensor."""

from __future__ import annotations

import gzip
import importlib.util
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from airflow.sdk import DAG

from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.e2e

ANCHOR = datetime(2026, 3, 1, tzinfo=timezone.utc)
CONN_ENV = "AIRFLOW_CONN_XENTREE_DEFAULT"


@pytest.fixture
def world(airflow_db, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    sandbox.reset(anchor=ANCHOR.date().isoformat())
    monkeypatch.setenv(CONN_ENV, sandbox.connection_env())
    return sandbox


@pytest.fixture
def sandbox(xentree_sandbox_clean: SandboxServer) -> SandboxServer:
    return xentree_sandbox_clean


def _states(run) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}


def _xcom(run, task_id: str, key: str = "return_value"):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.execute(
            XComModel.get_many(
                key=key, run_id=run.run_id, dag_ids=run.dag_id, task_ids=task_id
            ).with_only_columns(XComModel.value)
        ).first()
    if row is None:
        return None
    value = row.value
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return value.decode() if isinstance(value, bytes) else value
    return value


def _asset_event_extras(uri: str) -> list[dict]:
    """The ``extra`` of every event of the Asset ``uri``, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return [dict(event.extra) for event in query.filter(AssetModel.uri == uri).order_by(AssetEvent.id)]


def test_example_dag_exports_a_day_and_a_rerun_writes_the_same_bytes(world, tmp_path, monkeypatch):
    monkeypatch.setenv("XENTREE_EXAMPLES_OUTPUT", str(tmp_path))
    from dags_examples.xentree_transcript_export import build_dag

    dag = build_dag(str(tmp_path))
    day = ANCHOR - timedelta(days=2)
    expected = tmp_path / "transcripts" / "dt=2026-02-27" / "transcripts.jsonl.gz"

    run = dag.test(logical_date=day + timedelta(days=1))  # the run at D+1 00:00 covers day D
    assert str(run.state).endswith("success"), _states(run)
    assert _states(run) == {"wait_for_transcripts": "success", "export_transcripts": "success"}
    first = expected.read_bytes()
    lines = gzip.decompress(first).decode().splitlines()
    assert len(lines) > 50
    records = [json.loads(line) for line in lines]
    # by arrival: the day's saves, in save order; the session started a second before the day's
    # midnight was saved after it, so it is in this day's file
    assert all(r["created_at"].startswith("2026-02-27") for r in records)
    assert [r["created_at"] for r in records] == sorted(r["created_at"] for r in records)
    assert "2026-02-26T23:59:59Z" in {r["session_started_at"] for r in records}

    summary = _xcom(run, "export_transcripts")
    assert summary["path"] == f"file://{expected}"
    assert summary["count"] == len(lines)
    assert summary["asset"] == f"file://{tmp_path}/transcripts"
    assert _xcom(run, "wait_for_transcripts")["met"] is True
    link = _xcom(run, "export_transcripts", key="_link_XentreeTranscriptLink")
    assert link == f"{world.url}/live/transcripts"

    events = _asset_event_extras(f"file://{tmp_path}/transcripts")
    assert events and events[-1]["path"] == f"file://{expected}"

    rerun = dag.test(logical_date=day + timedelta(days=1))
    assert str(rerun.state).endswith("success")
    assert expected.read_bytes() == first


def test_example_dag_module_parses_with_a_data_interval_timetable():
    from dags_examples import xentree_transcript_export as module

    dag = module.dag
    assert dag.dag_id == "xentree_transcript_export"
    assert set(dag.task_dict) == {"wait_for_transcripts", "export_transcripts"}
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"


DAG_FILE = """
from datetime import datetime

from airflow.sdk import DAG

from xentree_provider.sensors.live import XentreeTranscriptSensor

with DAG(dag_id={dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as dag:
    XentreeTranscriptSensor(task_id="wait", deferrable=True, **{kwargs!r})
"""


@pytest.fixture
def sensor_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``sensor_dag(dag_id, **sensor_kwargs)``: a one-sensor DAG in its own bundle (dag.test needs the
    DAG in a bundle to serialize it)."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    bundles = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {},
        },
        {
            "name": "xentree-e2e",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(folder), "refresh_interval": 0},
        },
    ]
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))

    def build(dag_id: str, **sensor_kwargs) -> DAG:
        path = folder / f"{dag_id}.py"
        path.write_text(DAG_FILE.format(dag_id=dag_id, kwargs=sensor_kwargs))
        spec = importlib.util.spec_from_file_location(f"_xentree_e2e_{dag_id}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.dag

    return build


def _wait_for_reads(world, route: str, reads: int, give_up_after: float = 300.0) -> None:
    """Block until the sandbox has served ``reads`` requests of ``route`` (the cap only ends a broken run)."""
    give_up_at = time.monotonic() + give_up_after
    while time.monotonic() < give_up_at and world.counters()["requests"].get(route, 0) < reads:
        time.sleep(0.05)


def test_deferrable_sensor_defers_and_resumes_under_dag_test(world, sensor_dag):
    now = datetime.now(timezone.utc)
    dag = sensor_dag(
        "xentree_e2e_deferrable_sensor", newer_than=now.isoformat(), poke_interval=0.5, timeout=120
    )

    def save_once_deferred() -> None:
        # Only once the task has checked and the trigger has polled once (not after a fixed delay: on a
        # loaded machine the first check may come later than any delay, find the transcript, not defer).
        _wait_for_reads(world, "GET /api/live/transcripts", 2)
        XentreeHook().save_transcript(now + timedelta(seconds=1), now + timedelta(seconds=4), [])

    thread = threading.Thread(target=save_once_deferred)
    thread.start()
    world.reset_counters()
    run = dag.test(logical_date=None)
    thread.join()
    assert _states(run) == {"wait": "success"}
    result = _xcom(run, "wait")
    assert result["met"] is True and result["count"] == 1
    # checked once in the task, polled in the trigger (saved after that poll), found by a later poll
    assert world.counters()["requests"]["GET /api/live/transcripts"] >= 3


def test_deferrable_sensor_timeout_is_a_skip_with_soft_fail(world, sensor_dag):
    dag = sensor_dag(
        "xentree_e2e_deferrable_sensor_timeout",
        start="2026-02-27",
        end="2026-02-28",
        min_count=100_000,
        poke_interval=0.2,
        timeout=1,
        soft_fail=True,
    )
    run = dag.test(logical_date=None)
    assert _states(run) == {"wait": "skipped"}


def test_a_manual_run_without_a_logical_date_fails_at_once_saying_why(world, tmp_path, capfd):
    """No data interval: the run fails on its first try (no retries burnt) with the clear message."""
    from airflow.utils.session import create_session

    from dags_examples.xentree_transcript_export import build_dag

    dag = build_dag(str(tmp_path))
    run = dag.test(logical_date=None)
    assert str(run.state).endswith("failed")
    with create_session() as session:
        states = {
            ti.task_id: (str(ti.state), ti.try_number) for ti in run.get_task_instances(session=session)
        }
    # A configuration error is never soft-failed: the sensor fails for good (not up_for_retry: the DAG
    # allows 2), and the export does not run.
    assert states["wait_for_transcripts"] == ("failed", 1)
    assert states["export_transcripts"][0] == "upstream_failed"
    captured = capfd.readouterr()
    assert "no data interval" in captured.out + captured.err
    assert not list(tmp_path.rglob("*.jsonl.gz"))


def test_an_empty_day_still_writes_its_empty_file(world, tmp_path, monkeypatch):
    """The sensor gives up on a day without sessions (soft fail) and the export writes the empty file."""
    from dags_examples.xentree_transcript_export import build_dag

    dag = build_dag(str(tmp_path))
    sensor = dag.get_task("wait_for_transcripts")
    sensor.timeout = 1.5  # the example waits 6 hours
    sensor.poke_interval = 0.5
    day = ANCHOR + timedelta(days=3)  # after the sandbox's data: no sessions
    run = dag.test(logical_date=day + timedelta(days=1))
    assert _states(run) == {"wait_for_transcripts": "skipped", "export_transcripts": "success"}
    path = tmp_path / "transcripts" / f"dt={day.date().isoformat()}" / "transcripts.jsonl.gz"
    assert gzip.decompress(path.read_bytes()) == b""
