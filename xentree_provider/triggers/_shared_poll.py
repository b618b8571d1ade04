"""Shared polls: the condition triggers of one connection and poke interval in one event loop read
each list (or record) once per interval, however many of them wait.

The triggerer runs every trigger in one event loop. Left alone, N triggers waiting on the same
transcript list make N identical reads per interval. Here the triggers that share a *poll key*
(trigger class, connection id, hook overrides, poke interval) join one :class:`PollGroup`, whose time
is cut into rounds of one interval each. A trigger checks its condition once per round through a
:class:`SharedReads` view: the first read of a given hook method and arguments in a round is made
once, by the group's own hook (a user of the pooled client, so still one login per connection), and
every other trigger of the round replays the same records in the same order, then applies its own
window and condition. So each trigger decides exactly what it would have decided on the same data
read alone; different arguments (another organization, page size or module) are different reads.

* A read's failure is kept and raised to every trigger that reaches it in that round.
* Reads run in their own tasks: cancelling one trigger never cancels a read others wait on.
* A trigger checks at once when it joins, in the group's current round: the records it judges were
  read within the last poke interval (no staler than what a trigger polling alone judges between
  two checks), then once per round with the others.
* When the last trigger leaves, the group closes its reads and its hook and is forgotten: nothing
  polls without a waiting trigger.

Conditions must treat the records they are given as read-only: they are shared.

This module imports no Airflow; the trigger supplies the hook factory.
"""

from __future__ import annotations

import asyncio
import json
import math
import weakref
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager, suppress
from typing import Any

from xentree_provider.api.routes import ROUTES

__all__ = ["PollGroup", "SharedReads", "join_poll_group", "open_poll_groups"]

#: Hook methods whose answer is a list (replayed record by record).
_STREAM_METHODS = frozenset({"iter_transcripts", "iter_member_progress", "iter_list"})
#: Hook methods whose answer is one value.
_VALUE_METHODS = frozenset({"get_dashboard", "get_module"})


def _read_key(method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
    return method, json.dumps([list(args), kwargs], sort_keys=True, default=repr)


class _ReplayedList:
    """One list read, fetched once and on demand, replayed to any number of readers.

    The source is advanced in a task of its own (one record at a time, as far as the furthest reader
    asks), so a reader's cancellation does not cancel the fetch. An error is kept and raised to each
    reader that reaches it.
    """

    def __init__(self, source: AsyncIterator[Any]) -> None:
        self._source = source
        self._items: list[Any] = []
        self._finished = False
        self._error: BaseException | None = None
        self._pending: asyncio.Task[Any] | None = None

    def _settle(self, task: asyncio.Task[Any]) -> None:
        self._pending = None
        if task.cancelled():
            self._error = asyncio.CancelledError("the shared read was closed")
            return
        error = task.exception()
        if error is None:
            self._items.append(task.result())
        elif isinstance(error, StopAsyncIteration):
            self._finished = True
        else:
            self._error = error

    async def _ensure(self, index: int) -> bool:
        """Make record ``index`` available; False when the list ended before it."""
        while index >= len(self._items):
            if self._error is not None:
                raise self._error
            if self._finished:
                return False
            if self._pending is None:
                self._pending = asyncio.ensure_future(self._source.__anext__())
                self._pending.add_done_callback(self._settle)
            await asyncio.wait([self._pending])
        return True

    async def reader(self) -> AsyncIterator[Any]:
        """The records, in the order the source gave them."""
        index = 0
        while await self._ensure(index):
            yield self._items[index]
            index += 1

    async def aclose(self) -> None:
        """Stop fetching and close the source."""
        if self._pending is not None:
            self._pending.cancel()
            with suppress(BaseException):
                await self._pending
        self._finished = True
        aclose = getattr(self._source, "aclose", None)
        if aclose is not None:
            with suppress(Exception):
                await aclose()


class _Round:
    """The reads of one round: each distinct (method, arguments) is made once."""

    def __init__(self, hook: Any, on_read: Callable[[], None]) -> None:
        self._hook = hook
        self._on_read = on_read
        self._lists: dict[Hashable, _ReplayedList] = {}
        self._values: dict[Hashable, asyncio.Task[Any]] = {}
        self.users = 0
        self.retired = False

    def stream(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        key = _read_key(method, args, kwargs)
        replay = self._lists.get(key)
        if replay is None:
            self._on_read()
            replay = self._lists[key] = _ReplayedList(getattr(self._hook, method)(*args, **kwargs))
        return replay.reader()

    async def value(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        key = _read_key(method, args, kwargs)
        task = self._values.get(key)
        if task is None:
            self._on_read()
            task = self._values[key] = asyncio.ensure_future(getattr(self._hook, method)(*args, **kwargs))
        await asyncio.wait([task])
        return task.result()

    async def aclose(self) -> None:
        for task in self._values.values():
            task.cancel()
        for task in self._values.values():
            with suppress(BaseException):
                await task
        for replay in self._lists.values():
            await replay.aclose()


class SharedReads:
    """What a condition gets instead of the hook in a shared round.

    The read methods conditions use (``iter_transcripts``, ``iter_member_progress``, ``iter_list``,
    ``get_dashboard``, ``get_module`` and ``call`` on a GET route) are shared with the round; anything
    else goes to the trigger's own hook.
    """

    def __init__(self, round_: _Round, own_hook: Any) -> None:
        self._round = round_
        self._own_hook = own_hook

    def __getattr__(self, name: str) -> Any:
        if name in _STREAM_METHODS:
            return lambda *args, **kwargs: self._round.stream(name, args, kwargs)
        if name in _VALUE_METHODS:
            return lambda *args, **kwargs: self._round.value(name, args, kwargs)
        return getattr(self._own_hook, name)

    async def call(self, route_name: str, **kwargs: Any) -> Any:
        """A GET route's answer is shared with the round; other methods call the own hook."""
        route = ROUTES.get(route_name)
        if route is not None and route.method == "GET":
            return await self._round.value("call", (route_name,), kwargs)
        return await self._own_hook.call(route_name, **kwargs)


class PollGroup:
    """The triggers of one poll key in one event loop, and their rounds of ``interval`` seconds."""

    def __init__(self, key: Hashable, interval: float, hook_factory: Callable[[], Any]) -> None:
        if interval <= 0:
            raise ValueError(f"a shared poll needs a positive interval, got {interval}")
        self.key = key
        self.interval = interval
        self._hook_factory = hook_factory
        self._hook: Any = None
        self._loop = asyncio.get_running_loop()
        self._anchor = self._loop.time()
        self._index = -1
        self._round: _Round | None = None
        self.members = 0
        self.reads = 0
        self.rounds = 0

    def _index_at(self, when: float) -> int:
        return math.floor((when - self._anchor) / self.interval)

    def first_round(self) -> int:
        """The round a newly joined trigger checks in: the current one, at once."""
        return self._index_at(self._loop.time())

    def next_round(self, after: int) -> int:
        """The round after ``after`` (or the current one, when the loop fell behind)."""
        return max(after + 1, self._index_at(self._loop.time()))

    def seconds_until(self, index: int) -> float:
        """Seconds from now until round ``index`` starts (0 when it has)."""
        return max(0.0, self._anchor + index * self.interval - self._loop.time())

    def _count_read(self) -> None:
        self.reads += 1

    @asynccontextmanager
    async def reads_for(self, index: int, own_hook: Any) -> AsyncIterator[SharedReads]:
        """``async with group.reads_for(index, hook) as reads``: the shared view of round ``index`` for
        one check (a round already past gives the latest round). A past round's reads are closed
        when its last check ends."""
        round_ = self._round
        if round_ is None or index > self._index:
            previous = round_
            if self._hook is None:
                self._hook = self._hook_factory()
            round_ = self._round = _Round(self._hook, self._count_read)
            self._index = index
            self.rounds += 1
            if previous is not None:
                await self._retire(previous)
        round_.users += 1
        try:
            yield SharedReads(round_, own_hook)
        finally:
            round_.users -= 1
            if round_.retired and not round_.users:
                await round_.aclose()

    async def _retire(self, round_: _Round) -> None:
        round_.retired = True
        if not round_.users:
            await round_.aclose()

    async def aclose(self) -> None:
        """Close every read and the group's hook."""
        round_, self._round = self._round, None
        if round_ is not None:
            round_.users = 0
            await self._retire(round_)
        hook, self._hook = self._hook, None
        if hook is not None:
            await hook.aclose()


_groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, PollGroup]] = (
    weakref.WeakKeyDictionary()
)


class _Membership:
    """``async with join_poll_group(...) as group``: one trigger's membership of a group."""

    def __init__(self, key: Hashable, interval: float, hook_factory: Callable[[], Any]) -> None:
        self._key = key
        self._interval = interval
        self._hook_factory = hook_factory
        self._group: PollGroup | None = None

    async def __aenter__(self) -> PollGroup:
        groups = _groups.setdefault(asyncio.get_running_loop(), {})
        group = groups.get(self._key)
        if group is None:
            group = groups[self._key] = PollGroup(self._key, self._interval, self._hook_factory)
        group.members += 1
        self._group = group
        return group

    async def __aexit__(self, *exc_info: object) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        group.members -= 1
        if group.members > 0:
            return
        groups = _groups.get(asyncio.get_running_loop(), {})
        if groups.get(group.key) is group:
            del groups[group.key]  # before any await: a trigger arriving now starts a fresh group
        await group.aclose()


def join_poll_group(key: Hashable, interval: float, hook_factory: Callable[[], Any]) -> _Membership:
    """Join (or start) the running loop's group for ``key``; leaving the last member closes it.

    :param key: what triggers must have in common to share reads (connection, overrides, interval).
    :param interval: seconds per round (the poke interval, > 0).
    :param hook_factory: builds the group's hook, on the first round.
    """
    return _Membership(key, interval, hook_factory)


def open_poll_groups() -> list[PollGroup]:
    """The poll groups open in the running loop (for tests and diagnostics)."""
    return list(_groups.get(asyncio.get_running_loop(), {}).values())
