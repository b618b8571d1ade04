"""End-to-end test helpers: keep every test's captured output for the secrets scan.

``captured_test_output()`` returns the captured stdout/stderr/log sections and failure texts of every
test reported so far in this session (``tests/e2e/test_real_airflow.py`` scans them for credentials).
Collecting them changes nothing for other tests.

``dag_bundle(dag_id, source)`` writes a DAG file into a bundle of its own and returns its ``dag``.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_CAPTURED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Keep the captured output (and any failure text) of each test phase."""
    _CAPTURED.extend(content for _name, content in report.sections)
    if report.longrepr is not None:
        _CAPTURED.append(report.longreprtext)


def captured_test_output() -> list[str]:
    """Every captured output section and failure text of the tests reported so far."""
    return list(_CAPTURED)


@pytest.fixture
def test_output_so_far() -> list[str]:
    """The captured output of every test reported before this one (see :func:`captured_test_output`)."""
    return captured_test_output()


def _sync_dags_folder() -> None:
    """Parse the DAGs folder into the metadata database, as Airflow 3.3's ``dag.test()`` does each time."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.utils.session import create_session

    try:
        from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import BundleDagBag, sync_bag_to_db  # type: ignore[no-redef]

    manager = DagBundlesManager()
    with create_session() as session:
        manager.sync_bundles_to_db(session=session)
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        sync_bag_to_db(
            BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path), bundle.name, bundle.version
        )


@pytest.fixture(autouse=True)
def dag_test_resyncs_the_dags_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Airflow < 3.3, make ``dag.test()`` re-parse the DAGs folder first, as 3.3 does.

    Before 3.3, ``dag.test()`` parses the DAGs folder only the first time it sees a DAG id, so the assets
    of a later test's DAG (outputs under its own ``tmp_path``) are never registered and its asset events
    are dropped. The tests run the same DAGs with other outputs, so they need 3.3's behaviour everywhere.
    """
    from airflow.sdk import DAG

    from xentree_provider._compat import airflow_version

    if airflow_version() >= (3, 3, 0):
        return
    original = DAG.test

    def test_after_resync(self: DAG, *args: object, **kwargs: object) -> object:
        _sync_dags_folder()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DAG, "test", test_after_resync)


@pytest.fixture
def dag_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, str], Any]:
    """``dag_bundle(dag_id, source)``: write ``source`` as ``<dag_id>.py`` into a DAG bundle of this
    test's own (``dag.test()`` needs the DAG in a bundle to serialize it) and return its ``dag``."""
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

    def load(dag_id: str, source: str) -> Any:
        path = folder / f"{dag_id}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(f"_xentree_e2e_{dag_id}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.dag

    return load
