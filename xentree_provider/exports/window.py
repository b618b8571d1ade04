"""A half-open time window in UTC, where an instant falls in it, and a list record's instant.

No I/O here. A :class:`TimeWindow` is ``[start, end)`` and says whether an instant is :data:`BEFORE`,
:data:`INSIDE` or :data:`AFTER` it; :func:`field_instant` reads a record's timestamp with a clear error.
Every export selects with these, so windows mean the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.api.timestamps import format_timestamp, parse_timestamp

__all__ = ["AFTER", "BEFORE", "INSIDE", "ONE_MICROSECOND", "TimeWindow", "field_instant"]

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


def field_instant(record: Mapping[str, Any], field: str) -> datetime:
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
