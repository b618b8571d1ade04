"""A real Airflow 3 for end-to-end tests: api-server, scheduler, dag-processor and triggerer.

``AirflowCluster`` runs the four components as subprocesses of this interpreter's ``airflow`` CLI,
all in ONE new process group, against a fresh ``AIRFLOW_HOME`` (SQLite, LocalExecutor), listening on
loopback only (the api-server on a free 127.0.0.1 port; the worker/trigger log servers are not
started, the api-server reads the task logs from the shared local folder). ``stop()`` kills the
whole group (SIGTERM, then SIGKILL) and is also registered with ``atexit``, so a crashed test run
never leaves servers behind. Nothing is ever killed by name.

The REST API (``/api/v2``) is used with the simple auth manager in all-admins mode, so no login is
needed. Only the standard library and ``requests`` are imported here (never Airflow itself): the
test process keeps its own Airflow configuration untouched.

Usage::

    with AirflowCluster(dags_folder, env={"AIRFLOW_CONN_XENTREE_DEFAULT": ...}) as cluster:
        cluster.wait_for_dags(["my_dag"])
        run_id = cluster.trigger_dag("my_dag", logical_date="2026-03-01T00:00:00Z")
        assert cluster.wait_for_run("my_dag", run_id) == "success"
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

import requests

COMPONENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("api-server", ("api-server",)),  # port/host come from AIRFLOW__API__*
    ("scheduler", ("scheduler", "--skip-serve-logs")),
    ("dag-processor", ("dag-processor",)),
    ("triggerer", ("triggerer", "--skip-serve-logs")),
)
TERMINAL_RUN_STATES = frozenset({"success", "failed"})


class ClusterError(RuntimeError):
    """The cluster failed to start, a component died, or a wait timed out."""


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def fast_config() -> dict[str, str]:
    """Airflow settings that make a test cluster react in about a second instead of minutes."""
    return {
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "1",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        # Only runs the tests trigger: no cron runs of the example DAGs.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "2",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__SCHEDULER__PARSING_CLEANUP_INTERVAL": "3600",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
        "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "1",
        "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "3600",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
    }


class AirflowCluster:
    """A real Airflow 3 (four components) in a fresh ``AIRFLOW_HOME``, driven through its REST API.

    :param dags_folder: the DAGs folder.
    :param env: extra environment for every component (connections, settings); wins over the defaults.
        The components inherit the caller's environment except Airflow's own variables (``AIRFLOW__*``
        settings, ``AIRFLOW_CONN_*`` connections, ``AIRFLOW_VAR_*`` variables): pass those here.
    :param home: the ``AIRFLOW_HOME`` to use (created); default a new temporary folder, removed on stop.
    :param local_settings: source of an ``airflow_local_settings.py`` (cluster policies) for the
        components, written to ``$AIRFLOW_HOME/config/``.
    :param startup_timeout: seconds to wait for every component to be up.
    :param database_url: the metadata database's SQLAlchemy URL; default SQLite in the home folder. A
        shared server (``services.PostgresServer``) is what the CeleryExecutor needs.
    :param celery_broker_url: run the CeleryExecutor with this broker (``services.RedisServer``) and
        ``celery_workers`` workers; default the LocalExecutor. Needs ``database_url`` (the Celery result
        backend is that database).
    :param celery_workers: how many ``airflow celery worker`` processes to start.
    :param worker_concurrency: task slots of each Celery worker.
    """

    def __init__(
        self,
        dags_folder: str | os.PathLike[str],
        *,
        env: Mapping[str, str] | None = None,
        home: str | os.PathLike[str] | None = None,
        local_settings: str | None = None,
        startup_timeout: float = 180.0,
        database_url: str | None = None,
        celery_broker_url: str | None = None,
        celery_workers: int = 2,
        worker_concurrency: int = 4,
    ) -> None:
        if celery_broker_url is not None and (database_url is None or database_url.startswith("sqlite")):
            raise ValueError("the CeleryExecutor needs a database server: pass database_url (not SQLite)")
        self.database_url = database_url
        self.celery_broker_url = celery_broker_url
        self.components: list[tuple[str, tuple[str, ...]]] = list(COMPONENTS)
        if celery_broker_url is not None:
            self.components += [
                (
                    f"celery-worker-{n}",
                    # Several workers on one machine: each its own Celery node name and pid file.
                    (
                        "celery",
                        "worker",
                        "--celery-hostname",
                        f"worker{n}@%h",
                        "--pid",
                        f"celery-worker-{n}.pid",
                        "--skip-serve-logs",
                    ),
                )
                for n in range(1, celery_workers + 1)
            ]
        self.worker_concurrency = worker_concurrency
        self.dags_folder = Path(dags_folder).resolve()
        self.extra_env = dict(env or {})
        self._own_home = home is None
        self.home = Path(home) if home is not None else Path(tempfile.mkdtemp(prefix="xentree-e2e-airflow-"))
        self.local_settings = local_settings
        self.startup_timeout = startup_timeout
        self.port = 0
        self.pgid: int | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, IO[bytes]] = {}
        self._http = requests.Session()
        self.env: dict[str, str] = {}

    # ------------------------------------------------------------------ life cycle
    def build_env(self) -> dict[str, str]:
        """The environment every component runs with."""
        # Nothing of Airflow's is inherited: no settings, and no connections or variables that the
        # calling process happens to hold (a test's environment): give those through ``env``.
        inherited_prefixes = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(inherited_prefixes)}
        env.pop("AIRFLOW_CONFIG", None)
        env.update(fast_config())
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url
                or f"sqlite:///{self.home / 'airflow.db'}",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__CORE__FERNET_KEY": "",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.celery_broker_url is not None and self.database_url is not None:
            env.update(
                {
                    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                    "AIRFLOW__CELERY__BROKER_URL": self.celery_broker_url,
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.database_url,
                    "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                    "AIRFLOW__CORE__PARALLELISM": "32",
                }
            )
        env.update(self.extra_env)
        return env

    def start(self) -> AirflowCluster:
        """Migrate the database, start the four components, wait until all are healthy."""
        if self._procs:
            return self
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "component-logs").mkdir(exist_ok=True)
        if self.local_settings is not None:
            (self.home / "config").mkdir(exist_ok=True)
            (self.home / "config" / "airflow_local_settings.py").write_text(self.local_settings)
        self.port = free_port()
        self.env = self.build_env()
        atexit.register(self.stop)
        self._airflow_cli("db", "migrate", timeout=300)
        try:
            for name, args in self.components:
                self._spawn(name, args)
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _airflow_cli(self, *args: str, timeout: float = 120) -> str:
        result = subprocess.run(  # noqa: S603 - our own interpreter running Airflow's CLI
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterError(
                f"airflow {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def _spawn(self, name: str, args: tuple[str, ...]) -> None:
        log = (self.home / "component-logs" / f"{name}.log").open("wb")
        self._logs[name] = log
        # The first component leads a new process group (in this session, so that the others may join
        # it: a process can only join a group of its own session).
        group = 0 if self.pgid is None else self.pgid
        kwargs: dict[str, Any] = {}
        if sys.version_info >= (3, 11):
            kwargs["process_group"] = group
        else:  # pragma: no cover - Python 3.10
            kwargs["preexec_fn"] = lambda: os.setpgid(0, group)
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter running Airflow, fixed arguments
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            cwd=self.home,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )
        if self.pgid is None:
            self.pgid = proc.pid
        self._procs[name] = proc

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                tail = self.component_log(name)[-4000:]
                raise ClusterError(f"airflow {name} exited with status {proc.returncode}:\n{tail}")

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last: Any = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                response = self._http.get(f"{self.url}/api/v2/monitor/health", timeout=5)
                if response.ok:
                    last = response.json()
                    statuses = [
                        (last.get(part) or {}).get("status")
                        for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                    ]
                    if all(status == "healthy" for status in statuses):
                        return
            except requests.RequestException as error:
                last = error
            time.sleep(0.5)
        raise ClusterError(
            f"Airflow not healthy after {self.startup_timeout:.0f}s: {last}\n{self.logs_tail()}"
        )

    @property
    def running(self) -> bool:
        """Whether every component is still running."""
        return bool(self._procs) and all(proc.poll() is None for proc in self._procs.values())

    def stop(self) -> None:
        """Stop the whole process group (SIGTERM, then SIGKILL); safe to call twice."""
        pgid, self.pgid = self.pgid, None
        procs, self._procs = self._procs, {}
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for proc in procs.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Whatever is left of the group (task supervisors, uvicorn workers...) goes now.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            for proc in procs.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        for log in self._logs.values():
            log.close()
        self._logs = {}
        self._http.close()
        atexit.unregister(self.stop)
        if self._own_home and not os.environ.get("XENTREE_E2E_KEEP_HOME"):
            shutil.rmtree(self.home, ignore_errors=True)

    def group_alive(self, pgid: int) -> bool:
        """Whether any process of the group ``pgid`` still exists."""
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def __enter__(self) -> AirflowCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ diagnostics
    def component_log(self, name: str) -> str:
        """The combined stdout/stderr of one component so far."""
        path = self.home / "component-logs" / f"{name}.log"
        return path.read_text("utf-8", "replace") if path.exists() else ""

    def logs_tail(self, chars: int = 2500) -> str:
        """The end of every component's output (for failure messages)."""
        return "\n".join(
            f"----- {name} -----\n{self.component_log(name)[-chars:]}" for name, _ in self.components
        )

    def task_log_files(self) -> list[Path]:
        """Every file under ``$AIRFLOW_HOME/logs`` (task, trigger, processor and component logs)."""
        found = [p for p in (self.home / "logs").rglob("*") if p.is_file()]
        found += [p for p in (self.home / "component-logs").glob("*.log")]
        return sorted(found)

    # ------------------------------------------------------------------ REST API
    @property
    def url(self) -> str:
        """Base URL of the api-server, e.g. ``http://127.0.0.1:41234``."""
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, path: str, *, ok: Iterable[int] = (200, 201), **kwargs: Any) -> Any:
        """Call ``/api/v2/<path>``; return the decoded JSON (or text); raise on unexpected status."""
        kwargs.setdefault("timeout", 30)
        response = self._http.request(method, f"{self.url}/api/v2/{path.lstrip('/')}", **kwargs)
        if response.status_code not in set(ok):
            raise ClusterError(f"{method} /api/v2/{path} -> {response.status_code}: {response.text[:1500]}")
        if "json" in response.headers.get("content-type", ""):
            return response.json()
        return response.text

    def _wait(self, what: str, probe: Callable[[], Any], timeout: float, interval: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout
        unanswered: requests.RequestException | None = None
        while True:
            self._check_alive()
            try:
                value = probe()
            except requests.RequestException as error:  # a busy api-server: ask again until the deadline
                unanswered, value = error, None
            if value:
                return value
            if time.monotonic() > deadline:
                last = f" (last request failed: {unanswered})" if unanswered else ""
                raise ClusterError(
                    f"timed out after {timeout:.0f}s waiting for {what}{last}\n{self.logs_tail()}"
                )
            time.sleep(interval)

    def import_errors(self) -> list[dict[str, Any]]:
        """Current DAG import errors."""
        return list(self.api("GET", "importErrors")["import_errors"])

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 120) -> None:
        """Wait until every DAG in ``dag_ids`` is parsed and serialized (import errors fail fast)."""
        wanted = set(dag_ids)

        def probe() -> bool:
            errors = self.import_errors()
            if errors:
                raise ClusterError(f"DAG import errors: {json.dumps(errors, indent=1)[:4000]}")
            found = {dag["dag_id"] for dag in self.api("GET", "dags", params={"limit": 100})["dags"]}
            if not wanted <= found:
                return False
            return all(self._serialized(dag_id) for dag_id in wanted)

        self._wait(f"DAGs {sorted(wanted)}", probe, timeout)

    def _serialized(self, dag_id: str) -> bool:
        response = self._http.get(f"{self.url}/api/v2/dags/{dag_id}/details", timeout=10)
        return response.ok

    def trigger_dag(
        self,
        dag_id: str,
        *,
        logical_date: str,
        data_interval: tuple[str, str] | None = None,
        conf: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> str:
        """Trigger a run with ``logical_date`` (and an explicit data interval if given); return its id."""
        body: dict[str, Any] = {"logical_date": logical_date, "conf": dict(conf or {})}
        if data_interval is not None:
            body["data_interval_start"], body["data_interval_end"] = data_interval
        if run_id is not None:
            body["dag_run_id"] = run_id
        result = self.api("POST", f"dags/{dag_id}/dagRuns", json=body)
        return str(result["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The run's REST representation."""
        result: dict[str, Any] = self.api("GET", f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
        return result

    def wait_for_run(
        self,
        dag_id: str,
        run_id: str,
        timeout: float = 180,
        on_poll: Callable[[list[dict[str, Any]]], None] | None = None,
        interval: float = 0.3,
    ) -> str:
        """Wait for the run to finish; return its state. ``on_poll`` sees the task instances each poll.

        ``interval`` is the seconds between polls: each poll is one or two REST calls the api-server
        answers, so a longer interval leaves more of a small machine to the tasks.
        """

        def probe() -> str | None:
            if on_poll is not None:
                on_poll(self.task_instances(dag_id, run_id))
            state = self.dag_run(dag_id, run_id)["state"]
            return state if state in TERMINAL_RUN_STATES else None

        return str(self._wait(f"run {dag_id}/{run_id}", probe, timeout, interval=interval))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run (mapped ones included), with ``rendered_fields``.

        Read page by page: the api-server caps a page at ``[api] maximum_page_limit`` (100 by default).
        """
        found: list[dict[str, Any]] = []
        while True:
            page = self.api(
                "GET",
                f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances",
                params={"limit": 100, "offset": len(found)},
            )
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= int(page["total_entries"]):
                return found

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The task's log for one try, as text (structured lines joined), through the REST API."""
        result = self.api(
            "GET",
            f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/logs/{try_number}",
            params={"full_content": "true", "map_index": map_index},
            headers={"Accept": "application/json"},
        )
        content = result.get("content") if isinstance(result, dict) else result
        if isinstance(content, list):
            return "\n".join(
                json.dumps(line, default=str) if not isinstance(line, str) else line for line in content
            )
        return str(content)

    def xcom_values(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every XCom entry of the run, each with its stored ``value`` (as the API returns it)."""
        listing = self.api(
            "GET",
            f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/~/xcomEntries",
            params={"limit": 1000},
        )
        entries = []
        for entry in listing["xcom_entries"]:
            value = self.api(
                "GET",
                f"dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{entry['task_id']}"
                f"/xcomEntries/{quote(entry['key'], safe='')}",
                params={"map_index": entry.get("map_index", -1), "stringify": "true"},
            )
            entries.append({**entry, "value": value.get("value")})
        return entries

    def trigger_log(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        try_number: int,
        map_index: int = -1,
        *,
        until: str | None = None,
        timeout: float = 60,
    ) -> str:
        """What the triggerer logged for this try's triggers (its ``*.log.trigger.<job>.log`` files).

        The api-server serves a running trigger's log from the triggerer's log server, which this
        cluster does not start (it would listen on every interface); the files are read directly.
        The triggerer writes a trigger's lines apart from sending its event, so they can land after the
        task has resumed: with ``until``, wait (up to ``timeout`` seconds) for a line containing it.
        """
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"

        def read() -> str:
            files = sorted(folder.glob(f"attempt={try_number}.log.trigger.*.log"))
            return "\n".join(path.read_text("utf-8", "replace") for path in files)

        if until is None:
            return read()

        def probe() -> str | None:
            text = read()
            return text if until in text else None

        try:
            return str(
                self._wait(f"{until!r} in the trigger log of {dag_id}/{run_id}/{task_id}", probe, timeout)
            )
        except ClusterError:
            return read()  # the caller's assertion shows what was there
