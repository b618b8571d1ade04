"""The event-driven example under a real scheduler, DAG processor, triggerer and worker.

The AssetWatcher's XentreeNewTranscriptsTrigger polls the sandbox; saving a transcript fires an
asset event, the scheduler starts a run, and the incremental export writes the new transcripts and
advances its watermark in the asset state store; a second save gives a second run with only it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from xentree_provider.testing import SandboxServer
from xentree_provider.testing.airflow_cluster import AirflowCluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO_ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = REPO_ROOT / "dags_examples" / "xentree_transcript_events.py"
DAG_ID = "xentree_transcript_events"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(transcripts=150, days=3) as server:
        yield server


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("events")


@pytest.fixture(scope="module")
def cluster(sandbox: SandboxServer, work_dir: Path) -> Iterator[AirflowCluster]:
    dags = work_dir / "dags"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)  # only this DAG: the watcher is the only trigger
    env = {
        "AIRFLOW_CONN_XENTREE_DEFAULT": sandbox.connection_env(),
        "XENTREE_EXAMPLES_OUTPUT": str(work_dir / "exports"),
        "XENTREE_EXAMPLES_POLL_SECONDS": "1",
        # The harness turns job scheduling off (no cron runs); asset-triggered runs need it, and this
        # folder's only DAG is scheduled on the watched Asset.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "True",
    }
    with AirflowCluster(dags, env=env) as running:
        running.wait_for_dags([DAG_ID])
        yield running
    assert not running.running


def save_transcript(sandbox: SandboxServer, text: str) -> dict[str, Any]:
    started = datetime.now(timezone.utc) - timedelta(hours=3)
    with requests.Session() as http:
        login = http.post(
            f"{sandbox.url}/api/auth/login",
            data={"username": sandbox.credentials()["email"], "password": sandbox.credentials()["password"]},
            timeout=30,
        )
        login.raise_for_status()
        saved = http.post(
            f"{sandbox.url}/api/live/transcripts",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
            json={
                "session_started_at": started.isoformat(),
                "session_ended_at": (started + timedelta(minutes=10)).isoformat(),
                "transcripts": [{"role": "user", "text": text, "timestamp": started.isoformat()}],
            },
            timeout=30,
        )
        saved.raise_for_status()
        result: dict[str, Any] = saved.json()
        return result


def runs(cluster: AirflowCluster) -> list[dict[str, Any]]:
    listing = cluster.api("GET", f"dags/{DAG_ID}/dagRuns", params={"order_by": "run_after", "limit": 50})
    return list(listing["dag_runs"])


def wait_for(what: str, probe: Any, cluster: AirflowCluster, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    found = runs(cluster)
    states = {r["dag_run_id"]: cluster.task_instances(DAG_ID, r["dag_run_id"]) for r in found}
    raise AssertionError(
        f"timed out waiting for {what}; runs {found}; task instances {states}; "
        f"triggerer log: {cluster.component_log('triggerer')[-3000:]}; "
        f"scheduler log: {cluster.component_log('scheduler')[-2000:]}"
    )


def watching(cluster: AirflowCluster) -> bool:
    return "Watching for transcripts saved after" in cluster.component_log("triggerer")


def test_saves_fire_runs_that_export_exactly_the_new_transcripts(cluster, sandbox, work_dir):
    wait_for("the watcher's first poll", lambda: watching(cluster), cluster)
    assert runs(cluster) == []  # the first poll only sets the watermark

    first = save_transcript(sandbox, "first")
    run = wait_for(
        "an asset-triggered run", lambda: [r for r in runs(cluster) if r["state"] == "success"], cluster
    )[0]
    assert run["run_type"] == "asset_triggered"
    files = sorted((work_dir / "exports" / "incremental").glob("*.jsonl"))
    assert len(files) == 1
    exported = [json.loads(line)["id"] for line in files[0].read_text().splitlines()]
    assert first["id"] in exported and len(exported) == 151  # no watermark yet: everything so far

    second = save_transcript(sandbox, "second")
    wait_for("a second run", lambda: len([r for r in runs(cluster) if r["state"] == "success"]) >= 2, cluster)
    files = sorted((work_dir / "exports" / "incremental").glob("*.jsonl"))
    assert len(files) == 2
    newest = [json.loads(line)["id"] for line in files[-1].read_text().splitlines()]
    assert newest == [second["id"]]  # from the watermark on: only what was saved since
    assert all(r["state"] == "success" for r in runs(cluster))
