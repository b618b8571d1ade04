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

    Runs ``python -m airflow db migrate`` in a subprocess (the examples' own helper) with this session's
    environment, so the test process's own Airflow configuration is not touched. Returns the Airflow home.
    """
    from dags_examples._demo import migrate_airflow_db

    try:
        migrate_airflow_db()
    except RuntimeError as error:
        pytest.fail(f"in AIRFLOW_HOME={airflow_home}: {error}", pytrace=False)
    return airflow_home


def pytest_configure(config: pytest.Config) -> None:
    """Register ``needs_airflow``; under ``scripts/ci_matrix.sh``, insist on the installed wheel.

    Under the matrix, stop at once unless the package under test is the installed wheel.
    """
    config.addinivalue_line(
        "markers",
        "needs_airflow(minimum, feature): skip on an Airflow older than minimum (e.g. '3.3'), which lacks "
        "feature; the package's behaviour there (failing at once, naming the version) is tested beside it",
    )
    expected = os.environ.get("XENTREE_EXPECT_INSTALLED_IN")
    if not expected:
        return
    import xentree_provider

    where = Path(xentree_provider.__file__).resolve()
    if not where.is_relative_to(Path(expected).resolve()):
        raise pytest.UsageError(
            f"xentree_provider was imported from {where}, not from the venv {expected}: the source tree is "
            "on sys.path (run bin/pytest, not python -m pytest, and keep the sources off PYTHONPATH)"
        )


def pytest_report_header() -> str:
    """Say which xentree_provider and Airflow the tests run against (the matrix legs differ)."""
    import airflow

    import xentree_provider

    where = Path(xentree_provider.__file__).parent
    return f"xentree_provider {xentree_provider.__version__} from {where}, Airflow {airflow.__version__}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that need the real scheduler (``cluster``) or a browser (``browser``) from what they use.

    The matrix legs deselect both; marking by use catches new test modules that forget the marker. Tests
    marked ``needs_airflow`` are skipped on an older Airflow, with the version and the reason.
    """
    for item in items:
        _skip_if_airflow_is_older_than_needed(item)
        module_globals = vars(item.module) if getattr(item, "module", None) is not None else {}
        used = {
            getattr(value, "__module__", None) or getattr(value, "__name__", "")
            for value in module_globals.values()
        }
        if any(name.startswith("xentree_provider.testing.airflow_cluster") for name in used):
            item.add_marker(pytest.mark.cluster)
        if any(name.startswith("playwright") for name in used):
            item.add_marker(pytest.mark.browser)


def _skip_if_airflow_is_older_than_needed(item: pytest.Item) -> None:
    """Skip a test marked ``needs_airflow(minimum, feature)`` on an older Airflow, saying which and why."""
    marker = item.get_closest_marker("needs_airflow")
    if marker is None:
        return
    import airflow

    from xentree_provider._compat import _parse_version, airflow_version

    minimum, feature = marker.args
    if airflow_version() < _parse_version(minimum):
        item.add_marker(
            pytest.mark.skip(
                reason=f"{feature} needs Airflow {minimum} or newer; this is Airflow {airflow.__version__}"
            )
        )
