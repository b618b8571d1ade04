"""Unit tests for ``xentree_provider.api.pagination``: the three list shapes, bounds and laziness."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from xentree_provider.api.errors import XentreeConfigError, XentreeResponseError
from xentree_provider.api.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    MAX_PAGES,
    PageReader,
    aiter_records,
    iter_records,
    page_fingerprint,
)
from xentree_provider.api.routes import ROUTES, Paging


class FakeList:
    """Serves ``total`` records in one of the contract's list shapes; records every request's params."""

    def __init__(self, total: int, shape: str = "array", key: str = "items") -> None:
        self.records = [{"id": f"r{i}"} for i in range(total)]
        self.shape = shape
        self.key = key
        self.calls: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any]) -> Any:
        self.calls.append(dict(params))
        limit = params["limit"]
        offset = (params["page"] - 1) * limit if "page" in params else params.get("offset", 0)
        chunk = self.records[offset : offset + limit]
        if self.shape == "array":
            return chunk
        if self.shape == "envelope":
            return {self.key: chunk, "total": len(self.records), "limit": limit, "offset": offset}
        if self.shape == "page":
            return {"items": chunk, "page": params.get("page", 1), "limit": limit, "total": len(self.records)}
        raise AssertionError(self.shape)


def ids(records: list[Any]) -> list[str]:
    return [r["id"] for r in records]


# --------------------------------------------------------------------------- bare array


def test_array_stops_on_short_page() -> None:
    fetch = FakeList(25)
    records = list(iter_records(fetch, PageReader(page_size=10)))
    assert ids(records) == [f"r{i}" for i in range(25)]
    assert [c["offset"] for c in fetch.calls] == [0, 10, 20]
    assert all(c["limit"] == 10 for c in fetch.calls)


def test_array_exact_multiple_ends_with_one_empty_page() -> None:
    fetch = FakeList(30)
    reader = PageReader(page_size=10)
    assert len(list(iter_records(fetch, reader))) == 30
    assert [c["offset"] for c in fetch.calls] == [0, 10, 20, 30]
    assert reader.pages_read == 4
    assert reader.done


def test_empty_list_is_one_request() -> None:
    fetch = FakeList(0)
    assert list(iter_records(fetch, PageReader(page_size=10))) == []
    assert len(fetch.calls) == 1


# --------------------------------------------------------------------------- envelopes


@pytest.mark.parametrize("key", ["items", "data", "results"])
def test_envelope_under_each_key_uses_total(key: str) -> None:
    fetch = FakeList(30, shape="envelope", key=key)
    records = list(iter_records(fetch, PageReader(page_size=10)))
    assert ids(records) == [f"r{i}" for i in range(30)]
    # the total says when to stop: no trailing empty page
    assert [c["offset"] for c in fetch.calls] == [0, 10, 20]


def test_envelope_total_with_short_last_page() -> None:
    fetch = FakeList(7, shape="envelope")
    assert len(list(iter_records(fetch, PageReader(page_size=5)))) == 7
    assert len(fetch.calls) == 2


def test_envelope_without_total_falls_back_to_short_page() -> None:
    pages = iter([{"data": [1, 2]}, {"data": [3]}])
    calls: list[dict[str, Any]] = []

    def fetch(params: dict[str, Any]) -> Any:
        calls.append(params)
        return next(pages)

    assert list(iter_records(fetch, PageReader(page_size=2))) == [1, 2, 3]
    assert len(calls) == 2


def test_envelope_empty_page_ends_even_if_total_says_more() -> None:
    calls: list[dict[str, Any]] = []

    def fetch(params: dict[str, Any]) -> Any:
        calls.append(params)
        return {"items": [], "total": 1000}

    assert list(iter_records(fetch, PageReader(page_size=10))) == []
    assert len(calls) == 1


# --------------------------------------------------------------------------- page style


def test_page_style_switches_to_page_params() -> None:
    fetch = FakeList(25, shape="page")
    records = list(iter_records(fetch, PageReader(page_size=10)))  # documented as offset paging
    assert ids(records) == [f"r{i}" for i in range(25)]
    assert fetch.calls[0] == {"limit": 10, "offset": 0}
    assert fetch.calls[1:] == [{"limit": 10, "page": 2}, {"limit": 10, "page": 3}]


def test_page_style_documented_route_starts_with_page_one() -> None:
    fetch = FakeList(25, shape="page")
    reader = PageReader(page_size=10, paging=Paging.PAGE, params={"org_id": "o1", "q": None})
    assert len(list(iter_records(fetch, reader))) == 25
    assert fetch.calls == [
        {"org_id": "o1", "limit": 10, "page": 1},
        {"org_id": "o1", "limit": 10, "page": 2},
        {"org_id": "o1", "limit": 10, "page": 3},
    ]


def test_page_number_is_read_from_the_response() -> None:
    reader = PageReader(page_size=10, paging=Paging.PAGE)
    reader.feed({"items": list(range(10)), "page": 5, "limit": 10, "total": 100})
    assert reader.next_params() == {"limit": 10, "page": 6}


def test_base_params_are_sent_with_every_request_and_none_dropped() -> None:
    fetch = FakeList(15)
    reader = PageReader(page_size=10, params={"sort": "created_at", "q": None})
    list(iter_records(fetch, reader))
    assert fetch.calls == [
        {"sort": "created_at", "limit": 10, "offset": 0},
        {"sort": "created_at", "limit": 10, "offset": 10},
    ]


# --------------------------------------------------------------------------- bounds and bad shapes


@pytest.mark.parametrize("size", [0, -1, MAX_PAGE_SIZE + 1, 1000])
def test_page_size_out_of_bounds(size: int) -> None:
    with pytest.raises(ValueError, match="page_size"):
        PageReader(page_size=size)


@pytest.mark.parametrize("size", [1, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE])
def test_page_size_in_bounds(size: int) -> None:
    assert PageReader(page_size=size).next_params()["limit"] == size


def test_unknown_object_is_a_response_error() -> None:
    reader = PageReader()
    with pytest.raises(XentreeResponseError, match="'items', 'data' or 'results'") as info:
        reader.feed({"records": [1, 2], "count": 2})
    assert "records" in info.value.message


@pytest.mark.parametrize("payload", ["text", 5, None])
def test_non_list_payload_is_a_response_error(payload: Any) -> None:
    with pytest.raises(XentreeResponseError):
        PageReader().feed(payload)


# --------------------------------------------------------------------------- laziness


def test_records_are_fetched_lazily() -> None:
    fetch = FakeList(1000)
    records = iter_records(fetch, PageReader(page_size=100))
    assert fetch.calls == []  # nothing fetched before the first record is asked for
    first = list(itertools.islice(records, 3))
    assert ids(first) == ["r0", "r1", "r2"]
    assert len(fetch.calls) == 1
    list(itertools.islice(records, 97))  # the rest of the first page
    assert len(fetch.calls) == 1
    next(records)
    assert len(fetch.calls) == 2


# --------------------------------------------------------------------------- async twin


def async_fetch(fake: FakeList) -> Callable[[dict[str, Any]], Any]:
    async def fetch(params: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        return fake(params)

    return fetch


@pytest.mark.parametrize("shape", ["array", "envelope", "page"])
def test_aiter_records_reads_every_shape(shape: str) -> None:
    fake = FakeList(23, shape=shape)

    async def collect() -> list[Any]:
        return [r async for r in aiter_records(async_fetch(fake), PageReader(page_size=10))]

    assert ids(asyncio.run(collect())) == [f"r{i}" for i in range(23)]
    assert len(fake.calls) == 3


def test_aiter_records_is_lazy() -> None:
    fake = FakeList(1000)

    async def first_three() -> list[Any]:
        out: list[Any] = []
        async for record in aiter_records(async_fetch(fake), PageReader(page_size=100)):
            out.append(record)
            if len(out) == 3:
                break
        return out

    assert len(asyncio.run(first_three())) == 3
    assert len(fake.calls) == 1


# --------------------------------------------------------------------------- repeats and the page cap


class Cycling:
    """A server that ignores the paging parameters and answers ``pages`` in turn, forever."""

    def __init__(self, pages: list[Any]) -> None:
        self.answers = itertools.cycle(pages)
        self.calls: list[dict[str, Any]] = []

    def __call__(self, params: dict[str, Any]) -> Any:
        self.calls.append(params)
        if len(self.calls) > 1000:
            raise AssertionError("the reader kept asking: no repeat detected")
        return next(self.answers)


def page(*ids: str) -> list[dict[str, str]]:
    return [{"id": i, "session_started_at": "2026-11-01T00:00:00Z"} for i in ids]


@pytest.mark.parametrize("period", [1, 2, 3])
def test_a_cycle_of_pages_is_an_error_after_one_round(period: int) -> None:
    pages = [page(f"p{n}a", f"p{n}b") for n in range(period)]
    fetch = Cycling(pages)
    reader = PageReader(page_size=2, method="GET", path="/api/live/transcripts")
    with pytest.raises(XentreeResponseError, match="same page again") as info:
        list(iter_records(fetch, reader))
    assert len(fetch.calls) == period + 1
    error = info.value
    assert (error.method, error.path) == ("GET", "/api/live/transcripts")
    assert f"page {period + 1} repeats page 1" in error.message
    assert "'p0a'" in error.message  # what repeated
    assert str(error).startswith("GET /api/live/transcripts: ")


@pytest.mark.parametrize("period", [1, 2, 3])
def test_a_cycle_is_an_error_in_the_async_reader_too(period: int) -> None:
    pages = [page(f"p{n}a", f"p{n}b") for n in range(period)]
    fetch = Cycling(pages)

    async def read() -> list[Any]:
        async def afetch(params: dict[str, Any]) -> Any:
            return fetch(params)

        return [r async for r in aiter_records(afetch, PageReader(page_size=2))]

    with pytest.raises(XentreeResponseError, match=f"page {period + 1} repeats page 1"):
        asyncio.run(read())
    assert len(fetch.calls) == period + 1


def test_a_cycle_is_found_whatever_page_it_comes_back_to() -> None:
    """A, B, C, B: the repeat is of page 2, not of the one just before."""
    fetch = Cycling([page("a1", "a2"), page("b1", "b2"), page("c1", "c2"), page("b1", "b2")])
    with pytest.raises(XentreeResponseError, match="page 4 repeats page 2"):
        list(iter_records(fetch, PageReader(page_size=2)))


def test_a_repeat_is_recognised_by_ids_even_if_the_content_or_order_changed() -> None:
    first = [{"id": "a", "n": 1}, {"id": "b", "n": 2}]
    again = [{"id": "b", "n": 3}, {"id": "a", "n": 4}]
    fetch = Cycling([first, again])
    with pytest.raises(XentreeResponseError, match="page 2 repeats page 1"):
        list(iter_records(fetch, PageReader(page_size=2)))


def test_records_without_ids_are_compared_by_content() -> None:
    fetch = Cycling([[{"n": 1}, {"n": 2}], [{"n": 3}, {"n": 4}]])
    with pytest.raises(XentreeResponseError, match="identical content"):
        list(iter_records(fetch, PageReader(page_size=2)))


def test_pages_that_overlap_in_part_are_not_a_repeat() -> None:
    """A list that shifted while paging repeats one record on the next page: that is read on."""
    pages = iter([page("a", "b", "c"), page("c", "d", "e"), page("f")])
    records = list(iter_records(lambda params: next(pages), PageReader(page_size=3)))
    assert [r["id"] for r in records] == ["a", "b", "c", "c", "d", "e", "f"]


def test_an_envelope_that_keeps_its_page_number_and_content_is_a_repeat() -> None:
    body = {"items": page("x", "y"), "page": 1, "limit": 2, "total": 10}
    fetch = Cycling([body])
    with pytest.raises(XentreeResponseError, match="same page again"):
        list(iter_records(fetch, PageReader(page_size=2, paging=Paging.PAGE)))


def test_the_page_cap_ends_a_list_that_never_ends() -> None:
    counter = itertools.count()

    def endless(params: dict[str, Any]) -> Any:
        return page(*(f"r{next(counter)}" for _ in range(params["limit"])))

    reader = PageReader(page_size=5, max_pages=7, method="GET", path="/api/organizations")
    with pytest.raises(XentreeResponseError, match="did not end after 7 pages") as info:
        list(iter_records(endless, reader))
    assert "max_pages=7" in info.value.message
    assert "35 records" in info.value.message
    assert reader.pages_read == 7
    assert info.value.path == "/api/organizations"


def test_a_list_ending_exactly_at_the_cap_is_read_whole() -> None:
    fetch = FakeList(9)
    records = list(iter_records(fetch, PageReader(page_size=3, max_pages=4)))  # 3 full pages + empty
    assert len(records) == 9


def test_the_default_page_cap_is_generous_and_named() -> None:
    assert MAX_PAGES == 100_000
    assert PageReader().max_pages == MAX_PAGES


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_max_pages_must_be_a_positive_whole_number(bad: Any) -> None:
    with pytest.raises(XentreeConfigError, match="max_pages"):
        PageReader(max_pages=bad)


def test_the_fingerprint_ignores_order_but_not_membership() -> None:
    assert page_fingerprint(page("a", "b")) == page_fingerprint(page("b", "a"))
    assert page_fingerprint(page("a", "b")) != page_fingerprint(page("a", "c"))
    assert len(page_fingerprint(page(*(str(i) for i in range(200))))) == 16


def test_for_route_names_the_route_and_fills_its_path() -> None:
    reader = PageReader.for_route(ROUTES["list_members"], path_params={"org_id": "org 1"}, page_size=2)
    assert (reader.method, reader.path) == ("GET", "/api/organizations/org%201/members")
    fetch = Cycling([[{"user_id": "u1"}, {"user_id": "u2"}]])
    with pytest.raises(XentreeResponseError, match="same page again") as info:
        list(iter_records(fetch, reader))
    assert str(info.value).startswith("GET /api/organizations/org%201/members: ")
