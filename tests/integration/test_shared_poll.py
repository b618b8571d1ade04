"""Shared polls over real HTTP: condition triggers of one connection read each list once per round,
decide exactly as they would alone, share failures, and do not share across connections or params."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from xentree_provider.conditions.transcripts import transcripts_in_window
from xentree_provider.testing import SandboxServer
from xentree_provider.triggers._shared_poll import open_poll_groups
from xentree_provider.triggers.condition import XentreeConditionTrigger

pytestmark = pytest.mark.integration

ANCHOR = datetime(2026, 3, 1, tzinfo=timezone.utc)
LIST = "GET /api/live/transcripts"
CHECKS: list[dict[str, Any]] = []


async def recorded_transcripts(hook: Any, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
    """``transcripts_in_window`` that also records each check (so a test can wait for N checks)."""
    met, details = await transcripts_in_window(hook, **kwargs)
    CHECKS.append(details)
    return met, details


RECORDED = f"{__name__}.recorded_transcripts"


@pytest.fixture
def world(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    sandbox.reset(anchor=ANCHOR.date().isoformat())
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", sandbox.connection_env())
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_OTHER", sandbox.connection_env())
    CHECKS.clear()
    sandbox.reset_counters()
    return sandbox


def window(days_back: int, days: int = 1) -> dict[str, str]:
    start = ANCHOR - timedelta(days=days_back)
    return {
        "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": (start + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# Windows the sensors of several DAG runs wait on: met, met only with many, never met (after the data).
KWARGS = [
    {**window(2), "min_count": 1, "page_size": 20},
    {**window(3), "min_count": 2, "page_size": 20},
    {**window(10, days=5), "min_count": 10_000, "page_size": 20},
    {**window(-30), "min_count": 1, "page_size": 20},
    {**window(6), "min_count": 3, "page_size": 20},
]


def trigger(kwargs: dict[str, Any], **options: Any) -> XentreeConditionTrigger:
    options.setdefault("poke_interval", 3600.0)
    options.setdefault("deadline", 0.0)  # past: one check, then success or timeout
    return XentreeConditionTrigger(
        conn_id=options.pop("conn_id", "xentree_default"),
        condition=options.pop("condition", RECORDED),
        condition_kwargs=kwargs,
        **options,
    )


async def run_all(triggers: list[XentreeConditionTrigger]) -> list[dict[str, Any]]:
    async def first_event(one: XentreeConditionTrigger) -> dict[str, Any]:
        async for event in one.run():
            return dict(event.payload)
        raise AssertionError("no event")

    events = await asyncio.gather(*(first_event(one) for one in triggers))
    assert open_poll_groups() == []  # the last trigger out closed the group
    return list(events)


def list_reads(world: SandboxServer) -> int:
    return int(world.counters()["requests"].get(LIST, 0))


def test_triggers_of_one_connection_share_reads_and_decide_as_alone(world):
    alone_events, alone_reads = [], []
    for kwargs in KWARGS:
        world.reset_counters()
        alone_events += asyncio.run(run_all([trigger(kwargs, share_polls=False)]))
        alone_reads.append(list_reads(world))

    world.reset_counters()
    shared_events = asyncio.run(run_all([trigger(kwargs) for kwargs in KWARGS]))

    assert shared_events == alone_events
    assert {e["status"] for e in shared_events} == {"success", "timeout"}
    # The pages are read once, as far as the most demanding trigger needs them.
    assert list_reads(world) == max(alone_reads) < sum(alone_reads)
    assert world.counters()["logins"] == 1


def test_many_waiting_triggers_make_one_read_per_round(world):
    never = {**window(-30), "min_count": 1, "page_size": 20}
    count, rounds_wanted = 40, 3

    async def scenario() -> tuple[int, int]:
        triggers = [trigger(never, poke_interval=0.05, deadline=None) for _ in range(count)]
        tasks = [asyncio.create_task(anext(aiter(one.run()))) for one in triggers]
        while len(CHECKS) < count * rounds_wanted:
            await asyncio.sleep(0.01)
        (group,) = open_poll_groups()
        members = group.members
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert open_poll_groups() == []
        return group.rounds, members

    rounds, members = asyncio.run(scenario())
    assert members == count
    assert rounds >= rounds_wanted
    # Each round is one read of the first page, whichever of the 40 triggers came first; checks of a
    # round that started while a trigger lagged join that round (no read of their own). The last
    # round's read may have been cut by the cancellation before it was sent.
    assert rounds - 1 <= list_reads(world) <= rounds
    assert world.counters()["logins"] == 1


def test_a_failed_read_reaches_every_trigger_of_the_round(world):
    world.set_faults(error_rate=1.0, error_codes=(400,), fault_routes=["/api/live/transcripts"])
    try:
        events = asyncio.run(run_all([trigger(kwargs) for kwargs in KWARGS]))
    finally:
        world.clear_faults()
    assert [e["status"] for e in events] == ["error"] * len(KWARGS)
    assert len({(e["error_type"], e["error_state"].get("status")) for e in events}) == 1
    assert events[0]["error_state"]["status"] == 400
    assert list_reads(world) == 1


@pytest.mark.parametrize(
    "vary",
    [
        pytest.param(lambda i: {"conn_id": ("xentree_default", "xentree_other")[i % 2]}, id="connection"),
        pytest.param(lambda i: {"poke_interval": (3600.0, 1800.0)[i % 2]}, id="interval"),
        pytest.param(lambda i: {"hook_overrides": ({}, {"max_retries": 1})[i % 2]}, id="overrides"),
    ],
)
def test_different_connections_intervals_or_overrides_do_not_share(
    world: SandboxServer, vary: Callable[[int], dict[str, Any]]
) -> None:
    never = {**window(-30), "min_count": 1, "page_size": 20}
    events = asyncio.run(run_all([trigger(never, **vary(i)) for i in range(6)]))
    assert [e["status"] for e in events] == ["timeout"] * 6
    assert list_reads(world) == 2


def test_different_params_are_different_reads(world):
    reads = [{**window(-30), "min_count": 1, "page_size": size} for size in (10, 20, 20, 10, 30)]
    asyncio.run(run_all([trigger(kwargs) for kwargs in reads]))
    assert list_reads(world) == 3


def test_xel_triggers_share_the_dashboard_and_module_reads(world):
    from xentree_provider.conditions.xel import XEL_PROGRESS_CONDITION

    modules = [m["id"] for m in _modules(world)][:2]
    kwargs = [{"scope": "user", "threshold": 101}] * 3 + [
        {"scope": "user", "threshold": 101, "module_id": module_id} for module_id in modules for _ in range(2)
    ]
    world.reset_counters()
    events = asyncio.run(run_all([trigger(k, condition=XEL_PROGRESS_CONDITION) for k in kwargs]))
    assert [e["status"] for e in events] == ["timeout"] * len(kwargs)
    requests = world.counters()["requests"]
    assert requests.get("GET /api/xel/dashboard") == 1
    assert sum(v for k, v in requests.items() if k.startswith("GET /api/xel/modules/")) == len(modules)


def _modules(world: SandboxServer) -> list[dict[str, Any]]:
    from xentree_provider.hooks.xentree import XentreeHook

    hook = XentreeHook()
    try:
        return [dict(m) for m in hook.iter_modules()]
    finally:
        hook.close()
