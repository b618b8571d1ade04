"""Pure selection rules: windows by arrival, the boundary search, new arrivals (in-memory lists)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from xentree_provider.api.timestamps import format_timestamp
from xentree_provider.conditions.arrivals import NewArrivals
from xentree_provider.transcripts.listing import SeekingListing
from xentree_provider.transcripts.selection import SKIP, STOP, TAKE, Selection, TimeWindow

UTC = timezone.utc
D1 = datetime(2026, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def rec(tid: str, started: datetime, created: datetime) -> dict[str, str]:
    return {
        "id": tid,
        "session_started_at": format_timestamp(started),
        "created_at": format_timestamp(created),
    }


class MemoryList:
    """A newest-first list served by offset (or ignoring it), counting requests."""

    def __init__(self, records: list[dict[str, str]], honours_offset: bool = True) -> None:
        self.records = sorted(records, key=lambda r: (r["session_started_at"], r["id"]), reverse=True)
        self.honours_offset = honours_offset
        self.requests = 0

    def list_transcripts(self, *, limit: int = 50, offset: int = 0) -> list[dict[str, str]]:
        self.requests += 1
        start = offset if self.honours_offset else 0
        return self.records[start : start + limit]

    def iter_transcripts(self, *, page_size: int = 100) -> Iterator[dict[str, str]]:
        for start in range(0, len(self.records), page_size):
            self.requests += 1
            yield from self.records[start : start + page_size]


def history(count: int, days: int, late_share: float = 0.2, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    records = []
    for index in range(count):
        started = D1 - timedelta(seconds=rng.random() * days * 86400)
        lag = timedelta(hours=rng.uniform(1, 30)) if rng.random() < late_share else timedelta(minutes=20)
        records.append(rec(f"t{index:05d}", started, started + lag))
    return records


def select(client: Any, selection: Selection, page_size: int = 50) -> list[str]:
    taken = []
    for record in SeekingListing(client, selection.upper_bound, page_size=page_size):
        verdict, _ = selection.classify(record)
        if verdict == STOP:
            break
        if verdict == TAKE:
            taken.append(record["id"])
    return sorted(set(taken))


def test_by_arrival_takes_saves_in_the_window_and_stops_after_the_lag() -> None:
    window = TimeWindow(D1, D1 + 24 * HOUR)
    selection = Selection(window, "created_at", timedelta(hours=48))
    assert selection.classify(rec("a", D1 - HOUR, D1 + HOUR))[0] == TAKE  # late arrival from the day before
    assert selection.classify(rec("b", D1 + HOUR, D1 + 25 * HOUR))[0] == SKIP  # saved the next day
    assert selection.classify(rec("c", D1 - 47 * HOUR, D1 - 46 * HOUR))[0] == SKIP  # still read
    assert selection.classify(rec("d", D1 - 49 * HOUR, D1 + HOUR))[0] == STOP  # past the lag
    assert selection.late_arrival(rec("e", D1 - 40 * HOUR, D1 + HOUR)) == 41 * HOUR
    assert selection.late_arrival(rec("f", D1, D1 + HOUR)) is None
    by_start = Selection(window)
    assert by_start.classify(rec("a", D1 - HOUR, D1 + HOUR))[0] == STOP
    assert by_start.late_arrival(rec("e", D1 - 40 * HOUR, D1 + HOUR)) is None


def test_bad_selections_are_refused() -> None:
    with pytest.raises(ValueError, match="window_field must be one of"):
        Selection(TimeWindow(D1, D1 + HOUR), "ended_at")
    with pytest.raises(ValueError, match="positive timedelta"):
        Selection(TimeWindow(D1, D1 + HOUR), "created_at", timedelta(0))


@pytest.mark.parametrize("field", ["session_started_at", "created_at"])
@pytest.mark.parametrize("days_back", [1, 30, 89, 200])
def test_the_search_finds_the_same_transcripts_as_a_full_scan_for_few_requests(
    field: str, days_back: int
) -> None:
    records = history(6000, 90)
    start = D1 - timedelta(days=days_back)
    selection = Selection(TimeWindow(start, start + 24 * HOUR), field)
    seeking = MemoryList(records)
    scanning = MemoryList(records, honours_offset=False)
    found = select(seeking, selection)
    expected = sorted(
        r["id"]
        for r in records
        if start <= datetime.fromisoformat(r[field].replace("Z", "+00:00")) < start + 24 * HOUR
    )
    assert found == expected == select(scanning, selection)
    assert seeking.requests <= 16, seeking.requests  # a scan reads up to 6000 / 50 = 120 pages


def test_ties_and_duplicates_at_the_boundary_are_kept() -> None:
    same = D1 + 12 * HOUR
    records = [rec(f"t{i}", same, same + HOUR) for i in range(300)] + history(2000, 30)
    selection = Selection(TimeWindow(D1 + 12 * HOUR, D1 + 13 * HOUR + HOUR), "session_started_at")
    assert select(MemoryList(records), selection, page_size=20) == select(
        MemoryList(records, honours_offset=False), selection, page_size=20
    )


def test_a_list_ignoring_offset_is_detected_and_read_from_the_top() -> None:
    records = history(3000, 60)
    listing = SeekingListing(MemoryList(records, honours_offset=False), D1 - timedelta(days=40), page_size=50)
    assert len(list(listing)) == 3000
    assert listing.offset_honoured is False


def test_new_arrivals_count_saves_after_the_watermark_back_to_the_lag() -> None:
    since = D1
    arrivals = NewArrivals(since, timedelta(hours=48))
    rows = sorted(
        [
            rec("new-late", D1 - 30 * HOUR, D1 + HOUR),  # an old session saved after the watermark
            rec("new", D1 + 2 * HOUR, D1 + 3 * HOUR),
            rec("old", D1 - 2 * HOUR, D1 - HOUR),
            rec("beyond", D1 - 50 * HOUR, D1 + 2 * HOUR),  # past the lag: not read
        ],
        key=lambda r: r["session_started_at"],
        reverse=True,
    )
    for row in rows:
        if arrivals.feed(row):
            break
    result = arrivals.result()
    assert result["count"] == 2 and result["newest_created_at"] == format_timestamp(D1 + 3 * HOUR)
    first_poll = NewArrivals(None, timedelta(hours=48))
    for row in rows:
        if first_poll.feed(row):
            break
    assert first_poll.result()["newest_created_at"] == format_timestamp(D1 + 3 * HOUR)


class CyclingList(MemoryList):
    """A hostile list whose offset pages come back round: pages A, B, ..., A, B, ... for ever."""

    def __init__(self, records: list[dict[str, str]], period: int) -> None:
        super().__init__(records)
        self.period = period

    def list_transcripts(self, *, limit: int = 50, offset: int = 0) -> list[dict[str, str]]:
        self.requests += 1
        page = (offset // limit) % self.period
        return self.records[page * limit : (page + 1) * limit]


@pytest.mark.parametrize("period", [2, 3])
def test_a_list_cycling_through_its_pages_fails_instead_of_reading_for_ever(period: int) -> None:
    from xentree_provider.api.errors import XentreeResponseError

    records = [rec(f"t{i:03}", D1 - i * HOUR, D1 - i * HOUR) for i in range(period * 10)]
    client = CyclingList(records, period)
    with pytest.raises(XentreeResponseError, match="repeats a page already read"):
        list(SeekingListing(client, None, page_size=10))
    assert client.requests <= period + 1
