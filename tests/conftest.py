"""Test-wide Airflow environment.

Set before anything imports Airflow (Airflow reads its configuration once, at first import):

* ``AIRFLOW_HOME``: kept if the caller set it (``scripts/test.sh`` uses ``.airflow-test/``), otherwise a
  temporary directory for this session, removed at exit;
* no example DAGs; the DAGs folder is ``dags_examples/``;
* ``AIRFLOW__CORE__UNIT_TEST_MODE`` is deliberately left alone: the tests exercise real behaviour.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

if not os.environ.get("AIRFLOW_HOME"):
    _session_home = tempfile.mkdtemp(prefix="xentree-airflow-home-")
    os.environ["AIRFLOW_HOME"] = _session_home
    atexit.register(shutil.rmtree, _session_home, ignore_errors=True)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO_ROOT / "dags_examples")


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    """The ``AIRFLOW_HOME`` of this test session."""
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """Migrate the Airflow metadata database once per session (needed by ``dag.test()``).

    Runs ``python -m airflow db migrate`` in a subprocess with this session's environment, so the
    test process's own Airflow configuration is not touched. Returns the Airflow home.
    """
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=os.environ.copy(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"airflow db migrate failed (exit {result.returncode}) in AIRFLOW_HOME={airflow_home}:\n"
            f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}",
            pytrace=False,
        )
    return airflow_home
