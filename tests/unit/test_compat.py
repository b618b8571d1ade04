"""Every name of ``xentree_provider._compat`` resolves to what the running Airflow itself uses."""

from __future__ import annotations

import ast
import asyncio
import importlib
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from xentree_provider import _compat

EXCEPTION_NAMES = [
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "TaskDeferred",
]


@pytest.mark.parametrize("name", EXCEPTION_NAMES)
def test_each_exception_is_the_class_airflow_raises_and_catches(name: str) -> None:
    ours = getattr(_compat, name)
    # ``airflow.exceptions`` has them on 3.1 and re-exports the SDK's (deprecated) on 3.2+: one class.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        legacy = getattr(importlib.import_module("airflow.exceptions"), name)
    assert ours is legacy
    sdk_exceptions = importlib.import_module("airflow.sdk.exceptions")
    if hasattr(sdk_exceptions, name):
        assert ours is getattr(sdk_exceptions, name)


def test_the_fail_exception_is_an_airflow_exception() -> None:
    assert issubclass(_compat.AirflowFailException, _compat.AirflowException)
    assert issubclass(_compat.AirflowVersionError, _compat.AirflowFailException)


def _as_scheduled(timetable: Any) -> Any:
    """The timetable as the scheduler sees it: serialized with the DAG, then decoded."""
    try:
        from airflow.serialization.decoders import decode_timetable
        from airflow.serialization.encoders import encode_timetable
    except ImportError:  # Airflow 3.1
        from airflow.serialization.serialized_objects import decode_timetable, encode_timetable
    return decode_timetable(encode_timetable(timetable))


def test_cron_data_interval_timetable_gives_a_dag_daily_data_intervals() -> None:
    dag = DAG("compat_timetable", schedule=_compat.CronDataIntervalTimetable("0 0 * * *", timezone="UTC"))
    interval = _as_scheduled(dag.timetable).infer_manual_data_interval(
        run_after=datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    )
    assert (interval.start.isoformat(), interval.end.isoformat()) == (
        "2026-11-22T00:00:00+00:00",
        "2026-11-23T00:00:00+00:00",
    )


def test_conf_reads_the_running_airflows_configuration() -> None:
    # tests/conftest.py sets the DAGs folder through the environment before Airflow is imported.
    assert _compat.conf.get("core", "dags_folder") == os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    assert _compat.conf.getboolean("core", "load_examples") is False


def _redacted(secret: str) -> Any:
    from airflow.sdk._shared.secrets_masker import redact

    return redact(f"token={secret}")


def test_amask_secret_masks_at_once() -> None:
    secret = "compat-amask-5e1f2a9c"
    asyncio.run(_compat.amask_secret(secret))
    assert secret not in _redacted(secret)


def test_the_pre_sdk_1_3_twin_masks_locally_and_tells_the_supervisor_without_blocking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.comms import MaskSecret

    sent: list[Any] = []

    class AsyncOnlyComms:  # the triggerer's comms: only ``asend`` may be used on its event loop
        async def asend(self, message: Any) -> None:
            sent.append(message)

        def send(self, message: Any) -> None:
            raise AssertionError("the blocking send was used on the event loop")

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", AsyncOnlyComms(), raising=False)
    secret = "compat-twin-7d3b9e01"
    asyncio.run(_compat._amask_secret_before_sdk_1_3(secret))
    assert secret not in _redacted(secret)
    assert len(sent) == 1
    assert isinstance(sent[0], MaskSecret)
    assert sent[0].value == secret


def test_airflow_version_is_the_running_one() -> None:
    import airflow

    major, minor, micro = _compat.airflow_version()
    assert airflow.__version__.startswith(f"{major}.{minor}.{micro}")
    assert (major, minor) >= (3, 1)


def test_require_airflow_passes_on_the_running_version() -> None:
    major, minor, _micro = _compat.airflow_version()
    _compat.require_airflow(f"{major}.{minor}", "anything")
    _compat.require_airflow("3.1", "anything")


def test_require_airflow_fails_naming_the_feature_and_both_versions() -> None:
    import airflow

    with pytest.raises(_compat.AirflowVersionError) as caught:
        _compat.require_airflow("99.1", "the time machine")
    message = str(caught.value)
    assert "the time machine needs Apache Airflow 99.1 or newer" in message
    assert f"this is Airflow {airflow.__version__}" in message


def test_require_airflow_rejects_a_minimum_that_is_not_a_version() -> None:
    with pytest.raises(ValueError, match="not an Airflow version: 'latest'"):
        _compat.require_airflow("latest", "x")


#: Where only Airflow 3.2+ (or Task SDK 1.3+) has these names; everything imports them from _compat.
NEWER_ONLY = {
    "airflow.sdk.exceptions": None,  # any name: the module lacks most of them on 3.1
    "airflow.sdk.configuration": None,
    "airflow.sdk.log": {"amask_secret"},
    "airflow.sdk": {"CronDataIntervalTimetable"},
}


def _newer_only_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module in NEWER_ONLY:
            names = {alias.name for alias in node.names}
            watched = NEWER_ONLY[node.module]
            if watched is None or names & watched:
                found.append(
                    f"{path.name}:{node.lineno}: from {node.module} import {', '.join(sorted(names))}"
                )
    return found


def test_no_module_imports_a_moved_name_from_where_only_newer_airflow_has_it() -> None:
    import dags_examples
    import xentree_provider

    roots = [Path(xentree_provider.__file__).parent, Path(dags_examples.__file__).parent]
    found = [
        hit
        for root in roots
        for path in sorted(root.rglob("*.py"))
        if path.name != "_compat.py"
        for hit in _newer_only_imports(path)
    ]
    assert found == [], "import these from xentree_provider._compat (they moved between Airflow 3.1 and 3.3)"
