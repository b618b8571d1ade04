"""The generic condition trigger without HTTP: serialization, registry, deadline, one event, errors."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from xentree_provider.api.errors import XentreeError, XentreePermissionError, XentreeRateLimitError
from xentree_provider.triggers import conditions
from xentree_provider.triggers.condition import XentreeConditionTrigger, error_from_event, error_to_event

CALLS: list[dict[str, Any]] = []


async def met_on_third_call(hook: Any, *, key: str) -> tuple[bool, dict[str, Any]]:
    CALLS.append({"key": key})
    return len(CALLS) >= 3, {"calls": len(CALLS)}


async def never_met(hook: Any, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
    return False, {"kwargs": kwargs}


async def fails(hook: Any) -> tuple[bool, dict[str, Any]]:
    raise XentreePermissionError(
        "no live:read", status=403, code="INSUFFICIENT_API_KEY_SCOPE", required_scope="live:read"
    )


class _FakeHook:
    closed = 0

    async def aclose(self) -> None:
        type(self).closed += 1


class _Trigger(XentreeConditionTrigger):
    def _hook(self) -> Any:
        return _FakeHook()


def _events(trigger: XentreeConditionTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def test_serialize_is_primitive_and_round_trips() -> None:
    trigger = XentreeConditionTrigger(
        conn_id="xentree_default",
        condition="transcripts_in_window",
        condition_kwargs={"start": "2026-03-01T00:00:00Z", "end": None, "min_count": 2},
        poke_interval=30,
        deadline=1_900_000_000.5,
        hook_overrides={"max_retries": 3},
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "xentree_provider.triggers.condition.XentreeConditionTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    again = XentreeConditionTrigger(**kwargs)
    assert again.serialize() == (classpath, kwargs)


def test_polls_until_met_then_one_success_event() -> None:
    CALLS.clear()
    name = f"{__name__}.met_on_third_call"
    events = _events(_Trigger("c", name, {"key": "v"}, poke_interval=0, deadline=time.time() + 60))
    assert len(events) == 1
    assert events[0]["status"] == "success"
    assert events[0]["details"] == {"calls": 3}
    assert events[0]["polls"] == 3
    assert CALLS == [{"key": "v"}] * 3


def test_deadline_in_the_past_checks_once_then_times_out() -> None:
    events = _events(
        _Trigger("c", f"{__name__}:never_met", {"a": 1}, poke_interval=5, deadline=time.time() - 1)
    )
    assert [e["status"] for e in events] == ["timeout"]
    assert events[0]["polls"] == 1
    assert events[0]["details"] == {"kwargs": {"a": 1}}


def test_short_deadline_checks_again_at_the_deadline() -> None:
    events = _events(_Trigger("c", f"{__name__}.never_met", {}, poke_interval=60, deadline=time.time() + 0.2))
    assert [e["status"] for e in events] == ["timeout"]
    assert events[0]["polls"] == 2  # first check, then one more at the deadline (not 60 s later)


def test_error_event_rebuilds_the_error_type_and_closes_the_hook() -> None:
    before = _FakeHook.closed
    events = _events(_Trigger("c", f"{__name__}.fails", {}, poke_interval=0, deadline=None))
    assert [e["status"] for e in events] == ["error"]
    assert json.loads(json.dumps(events[0])) == events[0]
    error = error_from_event(events[0])
    assert isinstance(error, XentreePermissionError)
    assert error.status == 403 and error.required_scope == "live:read"
    assert "live:read" in str(error)
    assert _FakeHook.closed == before + 1


def test_unknown_condition_is_an_error_event() -> None:
    events = _events(_Trigger("c", "no_such_condition", {}, poke_interval=0))
    assert events[0]["status"] == "error"
    assert "unknown condition" in events[0]["message"]


def test_registry() -> None:
    assert "transcripts_in_window" in conditions.registered_conditions()
    assert conditions.get_condition("transcripts_in_window") is conditions.transcripts_in_window
    assert conditions.get_condition(f"{__name__}:never_met") is never_met
    with pytest.raises(ValueError, match="cannot import"):
        conditions.get_condition("xentree_provider.nope.check")
    with pytest.raises(ValueError, match="already registered"):
        conditions.register_condition("transcripts_in_window")(never_met)


def test_error_round_trip_for_plain_and_unknown_errors() -> None:
    payload = error_to_event(XentreeRateLimitError("slow down", status=429, retry_after=2.0))
    rebuilt = error_from_event(payload)
    assert type(rebuilt) is XentreeRateLimitError and rebuilt.retry_after == 2.0
    payload = error_to_event(RuntimeError("boom"))
    rebuilt = error_from_event(payload)
    assert type(rebuilt) is XentreeError and "boom" in str(rebuilt)
