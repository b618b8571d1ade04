"""Window logic shared by the transcript sensor (sync poke), its trigger (async) and the export.

No Airflow and no I/O here: a :class:`TimeWindow` says where an instant falls, and a
:class:`WindowCount` is fed the records of a newest-first list one by one and says when paging can
stop, either because enough records were counted or because the list has moved past the window.
Both the sync and the async path feed the same counter, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.api.timestamps import format_timestamp, parse_timestamp

__all__ = [
    "AFTER",
    "BEFORE",
    "INSIDE",
    "TimeWindow",
    "WindowCount",
    "acount_in_window",
    "count_in_window",
    "record_instant",
]

BEFORE = -1
"""The instant is older than the window's start."""
INSIDE = 0
"""The instant is inside the window."""
AFTER = 1
"""The instant is at or after the window's end."""

ONE_MICROSECOND = timedelta(microseconds=1)


def _plain_utc(value: datetime, name: str) -> datetime:
    """``value`` as a standard-library datetime in UTC (pendulum and other subclasses normalised)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"window {name} {value!r} is naive: give a timezone (UTC)")
    utc = value.astimezone(timezone.utc)
    return datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=timezone.utc
    )


@dataclass(frozen=True)
class TimeWindow:
    """A half-open time window ``[start, end)`` in UTC; either bound may be open (None).

    :param start: first instant inside the window (inclusive), or None for no lower bound.
    :param end: first instant after the window (exclusive), or None for no upper bound.
    """

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _plain_utc(value, name))
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError(
                f"the window is empty: start {format_timestamp(self.start)} is not before "
                f"end {format_timestamp(self.end)}"
            )

    @classmethod
    def newer_than(cls, instant: datetime) -> TimeWindow:
        """The window of everything strictly newer than ``instant`` (API timestamps are in µs)."""
        return cls(start=_plain_utc(instant, "newer_than") + ONE_MICROSECOND)

    def position(self, instant: datetime) -> int:
        """:data:`BEFORE`, :data:`INSIDE` or :data:`AFTER` the window."""
        if self.start is not None and instant < self.start:
            return BEFORE
        if self.end is not None and instant >= self.end:
            return AFTER
        return INSIDE

    def __contains__(self, instant: object) -> bool:
        return isinstance(instant, datetime) and self.position(instant) == INSIDE

    def to_params(self) -> dict[str, str | None]:
        """Primitive form (ISO strings), e.g. for trigger kwargs and XCom."""
        return {
            "start": None if self.start is None else format_timestamp(self.start),
            "end": None if self.end is None else format_timestamp(self.end),
        }

    @classmethod
    def from_params(
        cls, start: str | datetime | None = None, end: str | datetime | None = None
    ) -> TimeWindow:
        """Inverse of :meth:`to_params`."""
        return cls(
            start=None if start is None else parse_timestamp(start),
            end=None if end is None else parse_timestamp(end),
        )

    def describe(self) -> str:
        """A short human-readable form, e.g. ``[2026-11-24T00:00:00Z, 2026-11-25T00:00:00Z)``."""
        params = self.to_params()
        return f"[{params['start'] or '-inf'}, {params['end'] or '+inf'})"


def record_instant(record: Mapping[str, Any], field: str = "session_started_at") -> datetime:
    """The timestamp ``field`` of a list record, parsed; a clear error if it is missing or garbled."""
    value = record.get(field)
    if not isinstance(value, str) or not value:
        raise XentreeResponseError(
            f"a list record has no {field!r} (got {value!r}; record id {record.get('id')!r})"
        )
    try:
        return parse_timestamp(value)
    except ValueError as error:
        raise XentreeResponseError(f"record {record.get('id')!r}: {error}") from None


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
