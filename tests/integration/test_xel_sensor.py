"""XentreeXELProgressSensor over real HTTP: poke, deferral through the shared trigger, both scopes."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from xentree_provider._compat import AirflowSensorTimeout, TaskDeferred
from xentree_provider.api.errors import XentreeNotFoundError
from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.sensors.english import XentreeXELProgressSensor
from xentree_provider.testing import SandboxServer
from xentree_provider.triggers.condition import XentreeConditionTrigger
from xentree_provider.triggers.conditions import get_condition
from xentree_provider.triggers.xel_conditions import XEL_PROGRESS_CONDITION, xel_progress_reached

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox(xentree_sandbox_clean: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """A clean sandbox; ``xentree_default`` logs in as Ada with her organization as the default."""
    org_id = xentree_sandbox_clean.credentials()["first_org_id"]
    monkeypatch.setenv(
        "AIRFLOW_CONN_XENTREE_DEFAULT", xentree_sandbox_clean.connection_env(organization_id=org_id)
    )
    return xentree_sandbox_clean


def _modules() -> list[dict[str, Any]]:
    return [dict(m) for m in XentreeHook().iter_modules()]


def _run_trigger(trigger: XentreeConditionTrigger) -> dict[str, Any]:
    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(first_event())


def test_condition_is_registered_and_importable() -> None:
    assert get_condition("xel_progress_reached") is xel_progress_reached
    assert get_condition(XEL_PROGRESS_CONDITION) is xel_progress_reached


def test_poke_overall_and_module(sandbox: SandboxServer) -> None:
    overall = float(XentreeHook().get_dashboard()["overall_progress_percent"])
    reached = XentreeXELProgressSensor(task_id="s1", threshold=str(overall))
    outcome = reached.poke({})  # type: ignore[arg-type]
    assert outcome.is_done
    assert outcome.xcom_value == {
        "met": True,
        "target": "overall",
        "progress_percent": overall,
        "threshold": overall,
    }
    assert not XentreeXELProgressSensor(task_id="s2", threshold=overall + 0.1).poke({}).is_done  # type: ignore[arg-type]

    modules = _modules()
    done = next(m for m in modules if m["status"] == "completed")
    partial = next(m for m in modules if m["status"] == "in_progress")
    assert XentreeXELProgressSensor(task_id="s3", module_id=done["id"]).poke({}).is_done  # type: ignore[arg-type]
    waiting = XentreeXELProgressSensor(task_id="s4", module_id=partial["id"]).poke({})  # type: ignore[arg-type]
    assert not waiting.is_done


def test_organization_average(sandbox: SandboxServer) -> None:
    sensor = XentreeXELProgressSensor(task_id="org", scope="organization", threshold=1)
    met, details = sensor.check(sensor.hook, **sensor.condition_kwargs({}))  # type: ignore[arg-type]
    assert met
    assert details["members"] == 250
    assert 1 <= details["progress_percent"] <= 100
    high = XentreeXELProgressSensor(task_id="org2", scope="organization", threshold=99.9)
    assert not high.poke({}).is_done  # type: ignore[arg-type]


def test_deferrable_waits_in_the_trigger_and_resumes(sandbox: SandboxServer) -> None:
    """Not met at first: the sensor defers; a task submitted meanwhile completes the module."""
    module = next(m for m in _modules() if m["status"] == "in_progress")
    sensor = XentreeXELProgressSensor(
        task_id="wait", module_id=module["id"], deferrable=True, poke_interval=0.2, timeout=60
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, XentreeConditionTrigger)
    assert trigger.serialize()[1]["condition"] == XEL_PROGRESS_CONDITION

    hook = XentreeHook()
    for task in hook.get_module(module["id"])["tasks"]:
        if not task["completed"]:
            hook.submit_task(task["id"], "My answer")
    event = _run_trigger(trigger)
    assert event["status"] == "success"
    result = sensor.execute_complete({}, event)  # type: ignore[arg-type]
    assert result["progress_percent"] == 100.0
    assert result["module_id"] == module["id"]


def test_deferrable_timeout_and_error(sandbox: SandboxServer) -> None:
    module = next(m for m in _modules() if m["status"] == "not_started")
    sensor = XentreeXELProgressSensor(
        task_id="late", module_id=module["id"], deferrable=True, poke_interval=0.1, timeout=60
    )
    trigger = sensor.make_trigger(sensor.condition_kwargs({}), deadline=time.time() + 0.3)  # type: ignore[arg-type]
    event = _run_trigger(trigger)
    assert event["status"] == "timeout"
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete({}, event)  # type: ignore[arg-type]

    missing = XentreeXELProgressSensor(task_id="gone", module_id="xm_missing", deferrable=True)
    error_event = _run_trigger(missing.make_trigger(missing.condition_kwargs({}), deadline=None))  # type: ignore[arg-type]
    assert error_event["status"] == "error"
    with pytest.raises(XentreeNotFoundError):
        missing.execute_complete({}, error_event)  # type: ignore[arg-type]


def test_organization_condition_in_the_trigger(sandbox: SandboxServer) -> None:
    sensor = XentreeXELProgressSensor(task_id="org", scope="organization", threshold=1, deferrable=True)
    event = _run_trigger(sensor.make_trigger(sensor.condition_kwargs({}), deadline=None))  # type: ignore[arg-type]
    assert event["status"] == "success"
    _, sync_details = sensor.check(sensor.hook, **sensor.condition_kwargs({}))  # type: ignore[arg-type]
    assert event["details"] == sync_details


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="module_id applies to scope='user'"):
        XentreeXELProgressSensor(task_id="x", scope="organization", module_id="m")
    with pytest.raises(ValueError, match="scope must be"):
        XentreeXELProgressSensor(task_id="x", scope="team")
    with pytest.raises(ValueError, match="between 0 and 100"):
        XentreeXELProgressSensor(task_id="x", threshold=150).condition_kwargs({})  # type: ignore[arg-type]
