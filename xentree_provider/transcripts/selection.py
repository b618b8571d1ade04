"""Which transcripts a time window selects: the window, where an instant falls, a record's instant.

No Airflow and no I/O here. A :class:`TimeWindow` (from :mod:`xentree_provider.exports.window`, shared by
every export) is half-open ``[start, end)`` in UTC and says whether an instant is :data:`BEFORE`,
:data:`INSIDE` or :data:`AFTER` it; :func:`record_instant` reads a list record's timestamp with a
clear error. The exporter
(:mod:`xentree_provider.transcripts.exporter`) and the transcript condition
(:mod:`xentree_provider.conditions.transcripts`) both select with these, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from xentree_provider.exports.window import (
    AFTER,
    BEFORE,
    INSIDE,
    ONE_MICROSECOND,
    TimeWindow,
    field_instant,
)

__all__ = [
    "AFTER",
    "BEFORE",
    "DEFAULT_MAX_ARRIVAL_LAG",
    "INSIDE",
    "LAG_WARNING_SHARE",
    "ONE_MICROSECOND",
    "SKIP",
    "STOP",
    "TAKE",
    "WINDOW_FIELDS",
    "Selection",
    "TimeWindow",
    "record_instant",
]


def record_instant(record: Mapping[str, Any], field: str = "session_started_at") -> datetime:
    """The timestamp ``field`` of a list record (by default when its session started), parsed; a clear
    error if it is missing or garbled."""
    return field_instant(record, field)


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
