"""Unit tests for ``xentree_provider.api.pagination``: the three list shapes, bounds and laziness."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pytest

from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.api.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PageReader,
    aiter_records,
    iter_records,
)
from xentree_provider.api.routes import Paging


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
