"""What every demo runner needs: a migrated Airflow database and the examples folder as a DAG bundle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from xentree_provider.testing import SandboxServer

__all__ = ["EXAMPLES_DIR", "ensure_examples_bundle", "migrate_airflow_db", "prepare_airflow", "with_sandbox"]

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
