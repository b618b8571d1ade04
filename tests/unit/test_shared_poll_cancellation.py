"""Shared polls without HTTP, for what the sandbox cannot stage: a trigger cancelled while the read it
started is in flight, and the read's hook and tasks closed when the last trigger leaves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from xentree_provider.triggers._shared_poll import open_poll_groups
from xentree_provider.triggers.condition import XentreeConditionTrigger

ENTERED: list[str] = []


async def first_record(hook: Any, *, who: str) -> tuple[bool, dict[str, Any]]:
    ENTERED.append(who)
    async with aclosing(hook.iter_transcripts(page_size=2)) as records:
        async for record in records:
            return True, {"id": record["id"], "who": who}
    return False, {"who": who}


class _GatedHook:
    """Its list read waits for ``release``; counts reads and closes."""

    release: asyncio.Event
    reads = 0
    closed = 0

    async def _records(self) -> AsyncIterator[dict[str, Any]]:
        type(self).reads += 1
        await type(self).release.wait()
        yield {"id": "t-1"}
        yield {"id": "t-2"}

    def iter_transcripts(self, *, page_size: int) -> AsyncIterator[dict[str, Any]]:
        return self._records()

    async def aclose(self) -> None:
        type(self).closed += 1


class _Trigger(XentreeConditionTrigger):
    def _hook(self) -> Any:
        return _GatedHook()


def test_cancelling_the_trigger_that_started_a_read_does_not_break_the_others() -> None:
    async def scenario() -> list[dict[str, Any]]:
        ENTERED.clear()
        _GatedHook.release = asyncio.Event()
        _GatedHook.reads = _GatedHook.closed = 0
        name = f"{__name__}.first_record"
        first, second, third = (
            _Trigger("c", name, {"who": who}, poke_interval=3600) for who in ("a", "b", "c")
        )
        task_a = asyncio.create_task(anext(aiter(first.run())))
        while ENTERED != ["a"] or _GatedHook.reads != 1:
            await asyncio.sleep(0)
        others = [asyncio.create_task(anext(aiter(t.run()))) for t in (second, third)]
        while len(ENTERED) < 3:
            await asyncio.sleep(0)
        task_a.cancel()
        await asyncio.gather(task_a, return_exceptions=True)
        assert task_a.cancelled()
        _GatedHook.release.set()
        events = [event.payload for event in await asyncio.gather(*others)]
        assert open_poll_groups() == []
        return events

    events = asyncio.run(scenario())
    assert events == [
        {"condition": f"{__name__}.first_record", "status": "success", "details": d, "polls": 1}
        for d in ({"id": "t-1", "who": "b"}, {"id": "t-1", "who": "c"})
    ]
    assert _GatedHook.reads == 1  # one read for the three, made by the group's own hook
    assert _GatedHook.closed == 4  # each trigger's hook and the group's


def test_opting_out_or_a_zero_interval_reads_alone() -> None:
    async def scenario(**options: Any) -> int:
        ENTERED.clear()
        _GatedHook.release = asyncio.Event()
        _GatedHook.release.set()
        _GatedHook.reads = 0
        name = f"{__name__}.first_record"
        triggers = [_Trigger("c", name, {"who": str(i)}, **options) for i in range(3)]
        await asyncio.gather(*(anext(aiter(t.run())) for t in triggers))
        return _GatedHook.reads

    assert asyncio.run(scenario(poke_interval=60)) == 1
    assert asyncio.run(scenario(poke_interval=60, share_polls=False)) == 3
    assert asyncio.run(scenario(poke_interval=0)) == 3
