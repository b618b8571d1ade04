"""Which transcripts a time window selects: the window, where an instant falls, a record's instant.

No Airflow and no I/O here. A :class:`TimeWindow` is half-open ``[start, end)`` in UTC and says
whether an instant is :data:`BEFORE`, :data:`INSIDE` or :data:`AFTER` it; :func:`record_instant`
reads a list record's timestamp with a clear error. The exporter
(:mod:`xentree_provider.transcripts.exporter`) and the transcript condition
(:mod:`xentree_provider.conditions.transcripts`) both select with these, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.api.timestamps import format_timestamp, parse_timestamp

__all__ = [
    "AFTER",
    "BEFORE",
    "DEFAULT_MAX_ARRIVAL_LAG",
    "INSIDE",
    "LAG_WARNING_SHARE",
    "SKIP",
    "STOP",
    "TAKE",
    "WINDOW_FIELDS",
    "Selection",
    "TimeWindow",
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


WINDOW_FIELDS = ("session_started_at", "created_at")
"""What a window may be applied to: when the session started, or when the transcript was saved."""
DEFAULT_MAX_ARRIVAL_LAG = timedelta(hours=48)
LAG_WARNING_SHARE = 0.8
"""A transcript saved later than this share of ``max_arrival_lag`` after its session is warned about."""

TAKE = "take"
"""The record is in the selection."""
SKIP = "skip"
"""The record is not in the selection; newer-listed or older-listed ones may be."""
STOP = "stop"
"""The record, and every record listed after it, is older than anything the selection can hold."""


@dataclass(frozen=True)
class Selection:
    """Which transcripts of the newest-first list (ordered by ``session_started_at``) an export takes.

    * ``field="session_started_at"``: the transcripts whose session started in the window; reading
      stops at the first one that started before the window.
    * ``field="created_at"``: the transcripts saved in the window, so that consecutive windows take
      every transcript exactly once whenever it is saved. As the list is ordered by session start, reading
      goes on until sessions started before ``window.start - max_arrival_lag``: a transcript saved more
      than ``max_arrival_lag`` after its session started would be missed (and is warned about from
      :data:`LAG_WARNING_SHARE` of it on).

    In both cases a transcript is assumed to be saved after its session started, so records whose
    session started at or after ``window.end`` are never taken (:attr:`upper_bound`).

    :param window: the half-open window.
    :param field: one of :data:`WINDOW_FIELDS`.
    :param max_arrival_lag: how long after its session a transcript may be saved (``created_at`` only).
    """

    window: TimeWindow
    field: str = "session_started_at"
    max_arrival_lag: timedelta = DEFAULT_MAX_ARRIVAL_LAG

    def __post_init__(self) -> None:
        if self.field not in WINDOW_FIELDS:
            raise ValueError(f"window_field must be one of {', '.join(WINDOW_FIELDS)}, got {self.field!r}")
        if not isinstance(self.max_arrival_lag, timedelta) or self.max_arrival_lag <= timedelta(0):
            raise ValueError(f"max_arrival_lag must be a positive timedelta, got {self.max_arrival_lag!r}")

    @property
    def by_arrival(self) -> bool:
        """Whether the window applies to ``created_at``."""
        return self.field == "created_at"

    @property
    def upper_bound(self) -> datetime | None:
        """Records whose session started at or after this are never taken (None: no bound)."""
        return self.window.end

    @property
    def lower_bound(self) -> datetime | None:
        """Reading stops at the first record whose session started before this (None: read all)."""
        if self.window.start is None:
            return None
        return self.window.start - self.max_arrival_lag if self.by_arrival else self.window.start

    def classify(self, record: Mapping[str, Any]) -> tuple[str, datetime]:
        """:data:`TAKE`, :data:`SKIP` or :data:`STOP` for one list record, and its instant in the window."""
        started = record_instant(record)
        lower = self.lower_bound
        if lower is not None and started < lower:
            return STOP, started
        if not self.by_arrival:
            return (TAKE if self.window.position(started) == INSIDE else SKIP), started
        created = record_instant(record, "created_at")
        return (TAKE if self.window.position(created) == INSIDE else SKIP), created

    def late_arrival(self, record: Mapping[str, Any]) -> timedelta | None:
        """How late ``record`` was saved after its session started, when that is close to (or past)
        ``max_arrival_lag`` (from :data:`LAG_WARNING_SHARE` of it); None otherwise or by session start."""
        if not self.by_arrival:
            return None
        lag = record_instant(record, "created_at") - record_instant(record)
        return lag if lag > self.max_arrival_lag * LAG_WARNING_SHARE else None

    def describe(self) -> str:
        """The window and what it applies to, e.g. ``created_at in [..., ...)``."""
        return f"{self.field} in {self.window.describe()}"
