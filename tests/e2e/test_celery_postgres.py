"""The provider beyond one machine: CeleryExecutor, Redis as broker, PostgreSQL as metadata database.

A real Airflow (api-server, scheduler, dag-processor, triggerer and two Celery workers,
``AirflowCluster(celery_broker_url=..., database_url=...)``) with its own PostgreSQL and Redis
(``xentree_provider.testing.services``: Debian's binaries, loopback, temporary folders, stopped at the
end; ``scripts/ensure_services.sh`` installs the packages when missing) runs:

* the three example DAGs (transcript export, membership sync, learning report): every run succeeds;
* ten transcript exports at once, sharing the Airflow pool ``xentree_api`` of 4 slots: all succeed,
  never more than 4 run at a time, and every file is byte-identical to the same export run in this
  process without any executor;
* writes: the membership sync applies each planned change exactly once (sandbox write counters);
* logins: Airflow 3 runs every task in its own process, so the figure is logins per task process;
  it is at most one per task that talks to the API (tokens live longer than any task here).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from xentree_provider.testing import SandboxServer
from xentree_provider.testing.airflow_cluster import AirflowCluster, ClusterError
from xentree_provider.testing.services import PostgresServer, RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "dags_examples"
ROSTER_DIR = EXAMPLES / "rosters"
ANCHOR = "2026-11-23"
POOL = "xentree_api"
POOL_SLOTS = 4
#: Ten one-day windows inside the sandbox's data: (day, start, end).
EXPORT_WINDOWS = [
    (f"2026-11-{d:02d}", f"2026-11-{d:02d}T00:00:00Z", f"2026-11-{d + 1:02d}T00:00:00Z")
    for d in range(10, 20)
]
SCALE_DAG = "xentree_celery_pooled_exports"

SCALE_DAG_FILE = f'''\
"""Ten transcript exports at once, limited by the pool {POOL!r}."""
import os
from datetime import datetime

from airflow.sdk import DAG

from xentree_provider.operators.live import XentreeTranscriptExportOperator

with DAG({SCALE_DAG!r}, schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    for day, start, end in {EXPORT_WINDOWS!r}:
        XentreeTranscriptExportOperator(
            task_id="export_" + day.replace("-", "_"),
            pool={POOL!r},
            start=start,
            end=end,
            output_path=os.path.join(os.environ["XENTREE_SCALE_OUTPUT"], day + ".jsonl"),
            asset=False,
        )
'''


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("celery")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(anchor=ANCHOR) as server:
        yield server


@pytest.fixture(scope="module")
def cluster(sandbox: SandboxServer, work_dir: Path) -> Iterator[AirflowCluster]:
    dags = work_dir / "dags"
    dags.mkdir()
    for example in (
        "xentree_transcript_export.py",
        "xentree_org_membership_sync.py",
        "xentree_learning_report.py",
    ):
        shutil.copy(EXAMPLES / example, dags / example)
    (dags / f"{SCALE_DAG}.py").write_text(SCALE_DAG_FILE)
    first_org = sandbox.credentials()["first_org_id"]
    env = {
        "AIRFLOW_CONN_XENTREE_DEFAULT": sandbox.connection_env(organization_id=first_org),
        "XENTREE_EXAMPLES_OUTPUT": str(work_dir / "exports"),
        "XENTREE_SCALE_OUTPUT": str(work_dir / "scale"),
        "C_FORCE_ROOT": "1",  # CI runs as root; Celery asks for this before running tasks as root
    }
    try:
        postgres = PostgresServer().start()
        redis = RedisServer().start()
    except ClusterError as error:
        pytest.skip(f"no PostgreSQL/Redis to run the CeleryExecutor test: {error}")
    try:
        with AirflowCluster(
            dags,
            env=env,
            database_url=postgres.sqlalchemy_url,
            celery_broker_url=redis.url,
            celery_workers=2,
            startup_timeout=600,
        ) as running:
            running.wait_for_dags(
                [
                    "xentree_transcript_export",
                    "xentree_org_membership_sync",
                    "xentree_learning_report",
                    SCALE_DAG,
                ]
            )
            running.api(
                "POST", "pools", json={"name": POOL, "slots": POOL_SLOTS, "description": "Xentree API"}
            )
            yield running
        assert not running.running
    finally:
        redis.stop()
        postgres.stop()


def test_the_three_example_dags_succeed_on_celery_and_postgres(
    cluster: AirflowCluster, work_dir: Path
) -> None:
    runs = {
        "xentree_transcript_export": cluster.trigger_dag(
            "xentree_transcript_export",
            logical_date="2026-11-22T00:00:00+00:00",
            data_interval=("2026-11-22T00:00:00+00:00", "2026-11-23T00:00:00+00:00"),
        ),
        "xentree_org_membership_sync": cluster.trigger_dag(
            "xentree_org_membership_sync",
            logical_date="2026-11-24T02:30:00+00:00",
            conf={"roster_dir": str(ROSTER_DIR), "report_dir": str(work_dir / "membership")},
        ),
        "xentree_learning_report": cluster.trigger_dag(
            "xentree_learning_report",
            logical_date="2026-11-23T00:00:00+00:00",
            data_interval=("2026-11-16T00:00:00+00:00", "2026-11-23T00:00:00+00:00"),
            conf={"report_dir": str(work_dir / "learning")},
        ),
    }
    states = {dag_id: cluster.wait_for_run(dag_id, run_id, timeout=600) for dag_id, run_id in runs.items()}
    assert states == dict.fromkeys(runs, "success"), cluster.logs_tail()
    hosts = {
        ti.get("hostname") for dag_id, run_id in runs.items() for ti in cluster.task_instances(dag_id, run_id)
    }
    assert hosts and None not in hosts


def test_membership_writes_are_applied_once(
    cluster: AirflowCluster, sandbox: SandboxServer, work_dir: Path
) -> None:
    before = sandbox.counters()["writes"]
    run_id = cluster.trigger_dag(
        "xentree_org_membership_sync",
        logical_date="2026-11-25T02:30:00+00:00",
        conf={"roster_dir": str(ROSTER_DIR), "report_dir": str(work_dir / "membership-again")},
    )
    assert cluster.wait_for_run("xentree_org_membership_sync", run_id, timeout=600) == "success"
    # The rosters were applied by the first test's run: a second run finds nothing to change.
    assert sandbox.counters()["writes"] == before


def test_ten_pooled_exports_succeed_at_most_four_at_a_time_with_the_same_bytes(
    cluster: AirflowCluster, sandbox: SandboxServer, work_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox.reset_counters()
    run_id = cluster.trigger_dag(SCALE_DAG, logical_date="2026-11-23T12:00:00+00:00")
    most_running = 0

    def on_poll(tis: list[dict[str, Any]]) -> None:
        nonlocal most_running
        most_running = max(most_running, sum(1 for ti in tis if ti["state"] == "running"))

    assert cluster.wait_for_run(SCALE_DAG, run_id, timeout=600, on_poll=on_poll) == "success"
    tis = cluster.task_instances(SCALE_DAG, run_id)
    assert len(tis) == len(EXPORT_WINDOWS)
    assert {ti["pool"] for ti in tis} == {POOL}
    assert most_running <= POOL_SLOTS
    counters = sandbox.counters()
    # Every task is its own process (Airflow 3): at most one login per task process.
    print(
        f"\nlogins: {counters['logins']} for {len(tis)} export task processes, {most_running} at once at most"
    )
    assert 1 <= counters["logins"] <= len(tis)
    assert counters["writes"] == {}

    from xentree_provider.operators.live import XentreeTranscriptExportOperator

    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", cluster.env["AIRFLOW_CONN_XENTREE_DEFAULT"])
    reference = work_dir / "reference"
    for day, start, end in EXPORT_WINDOWS:
        operator = XentreeTranscriptExportOperator(
            task_id="reference",
            start=start,
            end=end,
            output_path=str(reference / f"{day}.jsonl"),
            asset=False,
        )
        operator.execute({})  # type: ignore[arg-type]
        assert (work_dir / "scale" / f"{day}.jsonl").read_bytes() == (reference / f"{day}.jsonl").read_bytes()
