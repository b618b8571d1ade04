"""XentreeTranscriptSensor and its trigger over real HTTP: poke, deferral, and the trigger driven directly."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from xentree_provider._compat import AirflowSensorTimeout, AirflowSkipException, TaskDeferred
from xentree_provider.api.errors import XentreeConfigError, XentreePermissionError
from xentree_provider.api.timestamps import parse_timestamp
from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.sensors.live import XentreeTranscriptSensor
from xentree_provider.testing import SandboxServer
from xentree_provider.triggers import condition as condition_module
from xentree_provider.triggers.condition import XentreeConditionTrigger

pytestmark = pytest.mark.integration

ANCHOR = datetime(2026, 3, 1, tzinfo=timezone.utc)
DAY = {"data_interval_start": ANCHOR - timedelta(days=2), "data_interval_end": ANCHOR - timedelta(days=1)}
CONN_ENV = "AIRFLOW_CONN_XENTREE_DEFAULT"


@pytest.fixture
def world(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    sandbox.reset(anchor=ANCHOR.date().isoformat())
    monkeypatch.setenv(CONN_ENV, sandbox.connection_env())
    return sandbox


def day_count() -> int:
    hook = XentreeHook()
    start, end = DAY["data_interval_start"], DAY["data_interval_end"]
    from xentree_provider.api.timestamps import parse_timestamp

    count = sum(
        1
        for t in hook.iter_transcripts(page_size=200)
        if start <= parse_timestamp(t["session_started_at"]) < end
    )
    hook.close()
    return count


def run_trigger(trigger: XentreeConditionTrigger) -> list[dict[str, Any]]:
    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def sensor(**kwargs: Any) -> XentreeTranscriptSensor:
    kwargs.setdefault("task_id", "wait")
    kwargs.setdefault("poke_interval", 0.1)
    kwargs.setdefault("timeout", 30)
    return XentreeTranscriptSensor(**kwargs)


# -- poke mode ------------------------------------------------------------------------------------


def test_poke_mode_returns_the_count_when_met(world):
    total = day_count()
    world.reset_counters()
    result = sensor(min_count=total, deferrable=False).execute(dict(DAY))
    assert result["met"] is True
    assert result["count"] == total
    assert result["window"] == {"start": "2026-02-27T00:00:00Z", "end": "2026-02-28T00:00:00Z"}
    assert world.counters()["requests"]["GET /api/live/transcripts"] <= 3  # stops past the window


def test_poke_mode_times_out_and_soft_fails(world):
    with pytest.raises(AirflowSensorTimeout):
        sensor(min_count=10_000, timeout=0.3, deferrable=False).execute(dict(DAY))
    with pytest.raises(AirflowSkipException):
        sensor(min_count=10_000, timeout=0.3, soft_fail=True, deferrable=False).execute(dict(DAY))


def test_newer_than_waits_for_a_new_transcript(world):
    now = datetime.now(timezone.utc)
    waiting = sensor(newer_than=now.isoformat(), timeout=60, deferrable=False)

    def save_later() -> None:
        time.sleep(0.5)
        XentreeHook().save_transcript(now + timedelta(seconds=1), now + timedelta(seconds=5), [])

    thread = threading.Thread(target=save_later)
    thread.start()
    result = waiting.execute({})
    thread.join()
    assert result["count"] == 1
    with pytest.raises(XentreeConfigError, match="either newer_than"):
        sensor(newer_than=now.isoformat(), start="2026-01-01").execute({})


def test_manual_run_without_interval_needs_a_window(world):
    world.reset_counters()
    with pytest.raises(XentreeConfigError, match="no data interval"):
        sensor(deferrable=False).execute({"data_interval_start": None, "data_interval_end": None})
    assert world.counters()["requests_total"] == 0


# -- deferrable: check first, then defer ----------------------------------------------------------


def test_deferrable_returns_without_deferring_when_already_met(world):
    result = sensor(min_count=3, deferrable=True).execute(dict(DAY))
    assert result["met"] is True and result["count"] == 3


def test_deferrable_defers_with_a_primitive_trigger_and_an_absolute_deadline(world):
    before = time.time()
    waiting = sensor(min_count=10_000, deferrable=True, timeout=120, poke_interval=5)
    with pytest.raises(TaskDeferred) as deferred:
        waiting.execute(dict(DAY))
    trigger = deferred.value.trigger
    assert deferred.value.method_name == "execute_complete"
    classpath, kwargs = trigger.serialize()
    assert classpath == "xentree_provider.triggers.condition.XentreeConditionTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs["condition"] == "transcripts_in_window"
    assert kwargs["condition_kwargs"] == {
        "start": "2026-02-27T00:00:00Z",
        "end": "2026-02-28T00:00:00Z",
        "min_count": 10_000,
        "page_size": 100,
    }
    assert before + 120 <= kwargs["deadline"] <= time.time() + 120
    assert kwargs["poke_interval"] == 5


def test_execute_complete_handles_every_event(world):
    waiting = sensor(min_count=1)
    assert waiting.execute_complete({}, {"status": "success", "details": {"count": 2}}) == {"count": 2}
    with pytest.raises(AirflowSensorTimeout, match="not met"):
        waiting.execute_complete({}, {"status": "timeout", "message": "not met"})
    error_event = {
        "status": "error",
        "message": "no scope",
        "error_type": "XentreePermissionError",
        "error_state": {"status": 403, "required_scope": "live:read", "message": "no scope"},
    }
    with pytest.raises(XentreePermissionError) as caught:
        waiting.execute_complete({}, error_event)
    assert caught.value.required_scope == "live:read"
    with pytest.raises(Exception, match="unexpected event"):
        waiting.execute_complete({}, {"status": "weird"})


# -- the trigger driven directly, over real HTTP ---------------------------------------------------


def test_trigger_success_event(world):
    trigger = sensor(min_count=5).make_trigger(
        {"start": "2026-02-27T00:00:00Z", "end": "2026-02-28T00:00:00Z", "min_count": 5, "page_size": 100},
        deadline=time.time() + 30,
    )
    events = run_trigger(trigger)
    assert len(events) == 1
    assert events[0]["status"] == "success"
    assert events[0]["details"]["count"] == 5


def test_trigger_times_out_at_its_deadline(world, monkeypatch):
    # However long a loaded machine takes over the check at the deadline, it finishes and its count
    # goes in the event (the bound on a late check is not what this test is about).
    monkeypatch.setattr(condition_module, "LAST_CHECK_SECONDS", 300.0)
    trigger = XentreeConditionTrigger(
        conn_id="xentree_default",
        condition="transcripts_in_window",
        condition_kwargs={
            "start": "2026-02-27T00:00:00Z",
            "end": "2026-02-28T00:00:00Z",
            "min_count": 10_000,
        },
        poke_interval=0.1,
        deadline=time.time() + 0.5,
    )
    deadline = trigger.deadline
    events = run_trigger(trigger)
    assert [e["status"] for e in events] == ["timeout"]
    assert events[0]["details"]["count"] == day_count()
    # Not a count of polls within 0.5 s: a loaded machine may manage one. The event comes after the
    # deadline, having checked at least once.
    assert events[0]["polls"] >= 1
    assert time.time() >= deadline


def test_trigger_waits_for_a_new_transcript(world):
    now = datetime.now(timezone.utc)
    trigger = XentreeConditionTrigger(
        conn_id="xentree_default",
        condition="transcripts_in_window",
        condition_kwargs={"start": (now + timedelta(microseconds=1)).isoformat(), "min_count": 1},
        poke_interval=0.2,
        deadline=time.time() + 60,
    )

    def save_later() -> None:
        # After the trigger's first poll has been answered (not after a fixed delay, which a loaded
        # machine may outlast before polling at all): the second poll or a later one finds it.
        give_up_at = time.monotonic() + 60
        while world.counters()["requests"].get("GET /api/live/transcripts", 0) < 1:
            if time.monotonic() > give_up_at:
                break
            time.sleep(0.05)
        XentreeHook().save_transcript(now + timedelta(seconds=2), now + timedelta(seconds=9), [])

    thread = threading.Thread(target=save_later)
    thread.start()
    events = run_trigger(trigger)
    thread.join()
    assert [e["status"] for e in events] == ["success"]
    assert events[0]["polls"] >= 2


def test_trigger_uses_the_same_retry_policy_and_token_refresh(world, monkeypatch):
    world.reset(anchor=ANCHOR.date().isoformat(), token_lifetime=2, rotate_refresh=True)
    monkeypatch.setenv(CONN_ENV, world.connection_env(max_retries=10))
    hook = XentreeHook()
    since = datetime(2026, 2, 27, tzinfo=timezone.utc)
    present = sum(
        1 for t in hook.iter_transcripts(page_size=200) if parse_timestamp(t["session_started_at"]) >= since
    )
    hook.close()
    world.set_faults(error_rate=0.2, reset_rate=0.05, rate_limit_rps=20, rate_limit_burst=3)
    trigger = XentreeConditionTrigger(
        conn_id="xentree_default",
        condition="transcripts_in_window",
        condition_kwargs={"start": "2026-02-27T00:00:00Z", "min_count": present + 1, "page_size": 50},
        poke_interval=0.1,
        deadline=time.time() + 120,  # only if the trigger gave up: it must ride everything out
    )
    seen: dict[str, Any] = {}

    def meet_the_condition_once_everything_happened() -> None:
        # Not after a fixed time, which a loaded machine may outlast before the trigger met any of it:
        # once the trigger's polls met injected errors, 429s and a token refresh, a new transcript
        # meets its condition and it stops.
        give_up_at = time.monotonic() + 110
        while time.monotonic() < give_up_at:
            counters = world.counters()
            errors, throttled = counters["faults"].get("error", 0), counters["responses"].get("429", 0)
            if errors and throttled and counters["refreshes"] >= 1:
                seen.update(counters)
                break
            time.sleep(0.1)
        world.clear_faults()
        hook = XentreeHook()
        hook.save_transcript(datetime.now(timezone.utc), datetime.now(timezone.utc), [])
        hook.close()

    helper = threading.Thread(target=meet_the_condition_once_everything_happened)
    helper.start()
    events = run_trigger(trigger)
    helper.join()
    assert [e["status"] for e in events] == ["success"], events
    assert seen, "the trigger's polls never met an injected error, a 429 and a token refresh"
    assert events[0]["polls"] >= 2


def test_trigger_error_event_for_a_key_without_the_scope(world, monkeypatch):
    monkeypatch.setenv(CONN_ENV, world.connection_env("orgs_read"))
    trigger = sensor(min_count=1).make_trigger(
        {"start": None, "end": None, "min_count": 1, "page_size": 10}, deadline=None
    )
    events = run_trigger(trigger)
    assert [e["status"] for e in events] == ["error"]
    assert events[0]["error_type"] == "XentreePermissionError"
    credentials = world.issued_secrets()["all"]
    assert not any(secret in json.dumps(events) for secret in credentials)
    with pytest.raises(XentreePermissionError, match="live:read"):
        sensor(min_count=1).execute_complete({}, events[0])
