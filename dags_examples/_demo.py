"""What every demo runner needs: a migrated Airflow database and the examples folder as a DAG bundle."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from xentree_provider.testing import SandboxServer

__all__ = [
    "EXAMPLES_DIR",
    "ensure_examples_bundle",
    "migrate_airflow_db",
    "nightly_runs",
    "prepare_airflow",
    "with_sandbox",
]

_Result = TypeVar("_Result")

EXAMPLES_DIR = Path(__file__).resolve().parent


def migrate_airflow_db() -> None:
    """Create or upgrade the Airflow metadata database of ``AIRFLOW_HOME`` (idempotent, quick when done)."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


def ensure_examples_bundle() -> None:
    """Make ``dags_examples/`` a DAG bundle, so ``dag.test()`` can serialize the example DAGs even when
    the configured DAGs folder is elsewhere (the bundle list is read on every ``dag.test()``)."""
    from airflow import settings

    if Path(settings.DAGS_FOLDER).resolve() == EXAMPLES_DIR:
        return
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
        [
            {"name": "dags-folder", "classpath": local, "kwargs": {}},
            {"name": "xentree-examples", "classpath": local, "kwargs": {"path": str(EXAMPLES_DIR)}},
        ]
    )


def prepare_airflow(migrate: bool) -> None:
    """Everything ``dag.test()`` of an example needs: the database (when asked) and the bundle."""
    if migrate:
        migrate_airflow_db()
    ensure_examples_bundle()


def with_sandbox(
    sandbox: SandboxServer | None, run: Callable[[SandboxServer], _Result], **config: Any
) -> _Result:
    """``run(sandbox)``, or ``run`` on a fresh sandbox started with ``config`` and stopped afterwards."""
    if sandbox is not None:
        return run(sandbox)
    from xentree_provider.testing import SandboxServer

    with SandboxServer(**config) as fresh:
        return run(fresh)


def nightly_runs(
    dag: Any,
    base: Path,
    relative_path: Callable[[str], str],
    days: list[datetime],
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Run a nightly export ``dag`` with ``dag.test()`` for each UTC day of ``days`` and the last day
    again (a re-run writes the same bytes); ``relative_path(day)`` is the day's file under ``base``.

    :return: ``[{"day", "path", "state", "bytes", "sha256"}]`` per run (no size or digest without a file).
    """
    runs: list[dict[str, Any]] = []
    for day in [*days, days[-1]]:
        # A data-interval timetable: the run at logical date D+1 00:00 covers day D.
        run = dag.test(logical_date=day + timedelta(days=1))
        path = base / relative_path(day.date().isoformat())
        entry: dict[str, Any] = {"day": day.date().isoformat(), "path": str(path), "state": str(run.state)}
        if path.exists():
            entry.update(bytes=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest()[:16])
        runs.append(entry)
        say(
            f"  {entry['day']}: run {entry['state']}, {path.relative_to(base)} "
            f"{entry.get('bytes', 0):>8} bytes  sha256 {entry.get('sha256', '-')}"
        )
    return runs
