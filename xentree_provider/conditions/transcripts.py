"""The transcript condition: at least N Live transcripts in a time window.

A :class:`WindowCount` is fed the records of a newest-first list one by one and says when paging can
stop, either because enough records were counted or because the list has moved past the window.
The sensor's sync poke (:func:`count_in_window`) and the trigger's async check
(:func:`acount_in_window`, inside :func:`transcripts_in_window`) feed the same counter, so they
cannot disagree.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from contextlib import aclosing
from datetime import datetime
from typing import Any, Protocol

from xentree_provider.api.timestamps import format_timestamp
from xentree_provider.conditions.registry import register_condition
from xentree_provider.transcripts.selection import BEFORE, INSIDE, TimeWindow, record_instant

__all__ = [
    "AsyncTranscriptLister",
    "WindowCount",
    "acount_in_window",
    "count_in_window",
    "transcripts_in_window",
]


class AsyncTranscriptLister(Protocol):
    """What the transcript condition needs of the async client (``XentreeAsyncHook`` has it)."""

    def iter_transcripts(self, *, page_size: int = ...) -> AsyncIterator[Any]:
        """Every transcript, newest first, without turns."""
        ...


class WindowCount:
    """Counts the records of a newest-first list that fall in a window, and says when to stop.

    Feed records in list order with :meth:`feed`; it returns True when no more records are needed:
    ``min_count`` records were counted (``met``), or a record older than the window arrived (the rest
    of the list is older still).

    :param window: the time window.
    :param min_count: how many records in the window satisfy the condition (>= 1).
    :param field: the timestamp field of each record.
    """

    def __init__(self, window: TimeWindow, min_count: int = 1, field: str = "session_started_at") -> None:
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        self.window = window
        self.min_count = min_count
        self.field = field
        self.count = 0
        self.scanned = 0
        self.newest_in_window: datetime | None = None
        self.passed_window = False

    @property
    def met(self) -> bool:
        """Whether at least ``min_count`` records were counted."""
        return self.count >= self.min_count

    def feed(self, record: Mapping[str, Any]) -> bool:
        """Account for one record; return True when paging can stop."""
        self.scanned += 1
        instant = record_instant(record, self.field)
        position = self.window.position(instant)
        if position == BEFORE:
            self.passed_window = True
            return True
        if position == INSIDE:
            self.count += 1
            if self.newest_in_window is None or instant > self.newest_in_window:
                self.newest_in_window = instant
        return self.met

    def result(self) -> dict[str, Any]:
        """A small JSON-able summary (what the sensor returns and the trigger event carries)."""
        return {
            "met": self.met,
            "count": self.count,
            "min_count": self.min_count,
            "scanned": self.scanned,
            "window": self.window.to_params(),
            "newest_in_window": (
                None if self.newest_in_window is None else format_timestamp(self.newest_in_window)
            ),
        }


def count_in_window(records: Iterable[Mapping[str, Any]], counter: WindowCount) -> WindowCount:
    """Feed ``records`` (a lazy newest-first iterator) to ``counter`` until it says stop."""
    for record in records:
        if counter.feed(record):
            break
    return counter


async def acount_in_window(records: AsyncIterable[Mapping[str, Any]], counter: WindowCount) -> WindowCount:
    """Async twin of :func:`count_in_window`."""
    async for record in records:
        if counter.feed(record):
            break
    return counter


@register_condition("transcripts_in_window")
async def transcripts_in_window(
    hook: AsyncTranscriptLister,
    *,
    start: str | None = None,
    end: str | None = None,
    min_count: int = 1,
    page_size: int = 100,
) -> tuple[bool, dict[str, Any]]:
    """At least ``min_count`` Live transcripts started in ``[start, end)`` (ISO timestamps or None).

    Reads the newest-first list only as far as needed: it stops once enough are counted or once the
    list is older than the window.
    """
    counter = WindowCount(TimeWindow.from_params(start, end), min_count)
    async with aclosing(hook.iter_transcripts(page_size=page_size)) as records:  # type: ignore[type-var]
        await acount_in_window(records, counter)
    return counter.met, counter.result()
