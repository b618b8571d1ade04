"""Paging over real HTTP against servers that ignore the paging parameters: every repeat of pages
(period 1, 2 or 3) ends the read with a clear error after one round, sync and async, and a list that
never ends stops at the page cap."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest
from tiny_http import Request, json_answer, serve

from xentree_provider.api import pagination
from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.hooks.xentree_async import XentreeAsyncHook


def transcripts(prefix: str, count: int) -> list[dict[str, Any]]:
    return [
        {"id": f"{prefix}{i}", "session_started_at": "2026-11-01T00:00:00Z", "turn_count": 1}
        for i in range(count)
    ]


def connect(monkeypatch: pytest.MonkeyPatch, url: str) -> str:
    conn = {"conn_type": "xentree", "host": url, "extra": {"api_key": "k-cycles", "max_retries": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_CYCLES", json.dumps(conn))
    return "xentree_cycles"


def read_all(conn_id: str, mode: str, page_size: int) -> list[Any]:
    if mode == "sync":
        hook = XentreeHook(conn_id)
        try:
            return list(hook.iter_transcripts(page_size=page_size))
        finally:
            hook.close()

    async def collect() -> list[Any]:
        hook = XentreeAsyncHook(conn_id, shared=False)
        try:
            return [r async for r in hook.iter_transcripts(page_size=page_size)]
        finally:
            await hook.aclose()

    return asyncio.run(collect())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("period", [1, 2, 3])
def test_pages_repeating_with_any_period_end_with_an_error(monkeypatch, mode, period):
    pages = itertools.cycle([transcripts(f"p{n}-", 10) for n in range(period)])

    def answer(request: Request) -> tuple[int, dict[str, str], bytes]:
        return json_answer(next(pages))  # whatever offset was asked for

    with serve(answer) as server:
        with pytest.raises(XentreeResponseError) as caught:
            read_all(connect(monkeypatch, server.url), mode, page_size=10)
        asked = [r.query.get("offset") for r in server.requests]
    message = str(caught.value)
    assert message.startswith("GET /api/live/transcripts: the server sent the same page again")
    assert f"page {period + 1} repeats page 1" in message
    assert "'p0-0'" in message
    assert asked == [str(10 * n) for n in range(period + 1)]  # one round, then the error


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_list_that_never_ends_stops_at_the_page_cap(monkeypatch, mode):
    counter = itertools.count()

    def answer(request: Request) -> tuple[int, dict[str, str], bytes]:
        return json_answer(transcripts(f"n{next(counter)}-", int(request.query["limit"])))

    monkeypatch.setattr(pagination, "MAX_PAGES", 5)
    with serve(answer) as server:
        with pytest.raises(XentreeResponseError, match="did not end after 5 pages") as caught:
            read_all(connect(monkeypatch, server.url), mode, page_size=3)
        assert len(server.requests) == 5
    assert str(caught.value).startswith("GET /api/live/transcripts: ")
