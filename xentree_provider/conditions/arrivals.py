"""New arrivals: transcripts saved after a watermark, found by reading the newest-first list.

The list is ordered by ``session_started_at``, so a transcript saved after ``since`` can sit as deep as
its session is old: reading goes on until sessions started before ``since - max_arrival_lag`` (the
same rule as the export by arrival, :class:`~xentree_provider.transcripts.selection.Selection`).
:class:`NewArrivals` is fed records one by one (sync or async), like
:class:`~xentree_provider.conditions.transcripts.WindowCount`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import Any, Protocol

from xentree_provider.api.timestamps import format_timestamp, parse_timestamp
from xentree_provider.transcripts.selection import DEFAULT_MAX_ARRIVAL_LAG, record_instant

__all__ = ["AsyncTranscriptPager", "NewArrivals", "poll_new_arrivals"]


class AsyncTranscriptPager(Protocol):
    """What the poll needs of the async client (``XentreeAsyncHook`` has it)."""

    def iter_transcripts(self, *, page_size: int = ...) -> AsyncIterator[Any]:
        """Every transcript, newest first, without turns."""
        ...


class NewArrivals:
    """Counts the transcripts saved after ``since``, and finds the newest ``created_at``.

    :param since: the watermark: transcripts with ``created_at`` strictly after it are new. None
        reads only as far as the newest session minus ``max_arrival_lag`` (enough to find the newest
        save: a first poll that sets the watermark), counting what it read.
    :param max_arrival_lag: how long after its session a transcript may be saved.
    """

    def __init__(self, since: datetime | None, max_arrival_lag: timedelta = DEFAULT_MAX_ARRIVAL_LAG) -> None:
        self.since = since
        self.max_arrival_lag = max_arrival_lag
        self.floor = None if since is None else since - max_arrival_lag
        self.count = 0
        self.scanned = 0
        self.newest: datetime | None = None

    def feed(self, record: Mapping[str, Any]) -> bool:
        """Account for one record in list order; True when reading can stop."""
        self.scanned += 1
        started = record_instant(record)
        if self.floor is None:
            self.floor = started - self.max_arrival_lag
        if started < self.floor:
            return True
        created = record_instant(record, "created_at")
        if self.since is None or created > self.since:
            self.count += 1
        if self.newest is None or created > self.newest:
            self.newest = created
        return False

    def result(self) -> dict[str, Any]:
        """``{"newest_created_at", "count", "since"}``: JSON-able, what the trigger's event carries."""
        return {
            "newest_created_at": None if self.newest is None else format_timestamp(self.newest),
            "count": self.count,
            "since": None if self.since is None else format_timestamp(self.since),
        }


async def poll_new_arrivals(
    client: AsyncTranscriptPager,
    since: str | None,
    *,
    max_arrival_lag_seconds: float = DEFAULT_MAX_ARRIVAL_LAG.total_seconds(),
    page_size: int = 100,
) -> dict[str, Any]:
    """One poll: how many transcripts were saved after ``since`` (ISO, or None for all), and the
    newest ``created_at`` seen (the next watermark)."""
    watermark = None if since is None else parse_timestamp(since)
    arrivals = NewArrivals(watermark, timedelta(seconds=max_arrival_lag_seconds))
    async with aclosing(client.iter_transcripts(page_size=page_size)) as records:  # type: ignore[type-var]
        async for record in records:
            if arrivals.feed(record):
                break
    return arrivals.result()
