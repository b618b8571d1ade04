"""Per-item detail fetched concurrently, handed over in the order asked for, with bounded memory.

An export first selects the items of a window (cheap list records), sorts them, then fetches each
item's detail (one or more requests) with a thread pool: at most ``max_workers`` fetches run at once
and at most ``max_workers * READ_AHEAD_PER_WORKER`` results wait for the writer, whatever order the
fetches finish in. Before each fetch the caller asks its :class:`FetchConcurrency` for a slot, the one
place where the pace of fetches is decided (the hook's adaptive throttle is one).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from itertools import islice
from typing import Protocol, TypeVar

__all__ = [
    "MAX_WORKERS_LIMIT",
    "READ_AHEAD_PER_WORKER",
    "FetchConcurrency",
    "FixedConcurrency",
    "fetch_in_order",
]

MAX_WORKERS_LIMIT = 32  # the hook's connection pool size
READ_AHEAD_PER_WORKER = 16

_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


class FetchConcurrency(Protocol):
    """Decides when a fetch may start: the exporter enters ``slot()`` around each fetch."""

    def slot(self) -> AbstractContextManager[object]:
        """Block until one more fetch may run; the fetch runs inside the returned context."""
        ...


class FixedConcurrency:
    """At most ``limit`` fetches at once (the exporter's own thread count, when it is the same)."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"the concurrency limit must be at least 1, got {limit}")
        self.limit = limit
        self._semaphore = threading.BoundedSemaphore(limit)

    def slot(self) -> AbstractContextManager[object]:
        """A slot of the semaphore."""
        return self._semaphore


def fetch_in_order(
    keys: Iterable[_Key],
    fetch: Callable[[_Key], _Value],
    *,
    max_workers: int,
    thread_name_prefix: str = "xentree-export",
) -> Iterator[tuple[_Key, _Value]]:
    """Yield ``(key, fetch(key))`` in the order of ``keys``, fetching ahead on ``max_workers`` threads.

    An exception of a fetch is raised when its turn comes; fetches not started yet are cancelled when
    the caller stops reading.
    """
    ahead = max_workers * READ_AHEAD_PER_WORKER
    todo = iter(keys)
    pending: deque[tuple[_Key, Future[_Value]]] = deque()
    with ThreadPoolExecutor(max_workers, thread_name_prefix=thread_name_prefix) as pool:
        try:
            for key in islice(todo, ahead):
                pending.append((key, pool.submit(fetch, key)))
            while pending:
                key, future = pending.popleft()
                value = future.result()
                for following in islice(todo, 1):
                    pending.append((following, pool.submit(fetch, following)))
                yield key, value
        finally:
            for _, future in pending:
                future.cancel()
