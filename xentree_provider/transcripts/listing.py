"""Reading the newest-first transcript list from near a boundary instead of from the top.

The list is ordered by ``session_started_at``, newest first, and has no date filter. To reach an old
window without reading every newer page, :class:`SeekingListing` finds the first position whose
session started before ``upper_bound`` by interpolation search (with bisection as the safeguard) over
single-record probes, then reads pages from there. This needs a server that honours ``offset``: the
first probe checks it (the record it returns must be older than the first page, not the list's top
record again), and a later page that repeats the previous one also shows it is ignored. Either way the
listing logs it and falls back to reading the whole list from the top with the client's own pager.

Correctness never depends on the search being exact: reading starts at a position known to hold a
session that started at or after ``upper_bound`` (or at the top), so everything skipped lies above
the window, and the caller still classifies every record it reads.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.api.pagination import MAX_PAGES, page_fingerprint
from xentree_provider.api.routes import ROUTES
from xentree_provider.transcripts.selection import record_instant

__all__ = ["MAX_PROBES", "OffsetLister", "SeekingListing"]

MAX_PROBES = 64
"""A bound on search probes (a sorted list needs about log2(N); interpolation far fewer)."""
_log = logging.getLogger(__name__)
_LIST = ROUTES["list_transcripts"]


class OffsetLister(Protocol):
    """What the listing needs of the client (the sync ``XentreeHook`` has both methods)."""

    def list_transcripts(self, *, limit: int = ..., offset: int = ...) -> list[Any]:
        """One page of the newest-first list."""
        ...

    def iter_transcripts(self, *, page_size: int = ...) -> Iterator[Any]:
        """The whole list, newest first, paged by the client (any paging style)."""
        ...


class SeekingListing:
    """Newest-first records from near ``upper_bound`` on; see the module docstring.

    :param client: the client.
    :param upper_bound: the search target (None: read from the top).
    :param page_size: records per page read.
    :param log: where the fallback and the search summary are logged.
    """

    def __init__(
        self, client: OffsetLister, upper_bound: datetime | None, *, page_size: int, log: Any = None
    ) -> None:
        self.client = client
        self.upper_bound = upper_bound
        self.page_size = page_size
        self.log: Any = log or _log
        self.requests = 0
        """List requests made (pages and probes)."""
        self.probes = 0
        """Single-record probes made by the search."""
        self.start_offset = 0
        """Where page reading started."""
        self.offset_honoured: bool | None = None
        """Whether the server honours ``offset`` (None: not needed, so not checked)."""

    def _page(self, offset: int, limit: int) -> list[Any]:
        self.requests += 1
        return list(self.client.list_transcripts(limit=limit, offset=offset))

    def _probe(self, offset: int) -> Any:
        """The record at ``offset``; None past the end of the list."""
        self.probes += 1
        page = self._page(offset, 1)
        return page[0] if page else None

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        first = self._page(0, self.page_size)
        if not first:
            return
        upper = self.upper_bound
        if upper is None or len(first) < 2 or record_instant(first[-1]) < upper:
            yield from first
            yield from self._pages_from(len(first), first)
            return
        start = self._search(first, upper)
        if start is None:
            self.log.info(
                "The transcript list ignores 'offset': reading it from the top instead of searching "
                "for the window's boundary (backfills of old windows cost one page per %d newer "
                "transcripts)",
                self.page_size,
            )
            yield from self.client.iter_transcripts(page_size=self.page_size)
            return
        self.start_offset = start
        self.log.info("Found the window's boundary near list offset %d with %d probe(s)", start, self.probes)
        yield from self._pages_from(start, None)

    def _search(self, first: list[Any], upper: datetime) -> int | None:
        """An offset whose session started at or after ``upper``, within about a page above the
        boundary; None when the server turns out to ignore ``offset``.

        Each probe aims half a page above the boundary estimated by interpolation (the first page
        gives the first estimate of seconds per record), so on evenly spread data one or two probes
        do. The first probe also checks ``offset``: the record there must be older than the first page.
        """
        top_id, low, low_time = _id(first[0]), len(first) - 1, record_instant(first[-1])
        top_time = record_instant(first[0])
        high: int | None = None
        high_time: datetime | None = None
        while self.probes < MAX_PROBES:
            estimate = _estimate(low, low_time, high, high_time, upper, top_time)
            if estimate - low <= self.page_size:
                return low
            guess = estimate - self.page_size // 2
            if high is not None:
                margin = max(1, (high - low) // 16)
                guess = min(max(guess, low + margin), high - margin)
            record = self._probe(guess)
            if self.offset_honoured is None:
                self.offset_honoured = record is None or (
                    _id(record) != top_id and record_instant(record) <= low_time
                )
                if not self.offset_honoured:
                    return None
            instant = None if record is None else record_instant(record)
            if instant is not None and instant >= upper:
                low, low_time = guess, instant
            else:
                high, high_time = guess, instant
            if high is not None and high - low <= self.page_size:
                return low
        return low

    def _pages_from(self, offset: int, previous: list[Any] | None) -> Iterator[Mapping[str, Any]]:
        # Every page read, by fingerprint: a page that comes back after others (A, B, A, ...) is a
        # server cycling through pages, which would otherwise be read forever.
        seen = {page_fingerprint(previous)} if previous else set()
        for _ in range(MAX_PAGES):
            page = self._page(offset, self.page_size)
            if not page:
                return
            if previous and _id(page[0]) == _id(previous[0]):
                self.offset_honoured = False
                self.log.info("The transcript list ignores 'offset': reading it from the top instead")
                yield from self.client.iter_transcripts(page_size=self.page_size)
                return
            fingerprint = page_fingerprint(page)
            if fingerprint in seen:
                raise XentreeResponseError(
                    f"{_LIST.method} {_LIST.path}: the page at offset {offset} repeats a page already "
                    "read in this read; the server is cycling through its pages, so the list would "
                    "never end",
                    method=_LIST.method,
                    path=_LIST.path,
                )
            seen.add(fingerprint)
            yield from page
            offset += len(page)
            previous = page
        raise XentreeResponseError(
            f"{_LIST.method} {_LIST.path}: read {MAX_PAGES} pages without reaching the end of the list",
            method=_LIST.method,
            path=_LIST.path,
        )


def _id(record: Any) -> Any:
    return record.get("id") if isinstance(record, Mapping) else None


def _estimate(
    low: int,
    low_time: datetime,
    high: int | None,
    high_time: datetime | None,
    upper: datetime,
    top_time: datetime,
) -> int:
    """Where the first session started before ``upper`` probably is, by linear interpolation."""
    ahead = (low_time - upper).total_seconds()
    if high is not None and high_time is not None and high_time < low_time:
        return low + math.ceil((high - low) * ahead / (low_time - high_time).total_seconds())
    if high is not None:  # past the end of the list, or no spread: halve the bracket
        return low + max(1, (high - low) // 2)
    seconds_per_record = (top_time - low_time).total_seconds() / max(1, low)
    if seconds_per_record <= 0:
        return low * 2 + 1
    return low + math.ceil(ahead / seconds_per_record)
