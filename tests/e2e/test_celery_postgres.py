"""The provider beyond one machine: CeleryExecutor, Redis as broker, PostgreSQL as metadata database.

A real Airflow (api-server, scheduler, dag-processor, triggerer and two Celery workers,
``AirflowCluster(celery_broker_url=..., database_url=...)``) with its own PostgreSQL and Redis
(``xentree_provider.testing.services``: Debian's binaries, loopback, temporary folders, stopped at the
end; ``scripts/ensure_services.sh`` installs the packages when missing), against a sandbox seeded with
20 organizations, runs one pass of:

* the three example DAGs (transcript export, membership sync, learning report), the membership sync
  mapped over the 20 organizations (the two shipped rosters, and a roster per other organization with
  an add, a role change, a team change and a member missing for the first night);
* ten transcript exports at once, sharing the Airflow pool ``xentree_api`` of 4 slots.

Then the same DAGs, with the same parameters, run again on the **LocalExecutor** of the same cluster (the
scheduler runs ``CeleryExecutor,LocalExecutor``; a cluster policy sends the task instances of the
runs whose id starts with ``local__`` to the LocalExecutor), from the same sandbox state (reset), so
that no second cluster has to start. Checked:

* every run of both passes succeeds; each task ran on the executor of its pass; the exports never held
  more than 4 slots;
* every output file of the Celery pass is byte-identical to the LocalExecutor pass's, except only the
  moment a report was generated (``generated_at``) and the times and request ids of the audit log;
* no write applied twice: the sandbox's ``member_changes`` counters hold each planned change exactly
  once, and nothing else was written;
* logins: Airflow 3 runs every task try in its own process, and a token lives in that process; the
  sandbox counts at most one login per such process per token lifetime (the figure is printed).
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from xentree_provider.testing import SandboxServer
from xentree_provider.testing.airflow_cluster import AirflowCluster, ClusterError
from xentree_provider.testing.services import PostgresServer, RedisServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "dags_examples"
SHIPPED_ROSTERS = EXAMPLES / "rosters"
ANCHOR = "2026-11-23"
ORGANIZATIONS = 20
POOL = "xentree_api"
POOL_SLOTS = 4
CELERY_WORKERS = 2
WORKER_CONCURRENCY = 4
#: Ten one-day windows inside the sandbox's data: (day, start, end).
EXPORT_WINDOWS = [
    (f"2026-11-{d:02d}", f"2026-11-{d:02d}T00:00:00Z", f"2026-11-{d + 1:02d}T00:00:00Z")
    for d in range(10, 20)
]
EXPORT = "xentree_transcript_export"
MEMBERSHIP = "xentree_org_membership_sync"
REPORT = "xentree_learning_report"
SCALE_DAG = "xentree_celery_pooled_exports"
REPORT_WEEK = ("2026-11-16T00:00:00+00:00", "2026-11-23T00:00:00+00:00")
LOCAL_PREFIX = "local__"

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

ROUTING_POLICY = f'''\
"""Test-cluster policy: the task instances of runs named {LOCAL_PREFIX}* go to the LocalExecutor."""


def task_instance_mutation_hook(task_instance):
    if str(task_instance.run_id or "").startswith({LOCAL_PREFIX!r}):
        task_instance.executor = "LocalExecutor"
'''


@dataclass
class Pass:
    """What one pass over the DAGs produced."""

    name: str
    root: Path
    runs: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (dag_id, run_id)
    states: dict[str, str] = field(default_factory=dict)
    task_instances: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counters: dict[str, Any] = field(default_factory=dict)
    most_running_exports: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class IntendedChange:
    """A change a generated roster asks for."""

    organization_id: str
    email: str
    action: str


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("celery")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(anchor=ANCHOR, organizations=ORGANIZATIONS) as server:
        yield server


@pytest.fixture(scope="module")
def rosters(sandbox: SandboxServer, work_dir: Path) -> tuple[Path, set[IntendedChange]]:
    """The shipped rosters plus one per other organization; returns the folder and the changes asked."""
    folder = work_dir / "rosters"
    folder.mkdir()
    for shipped in SHIPPED_ROSTERS.glob("*.csv"):
        shutil.copy(shipped, folder / shipped.name)
    credentials = sandbox.credentials()
    intended: set[IntendedChange] = set()
    for slug, org_id in credentials["org_ids"].items():
        if (folder / f"{org_id}.csv").exists():
            continue
        intended |= write_changed_roster(
            folder / f"{org_id}.csv",
            org_id,
            slug,
            sandbox.members(org_id),
            list(credentials["organizations"][slug]["teams"].values()),
        )
    assert len(list(folder.glob("*.csv"))) == ORGANIZATIONS
    return folder, intended


@pytest.fixture(scope="module")
def cluster(sandbox: SandboxServer, work_dir: Path) -> Iterator[AirflowCluster]:
    dags = work_dir / "dags"
    dags.mkdir()
    for example in (f"{EXPORT}.py", f"{MEMBERSHIP}.py", f"{REPORT}.py"):
        shutil.copy(EXAMPLES / example, dags / example)
    (dags / f"{SCALE_DAG}.py").write_text(SCALE_DAG_FILE)
    first_org = sandbox.credentials()["first_org_id"]
    out = work_dir / "out"  # every pass writes here; its files are then moved to the pass's own folder
    env = {
        "AIRFLOW_CONN_XENTREE_DEFAULT": sandbox.connection_env(organization_id=first_org),
        "XENTREE_EXAMPLES_OUTPUT": str(out / "exports"),
        "XENTREE_SCALE_OUTPUT": str(out / "scale"),
        # Both executors in one scheduler: Celery by default, LocalExecutor for the comparison pass.
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor,LocalExecutor",
        # Each executor runs at most this many tasks at once (the Celery workers have 2 x 4 slots).
        "AIRFLOW__CORE__PARALLELISM": str(CELERY_WORKERS * WORKER_CONCURRENCY),
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
            local_settings=ROUTING_POLICY,
            database_url=postgres.sqlalchemy_url,
            celery_broker_url=redis.url,
            celery_workers=CELERY_WORKERS,
            worker_concurrency=WORKER_CONCURRENCY,
            startup_timeout=600,
        ) as running:
            running.wait_for_dags([EXPORT, MEMBERSHIP, REPORT, SCALE_DAG])
            running.api(
                "POST", "pools", json={"name": POOL, "slots": POOL_SLOTS, "description": "Xentree API"}
            )
            yield running
        assert not running.running
    finally:
        redis.stop()
        postgres.stop()


@pytest.fixture(scope="module")
def celery_pass(
    cluster: AirflowCluster, sandbox: SandboxServer, work_dir: Path, rosters: tuple[Path, set[Any]]
) -> Pass:
    return run_pass("celery", cluster, sandbox, work_dir, rosters[0], minute=0)


@pytest.fixture(scope="module")
def local_pass(
    celery_pass: Pass,
    cluster: AirflowCluster,
    sandbox: SandboxServer,
    work_dir: Path,
    rosters: tuple[Path, set[Any]],
) -> Pass:
    return run_pass(LOCAL_PREFIX.rstrip("_"), cluster, sandbox, work_dir, rosters[0], minute=1)


# ---------------------------------------------------------------------------------------------- helpers
def write_changed_roster(
    path: Path, org_id: str, slug: str, members: list[dict[str, Any]], teams: list[str]
) -> set[IntendedChange]:
    """Write the organization's roster with four changes; return the three that are writes.

    A plain member is promoted, another moves team, a third is missing (the example waits two nights
    before removing: no write on the first) and a new hire joins: 3 writes of 40 members, within the
    example's guards (at most 20 % changed).
    """
    members = sorted(members, key=lambda member: str(member["email"]))
    plain = [member for member in members if member.get("role") == "member"]
    promoted, moved, missing = plain[0], plain[1], plain[2]
    new_hire = f"new.hire@{slug}.example"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "role", "team_id"])
        for member in members:
            if member is missing:
                continue
            role, team = member["role"], member.get("team_id")
            if member is promoted:
                role = "manager"
            if member is moved:
                team = next(t for t in teams if t != team)
            writer.writerow([member["email"], role, team or ""])
        writer.writerow([new_hire, "member", teams[0]])
    return {
        IntendedChange(org_id, new_hire, "add"),
        IntendedChange(org_id, promoted["email"], "update"),
        IntendedChange(org_id, moved["email"], "update"),
    }


def run_pass(
    name: str, cluster: AirflowCluster, sandbox: SandboxServer, work_dir: Path, rosters: Path, minute: int
) -> Pass:
    """Trigger every DAG at once from a freshly reset sandbox, wait for all, move the outputs aside.

    ``minute`` shifts the logical dates (one run per DAG and logical date); the data intervals, and so
    the outputs' paths and contents, stay the same.
    """
    started = time.monotonic()
    sandbox.reset()  # the same data, members and counters for every pass
    out = Path(cluster.env["XENTREE_EXAMPLES_OUTPUT"]).parent
    result = Pass(name=name, root=work_dir / name)
    triggers: dict[str, tuple[str, dict[str, Any]]] = {
        # The pooled exports first, so that the sampling of their states starts at once.
        "scale": (SCALE_DAG, {"logical_date": f"2026-11-23T12:{minute:02d}:00+00:00"}),
        "export": (
            EXPORT,
            {
                "logical_date": f"2026-11-22T00:{minute:02d}:00+00:00",
                "data_interval": ("2026-11-22T00:00:00+00:00", "2026-11-23T00:00:00+00:00"),
            },
        ),
        "membership": (
            MEMBERSHIP,
            {
                "logical_date": f"2026-11-24T02:{30 + minute:02d}:00+00:00",
                "conf": {"roster_dir": str(rosters), "report_dir": str(out / "membership")},
            },
        ),
        "report": (
            REPORT,
            {
                "logical_date": f"2026-11-23T00:{minute:02d}:00+00:00",
                "data_interval": REPORT_WEEK,
                "conf": {"report_dir": str(out / "learning")},
            },
        ),
    }
    for label, (dag_id, kwargs) in triggers.items():
        result.runs[label] = (dag_id, cluster.trigger_dag(dag_id, run_id=f"{name}__{label}", **kwargs))

    def on_poll(tis: list[dict[str, Any]]) -> None:
        running = sum(1 for ti in tis if ti["state"] == "running")
        result.most_running_exports = max(result.most_running_exports, running)

    for label, (dag_id, run_id) in result.runs.items():
        # The exports' states are sampled often; the other runs are only waited for (cheaper polls).
        sampled = label == "scale"
        result.states[label] = cluster.wait_for_run(
            dag_id,
            run_id,
            timeout=900,
            on_poll=on_poll if sampled else None,
            interval=0.3 if sampled else 1.0,
        )
    result.task_instances = {
        label: cluster.task_instances(dag_id, run_id) for label, (dag_id, run_id) in result.runs.items()
    }
    result.counters = sandbox.counters()
    shutil.move(out, result.root)
    result.seconds = time.monotonic() - started
    return result


def plans(one: Pass) -> dict[str, dict[str, Any]]:
    """Each organization's plan report (the dry run) of the pass, by organization id."""
    folder = one.root / "membership" / "2026-11-24"
    return {path.name.split(".")[0]: json.loads(path.read_text()) for path in folder.glob("*.plan.json")}


def planned_writes(org_id: str, change: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The writes one planned change takes, as the sandbox counts them: (organization, e-mail, operation).

    An add is a ``POST`` (e-mail and role), then a ``PUT`` for its team; an update is a ``PUT`` when the
    team changes, else a ``PATCH`` of the role; a removal is a ``DELETE``.
    """
    email = str(change["email"]).lower()
    if change["action"] == "add":
        operations = ["add"] + (["update"] if change.get("team_id") else [])
    elif change["action"] == "update":
        operations = ["update" if change.get("team_id") != change.get("from_team_id") else "role"]
    else:
        operations = ["remove"]
    return [(org_id, email, operation) for operation in operations]


def applied_writes(counters: dict[str, Any]) -> Counter[tuple[str, str, str]]:
    """The sandbox's ``member_changes``: (organization, e-mail, operation) -> times applied."""
    applied: Counter[tuple[str, str, str]] = Counter()
    for key, times in counters["member_changes"].items():
        org_id, email, operation = key.split(" ")
        applied[(org_id, email.lower(), operation)] += times
    return applied


#: The line a Celery worker logs for each task it runs (Airflow 3.3's provider), with the TI's id.
CELERY_WORKLOAD = re.compile(r"Executing workload in Celery: .*?TaskInstanceDTO\(id=UUID\('([0-9a-f-]+)'\)")


def celery_task_ids(cluster: AirflowCluster) -> dict[str, set[str]]:
    """The ids of the task instances each Celery worker executed, by worker (from the workers' logs)."""
    return {
        name: set(CELERY_WORKLOAD.findall(cluster.component_log(name)))
        for name, _args in cluster.components
        if name.startswith("celery-worker-")
    }


def seconds_between(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def api_task_tries(one: Pass) -> list[dict[str, Any]]:
    """The task instances of the pass that talk to the Xentree API (the provider's operators, sensors)."""
    return [
        ti
        for tis in one.task_instances.values()
        for ti in tis
        if str(ti.get("operator") or "").startswith("Xentree") and ti["state"] == "success"
    ]


# Not data but when a file was made: the generation moment of the reports, and the times and the
# server's request ids in the audit log. Masked in place: every other byte must be the same.
VOLATILE = (
    re.compile(rb'("generated_at": ")[^"]*(")'),
    re.compile(rb"(generated )\d{4}-\d\d-\d\dT[\d:.]+Z()"),
)
AUDIT_VOLATILE = (
    re.compile(rb'("time": ")[^"]*(")'),
    re.compile(rb'("request_id": ")[^"]*(")'),
)


def masked(path: Path) -> bytes:
    data = path.read_bytes()
    patterns = VOLATILE + (AUDIT_VOLATILE if path.name.endswith(".audit.jsonl") else ())
    for pattern in patterns:
        data = pattern.sub(rb"\1<volatile>\2", data)
    return data


def output_files(root: Path) -> dict[str, Path]:
    return {str(path.relative_to(root)): path for path in sorted(root.rglob("*")) if path.is_file()}


# ---------------------------------------------------------------------------------------------- tests
def test_every_run_succeeds_on_the_celery_workers(celery_pass: Pass, cluster: AirflowCluster) -> None:
    assert celery_pass.states == dict.fromkeys(celery_pass.runs, "success")
    tis = [ti for tis in celery_pass.task_instances.values() for ti in tis]
    # The default executor (Celery) ran every task, spread over both workers.
    assert {ti.get("executor") for ti in tis} == {None}
    ran = [ti for ti in tis if ti["state"] == "success"]
    assert ran and all(ti.get("hostname") for ti in ran)
    by_worker = celery_task_ids(cluster)
    assert len(by_worker) == CELERY_WORKERS and all(by_worker.values()), by_worker
    assert {ti["id"] for ti in ran} <= set().union(*by_worker.values())
    membership = celery_pass.task_instances["membership"]
    for task_id in ("sync.plan", "sync.apply"):
        mapped = [ti for ti in membership if ti["task_id"] == task_id]
        assert len(mapped) == ORGANIZATIONS and {ti["state"] for ti in mapped} == {"success"}, task_id
    workloads = sum(len(ids) for ids in by_worker.values())
    print(f"\ncelery pass: {workloads} tasks run by the Celery workers in {celery_pass.seconds:.0f}s")


def test_ten_pooled_exports_at_most_four_at_a_time(celery_pass: Pass) -> None:
    tis = celery_pass.task_instances["scale"]
    assert len(tis) == len(EXPORT_WINDOWS)
    assert {ti["pool"] for ti in tis} == {POOL}
    assert {ti["state"] for ti in tis} == {"success"}
    assert 1 <= celery_pass.most_running_exports <= POOL_SLOTS
    assert {path.name for path in (celery_pass.root / "scale").iterdir()} == {
        f"{day}.jsonl" for day, _start, _end in EXPORT_WINDOWS
    }


def test_each_planned_membership_change_is_applied_exactly_once(
    celery_pass: Pass, local_pass: Pass, rosters: tuple[Path, set[IntendedChange]]
) -> None:
    _folder, intended = rosters
    for one in (celery_pass, local_pass):
        reports = plans(one)
        assert len(reports) == ORGANIZATIONS
        changes = [(org_id, change) for org_id, report in reports.items() for change in report["plan"]]
        # The generated rosters' changes are all in the plan (the shipped ones add theirs).
        assert {(c.organization_id, c.email.lower(), c.action) for c in intended} <= {
            (org_id, change["email"].lower(), change["action"]) for org_id, change in changes
        }
        planned = Counter(write for org_id, change in changes for write in planned_writes(org_id, change))
        assert max(planned.values()) == 1  # one write of each kind per member and organization
        # Each write the plan takes was applied once (none twice, none missing) ...
        assert applied_writes(one.counters) == planned, one.name
        # ... and nothing else was written.
        assert sum(one.counters["writes"].values()) == planned.total(), one.counters["writes"]
        results = one.root / "membership" / "2026-11-24"
        for org_id in reports:
            result = json.loads((results / f"{org_id}.result.json").read_text())
            assert result["status"] == "applied", (one.name, org_id, result["status"])
        print(
            f"\n{one.name} pass: {len(changes)} planned membership changes ({planned.total()} writes) "
            f"over {ORGANIZATIONS} organizations, each applied exactly once"
        )


def test_logins_at_most_one_per_task_process_per_token_lifetime(
    celery_pass: Pass, local_pass: Pass, sandbox: SandboxServer
) -> None:
    token_lifetime = float(sandbox.server_config()["token_lifetime"])
    for one in (celery_pass, local_pass):
        tries = api_task_tries(one)
        # Each try of a task is one process; a process that outlives a token may log in once more.
        bound = sum(
            int(ti["try_number"])
            * max(1, math.ceil(seconds_between(ti["start_date"], ti["end_date"]) / token_lifetime))
            for ti in tries
        )
        processes = sum(int(ti["try_number"]) for ti in tries)
        logins = int(one.counters["logins"])
        print(
            f"\n{one.name} pass: {logins} logins for {processes} task processes that called the API "
            f"(bound {bound}, token lifetime {token_lifetime:.0f}s, {logins / processes:.2f} per process)"
        )
        assert 1 <= logins <= bound, (one.name, logins, bound)


def test_outputs_are_byte_identical_to_the_local_executor_run(
    celery_pass: Pass, local_pass: Pass, cluster: AirflowCluster
) -> None:
    assert local_pass.states == dict.fromkeys(local_pass.runs, "success")
    local_tis = [ti for tis in local_pass.task_instances.values() for ti in tis]
    assert {ti.get("executor") for ti in local_tis} == {"LocalExecutor"}
    assert not {ti["id"] for ti in local_tis} & set().union(*celery_task_ids(cluster).values())
    celery_files, local_files = output_files(celery_pass.root), output_files(local_pass.root)
    assert set(celery_files) == set(local_files)
    assert any(name.startswith("scale/") for name in celery_files)
    assert any(name.startswith("membership/") for name in celery_files)
    assert any(name.startswith("learning/") for name in celery_files)
    assert any(name.startswith("exports/") for name in celery_files)
    different = [name for name in celery_files if masked(celery_files[name]) != masked(local_files[name])]
    assert not different, different
    # The data files hold no generation moment: identical without any masking.
    data_files = [name for name in celery_files if name.startswith(("exports/", "scale/"))]
    assert len(data_files) == 1 + len(EXPORT_WINDOWS)
    assert all(celery_files[name].read_bytes() == local_files[name].read_bytes() for name in data_files)
    print(
        f"\n{len(celery_files)} output files byte-identical on CeleryExecutor and LocalExecutor "
        f"(celery pass {celery_pass.seconds:.0f}s, local pass {local_pass.seconds:.0f}s)"
    )
