"""The example DAGs under a real Airflow 3: api-server, scheduler, dag-processor and triggerer.

``dag.test()`` runs triggers inline and skips the scheduler; these tests run the real components
(``airflow_cluster.AirflowCluster``: SQLite, LocalExecutor, loopback only, one process group stopped
at the end whatever happens) with ``dags_examples/`` as the DAGs folder and a sandbox as
``xentree_default``, and drive them through the REST API:

* a clean pass: every example DAG triggered with a logical date; the transcript sensor of a day that
  has no transcript yet really defers (its task instance is seen ``deferred``, the triggerer polls),
  a transcript is saved, and the sensor resumes; files, reports and sandbox state are checked;
* a fault pass: the same runs with 5xx, connection resets, 429 + ``Retry-After`` and 2-second access
  tokens switched on; every run succeeds with outputs identical to the clean pass;
* a secrets scan: every task log, XCom value and rendered template field (REST API), every log file
  of the cluster and the output of these tests hold none of the password, API keys and tokens the
  sandbox issued.

The example DAGs are not modified. Two test-only knobs keep the suite fast: a cluster policy
(``airflow_local_settings.task_policy``) sets sensors' ``poke_interval`` to 1 s and ``retry_delay``
to 1 s, and ``[operators] default_deferrable = True`` makes the sensor defer (the example leaves
``deferrable`` to that setting).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from xentree_provider.testing import SandboxServer
from xentree_provider.testing.airflow_cluster import AirflowCluster

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags_examples"
ROSTER_DIR = DAGS_FOLDER / "rosters"

ANCHOR = "2026-11-23"  # a Monday; the sandbox's data covers the 28 days before it
DAY_WITH_DATA = "2026-11-22"  # a day inside the data
DAY_WITHOUT_DATA = "2026-11-24"  # after the anchor: no transcript until the test saves one
SERVER_CLOCK = "2026-11-24T12:00:00Z"
INTERVALS = {
    DAY_WITH_DATA: ("2026-11-22T00:00:00+00:00", "2026-11-23T00:00:00+00:00"),
    DAY_WITHOUT_DATA: ("2026-11-24T00:00:00+00:00", "2026-11-25T00:00:00+00:00"),
}
REPORT_WEEK = ("2026-11-16T00:00:00+00:00", "2026-11-23T00:00:00+00:00")

EXPORT = "xentree_transcript_export"
MEMBERSHIP = "xentree_org_membership_sync"
REPORT = "xentree_learning_report"
SENSOR_TASK = "wait_for_transcripts"

LOCAL_SETTINGS = '''\
"""Test-cluster policy: fast sensor polling and retries (the DAG files stay untouched)."""
from datetime import timedelta


def task_policy(task):
    if hasattr(task, "poke_interval"):
        task.poke_interval = 1.0
    try:
        task.retry_delay = timedelta(seconds=1)
    except Exception:
        pass
'''

FAULTS = {
    "error_rate": 0.08,  # 500/502/503
    "reset_rate": 0.04,  # connection dropped before the response
    "rate_limit_rps": 25.0,  # then 429 with Retry-After
    "rate_limit_burst": 8,
}
TOKEN_LIFETIME = 2.0  # seconds: several refreshes per task


@dataclass
class Pass:
    """What one pass over the example DAGs produced."""

    name: str
    runs: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (dag_id, run_id)
    states: dict[str, str] = field(default_factory=dict)
    seen_states: dict[str, set[str]] = field(default_factory=dict)  # "label/task" -> states seen
    saved_transcript: dict[str, Any] | None = None
    output_dir: Path = Path()
    exports: Path = Path()
    counters: dict[str, Any] = field(default_factory=dict)
    token_lifetime: float = 0.0
    members: dict[str, dict[str, tuple[str, str | None]]] = field(default_factory=dict)
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("real-airflow")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(anchor=ANCHOR) as server:
        yield server


@pytest.fixture(scope="module")
def issued_secrets(sandbox: SandboxServer) -> set[str]:
    """Grows as the passes run (collected before every sandbox reset, which forgets tokens)."""
    return set()


def collect_secrets(sandbox: SandboxServer, into: set[str]) -> None:
    found = sandbox.issued_secrets()
    into.update(str(s) for s in found["all"] if s)
    into.add(str(found["password"]))


@pytest.fixture(scope="module")
def cluster(sandbox: SandboxServer, work_dir: Path) -> Iterator[AirflowCluster]:
    first_org = sandbox.credentials()["first_org_id"]
    env = {
        "AIRFLOW_CONN_XENTREE_DEFAULT": sandbox.connection_env(organization_id=first_org, max_retries=8),
        "XENTREE_EXAMPLES_OUTPUT": str(work_dir / "exports"),
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
    }
    with AirflowCluster(DAGS_FOLDER, env=env, local_settings=LOCAL_SETTINGS) as running:
        running.wait_for_dags([EXPORT, MEMBERSHIP, REPORT])
        yield running
    # the fixture's own check that nothing of the cluster survived
    assert not running.running


def save_transcript_in(sandbox: SandboxServer, day: str) -> dict[str, Any]:
    """Save one Live transcript that started on ``day`` (user login, faults paused for the call)."""
    faults = sandbox.server_config().get("faults") or {}
    sandbox.clear_faults()
    try:
        with requests.Session() as http:
            login = http.post(
                f"{sandbox.url}/api/auth/login",
                data={
                    "username": sandbox.credentials()["email"],
                    "password": sandbox.credentials()["password"],
                },
                timeout=30,
            )
            login.raise_for_status()
            token = login.json()["access_token"]
            saved = http.post(
                f"{sandbox.url}/api/live/transcripts",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "session_started_at": f"{day}T10:00:00Z",
                    "session_ended_at": f"{day}T10:20:00Z",
                    "transcripts": [
                        {"role": "user", "text": "Good morning", "timestamp": f"{day}T10:00:05Z"},
                        {"role": "ai", "text": "Good morning!", "timestamp": f"{day}T10:00:09Z"},
                    ],
                },
                timeout=30,
            )
            saved.raise_for_status()
            result: dict[str, Any] = saved.json()
            return result
    finally:
        if faults:
            sandbox.set_faults(**faults)


def defer_exit_seen(cluster: AirflowCluster, run_id: str) -> bool:
    """Whether the scheduler has processed the executor's event for the sensor's exit on deferral.

    Airflow 3.3.2 races when a trigger fires before that event is processed and the resumed task is
    already queued: the stale "success" is taken for an external kill and the try is failed
    (apache/airflow#67287, and #72716 for the running variant; the sensor's retries absorb it). The
    test waits for the event so that the deferral is proven in one try.
    """
    line = f"TaskInstance Finished: dag_id={EXPORT}, task_id={SENSOR_TASK}, run_id={run_id},"
    return line in cluster.component_log("scheduler")


def run_pass(
    name: str, cluster: AirflowCluster, sandbox: SandboxServer, out: Path, secrets: set[str], minute: int
) -> Pass:
    """Trigger the four runs at once, save a transcript once the trigger polled, wait for all.

    ``minute`` shifts the logical dates (one run per DAG and logical date); the data intervals,
    and so the outputs' paths and contents, stay the same.
    """
    started = time.monotonic()
    result = Pass(name=name, output_dir=out)
    out.mkdir(parents=True, exist_ok=True)
    triggers: dict[str, tuple[str, dict[str, Any]]] = {
        "export_day": (
            EXPORT,
            {
                "logical_date": f"{DAY_WITH_DATA}T00:{minute:02d}:00+00:00",
                "data_interval": INTERVALS[DAY_WITH_DATA],
            },
        ),
        "export_deferred": (
            EXPORT,
            {
                "logical_date": f"{DAY_WITHOUT_DATA}T00:{minute:02d}:00+00:00",
                "data_interval": INTERVALS[DAY_WITHOUT_DATA],
            },
        ),
        "membership": (
            MEMBERSHIP,
            {
                "logical_date": f"2026-11-24T02:{30 + minute:02d}:00+00:00",
                "conf": {"roster_dir": str(ROSTER_DIR), "report_dir": str(out / "membership")},
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
        run_id = cluster.trigger_dag(dag_id, run_id=f"{name}__{label}", **kwargs)
        result.runs[label] = (dag_id, run_id)

    def watch(label: str) -> Any:
        def on_poll(tis: list[dict[str, Any]]) -> None:
            for ti in tis:
                result.seen_states.setdefault(f"{label}/{ti['task_id']}", set()).add(str(ti["state"]))
            if label == "export_deferred" and result.saved_transcript is None:
                sensor = [ti for ti in tis if ti["task_id"] == SENSOR_TASK]
                # Once the trigger has polled at least once in the triggerer (and the scheduler has
                # seen the worker exit on deferral, see defer_exit_seen), the day gets its transcript.
                if (
                    sensor
                    and sensor[0]["state"] == "deferred"
                    and "not met yet" in cluster.trigger_log(*result.runs[label], SENSOR_TASK, 1)
                    and defer_exit_seen(cluster, result.runs[label][1])
                ):
                    result.saved_transcript = save_transcript_in(sandbox, DAY_WITHOUT_DATA)

        return on_poll

    # The deferred run first: the transcript is saved while it waits.
    for label in ("export_deferred", "export_day", "membership", "report"):
        dag_id, run_id = result.runs[label]
        result.states[label] = cluster.wait_for_run(dag_id, run_id, timeout=240, on_poll=watch(label))
    result.exports = out / "exports-copy"
    shutil.copytree(cluster.env["XENTREE_EXAMPLES_OUTPUT"], result.exports)
    result.counters = sandbox.counters()
    result.token_lifetime = float(sandbox.server_config()["token_lifetime"])
    result.members = {org: member_state(sandbox, org) for org in roster_orgs()}
    collect_secrets(sandbox, secrets)
    result.seconds = time.monotonic() - started
    return result


@pytest.fixture(scope="module")
def clean_pass(
    cluster: AirflowCluster, sandbox: SandboxServer, work_dir: Path, issued_secrets: set[str]
) -> Pass:
    # The server's clock on the day without data: the transcript the test saves is stamped that day,
    # so the export by arrival (window_field="created_at") of that day holds it.
    sandbox.reset(clock=SERVER_CLOCK)
    return run_pass("clean", cluster, sandbox, work_dir / "clean", issued_secrets, minute=0)


@pytest.fixture(scope="module")
def fault_pass(
    clean_pass: Pass,
    cluster: AirflowCluster,
    sandbox: SandboxServer,
    work_dir: Path,
    issued_secrets: set[str],
) -> Pass:
    collect_secrets(sandbox, issued_secrets)
    # same seed, anchor and clock: the same data and members
    sandbox.reset(token_lifetime=TOKEN_LIFETIME, clock=SERVER_CLOCK)
    sandbox.set_faults(**FAULTS)
    try:
        return run_pass("faults", cluster, sandbox, work_dir / "faults", issued_secrets, minute=1)
    finally:
        collect_secrets(sandbox, issued_secrets)
        sandbox.clear_faults()


# ---------------------------------------------------------------------------------------------- helpers
def roster_orgs() -> list[str]:
    return sorted(p.stem for p in ROSTER_DIR.glob("*.csv"))


def member_state(sandbox: SandboxServer, org: str) -> dict[str, tuple[str, str | None]]:
    return {m["email"].lower(): (m["role"], m.get("team_id")) for m in sandbox.members(org)}


def sandbox_token_lifetime(one: Pass) -> float:
    return one.token_lifetime


def read_export(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def export_file(base: Path, day: str) -> Path:
    return base / "transcripts" / f"dt={day}" / "transcripts.jsonl.gz"


def xcom(cluster: AirflowCluster, dag_id: str, run_id: str, task_id: str) -> Any:
    for entry in cluster.xcom_values(dag_id, run_id):
        if (
            entry["task_id"] == task_id
            and entry["key"] == "return_value"
            and entry.get("map_index", -1) == -1
        ):
            return entry["value"]
    raise AssertionError(f"no return_value XCom for {task_id} in {run_id}")


# Not data but how the run went: when a report was written, and how many tries/rounds the apply step
# needed (a fault pass retries more). Everything else must be identical.
VOLATILE_KEYS = frozenset({"generated_at", "tries", "rounds"})
GENERATED_AT = re.compile(rb"generated \d{4}-\d\d-\d\dT[\d:.]+Z")


def without_volatile(value: Any, output_dir: str = "") -> Any:
    """``value`` without the volatile keys, and with this pass's output folder in paths as <output>."""
    if isinstance(value, dict):
        return {k: without_volatile(v, output_dir) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [without_volatile(v, output_dir) for v in value]
    if isinstance(value, str) and output_dir:
        return value.replace(output_dir, "<output>")
    return value


def audit_effects(path: Path) -> list[tuple[str, str, str]]:
    """What an audit log says was done: the last answer per (action, e-mail), failed tries left out.

    A fault pass logs more lines (failed tries, then their retries) and other times and request ids;
    what it did to the organization must be the same.
    """
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        last[(entry["action"], entry["email"])] = entry
    return sorted(
        (action, email, json.dumps(entry.get("after"), sort_keys=True))
        for (action, email), entry in last.items()
        if entry["outcome"] != "failed"
    )


def relative_files(root: Path) -> dict[str, Any]:
    """Every file under ``root``: JSON parsed (minus volatile keys), anything else as bytes."""
    files: dict[str, Any] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = str(path.relative_to(root))
        if path.suffix == ".json":
            # Reports name files by absolute path (the plan, the audit log): the passes write apart.
            files[name] = without_volatile(json.loads(path.read_bytes()), str(root.parent))
        elif path.name.endswith(".audit.jsonl"):
            files[name] = audit_effects(path)
        else:
            files[name] = GENERATED_AT.sub(b"generated <time>", path.read_bytes())
    return files


# ---------------------------------------------------------------------------------------------- clean pass
def test_every_run_succeeds(clean_pass: Pass) -> None:
    assert clean_pass.states == dict.fromkeys(clean_pass.runs, "success")


def test_sensor_defers_to_the_triggerer_and_resumes(clean_pass: Pass, cluster: AirflowCluster) -> None:
    seen = clean_pass.seen_states[f"export_deferred/{SENSOR_TASK}"]
    assert "deferred" in seen, seen
    assert clean_pass.saved_transcript is not None
    dag_id, run_id = clean_pass.runs["export_deferred"]
    sensor = next(ti for ti in cluster.task_instances(dag_id, run_id) if ti["task_id"] == SENSOR_TASK)
    assert sensor["state"] == "success"
    assert sensor["try_number"] == 1  # resumed from the trigger's event, not retried
    worker_log = cluster.task_log(dag_id, run_id, SENSOR_TASK, 1)  # through the REST API
    assert "deferring" in worker_log
    # written by the triggerer, possibly after the task resumed
    trigger_log = cluster.trigger_log(dag_id, run_id, SENSOR_TASK, 1, until="Trigger fired event")
    # The wait is the poke interval, or less: shared polls wait for the next round of the group.
    assert "not met yet" in trigger_log and re.search(r"next check in (0\.\d|1\.0) s", trigger_log)
    assert "Trigger fired event" in trigger_log and "'status': 'success'" in trigger_log
    details = xcom(cluster, dag_id, run_id, SENSOR_TASK)
    assert "'count': 1" in str(details) or '"count": 1' in str(details), details
    # the day that already had data did not defer
    day_seen = clean_pass.seen_states[f"export_day/{SENSOR_TASK}"]
    assert "deferred" not in day_seen


def test_exports_hold_the_days_transcripts(clean_pass: Pass, sandbox: SandboxServer) -> None:
    deferred_rows = read_export(export_file(clean_pass.exports, DAY_WITHOUT_DATA))
    assert clean_pass.saved_transcript is not None
    assert [row["id"] for row in deferred_rows] == [clean_pass.saved_transcript["id"]]

    day_rows = read_export(export_file(clean_pass.exports, DAY_WITH_DATA))
    assert day_rows
    # the example exports by arrival: the day's file holds the transcripts saved that day
    assert all(str(row["created_at"]).startswith(DAY_WITH_DATA) for row in day_rows)
    assert len({row["id"] for row in day_rows}) == len(day_rows)


def test_membership_matches_the_rosters(clean_pass: Pass) -> None:
    for org in roster_orgs():
        reports = clean_pass.output_dir / "membership" / "2026-11-24"
        plan = json.loads((reports / f"{org}.plan.json").read_text())
        result = json.loads((reports / f"{org}.result.json").read_text())
        assert plan["dry_run"] is True and result["status"] == "applied", result
        assert result["plan"] == plan["plan"] and result["summary"]["add"] + result["summary"]["remove"] > 0
        # Everyone in the roster has the roster's role, except what the sync refused (and reported).
        skipped = {entry["email"].lower() for entry in result["skipped"]}
        with (ROSTER_DIR / f"{org}.csv").open(newline="") as handle:
            wanted = {row["email"].strip().lower(): row["role"] for row in csv.DictReader(handle)}
        actual = {email: role for email, (role, _team) in clean_pass.members[org].items()}
        # The example gives members missing from the roster a grace of two nights: on the first night
        # they stay, and the report lists them as waiting.
        waiting = {entry["email"].lower() for entry in result["waiting_removal"]}
        assert waiting <= set(actual) - set(wanted), org
        assert set(actual) == set(wanted) | waiting, org
        assert {e: r for e, r in actual.items() if e not in skipped | waiting} == {
            e: r for e, r in wanted.items() if e not in skipped
        }, org


def test_learning_report_files(clean_pass: Pass, cluster: AirflowCluster) -> None:
    week = clean_pass.output_dir / "learning" / REPORT_WEEK[0][:10]
    for name in ("progress.csv", "progress.json", "report.html"):
        assert (week / name).stat().st_size > 0, name
    dag_id, run_id = clean_pass.runs["report"]
    summary = str(xcom(cluster, dag_id, run_id, "summary"))
    assert "report.html" in summary
    mapped = [ti for ti in cluster.task_instances(dag_id, run_id) if ti["task_id"] == "knowledge_lookup"]
    assert len(mapped) == 3 and all(ti["state"] == "success" for ti in mapped)


# ---------------------------------------------------------------------------------------------- fault pass
def test_fault_pass_succeeds_with_faults_really_injected(fault_pass: Pass) -> None:
    assert fault_pass.states == dict.fromkeys(fault_pass.runs, "success")
    assert "deferred" in fault_pass.seen_states[f"export_deferred/{SENSOR_TASK}"]
    faults = fault_pass.counters["faults"]
    print("fault pass: sandbox counters", json.dumps(fault_pass.counters, sort_keys=True)[:3000])
    # 5xx, connection resets and 429s all really happened (the sandbox's fault RNG is seeded)
    assert faults.get("error", 0) > 0 and faults.get("reset", 0) > 0 and faults.get("rate_limit", 0) > 0, (
        faults
    )
    assert sandbox_token_lifetime(fault_pass) == TOKEN_LIFETIME


def test_fault_pass_outputs_identical_to_clean(clean_pass: Pass, fault_pass: Pass) -> None:
    assert (
        export_file(fault_pass.exports, DAY_WITH_DATA).read_bytes()
        == export_file(clean_pass.exports, DAY_WITH_DATA).read_bytes()
    )
    clean_deferred = read_export(export_file(clean_pass.exports, DAY_WITHOUT_DATA))
    fault_deferred = read_export(export_file(fault_pass.exports, DAY_WITHOUT_DATA))
    assert [r["id"] for r in fault_deferred] == [r["id"] for r in clean_deferred]
    assert fault_pass.members == clean_pass.members
    for area in ("membership", "learning"):
        assert relative_files(fault_pass.output_dir / area) == relative_files(clean_pass.output_dir / area), (
            area
        )


# ---------------------------------------------------------------------------------------------- secrets
def test_no_secret_anywhere(
    clean_pass: Pass,
    fault_pass: Pass,
    cluster: AirflowCluster,
    sandbox: SandboxServer,
    issued_secrets: set[str],
    test_output_so_far: list[str],
) -> None:
    collect_secrets(sandbox, issued_secrets)
    secrets = {s for s in issued_secrets if len(s) >= 6}
    assert len(secrets) > 10  # password, API keys and many access/refresh tokens

    places: dict[str, str] = {}
    for one in (clean_pass, fault_pass):
        for label, (dag_id, run_id) in one.runs.items():
            for ti in cluster.task_instances(dag_id, run_id):
                where = f"{run_id}/{ti['task_id']}[{ti['map_index']}]"
                places[f"rendered {where}"] = json.dumps(ti.get("rendered_fields"), default=str)
                for attempt in range(1, int(ti["try_number"] or 0) + 1):
                    places[f"log {where} try {attempt}"] = cluster.task_log(
                        dag_id, run_id, ti["task_id"], attempt, ti["map_index"]
                    )
            for entry in cluster.xcom_values(dag_id, run_id):
                places[f"xcom {run_id}/{entry['task_id']}[{entry.get('map_index')}]/{entry['key']}"] = str(
                    entry["value"]
                )
            places[f"run {label}"] = json.dumps(cluster.dag_run(dag_id, run_id), default=str)
    for path in cluster.task_log_files():
        places[f"file {path}"] = path.read_text("utf-8", "replace")
    for index, text in enumerate(test_output_so_far):
        places[f"test output #{index}"] = text

    logs = [name for name in places if name.startswith("log ")]
    assert len(logs) >= 16, "expected the task logs of both passes"
    hits = [
        (name, secret[:4] + "...") for name, text in places.items() for secret in secrets if secret in text
    ]
    assert hits == [], f"{len(hits)} secret(s) leaked: {hits[:20]}"
