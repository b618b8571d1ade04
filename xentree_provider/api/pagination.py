"""One page reader for all three list shapes of the contract.

* a bare JSON array, paged with ``limit``/``offset``; the last page is shorter than ``limit``;
* an envelope ``{"items"|"data"|"results": [...], "total": N, ...}`` paged with ``limit``/``offset``;
* the page style ``{"items": [...], "page": P, "limit": L, "total": N}`` paged with ``page``/``limit``.

The shape is detected from each response, so a route documented as one shape still reads the others.
Only one page is held at a time; records are yielded lazily.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.api.routes import Paging

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "PageReader", "aiter_records", "iter_records"]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 200
ENVELOPE_KEYS = ("items", "data", "results")


class PageReader:
    """Keeps the position in a paged list and turns each response into its records.

    :param page_size: records asked for per request (1..200).
    :param paging: how the route is documented to page; the responses may override it.
    :param params: other query parameters, sent with every request.
    """

    def __init__(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        paging: Paging = Paging.OFFSET,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        self.page_size = page_size
        self.paging = paging
        self.base_params = {k: v for k, v in (params or {}).items() if v is not None}
        self.offset = 0
        self.page = 1
        self.done = False
        self.pages_read = 0
        self._last_page_key: str | None = None

    def next_params(self) -> dict[str, Any]:
        """Query parameters for the next request."""
        params = dict(self.base_params)
        params["limit"] = self.page_size
        if self.paging is Paging.PAGE:
            params["page"] = self.page
        else:
            params["offset"] = self.offset
        return params

    def feed(self, payload: Any) -> list[Any]:
        """Read one response: return its records and move the position on (or mark the end)."""
        total: int | None = None
        if isinstance(payload, list):
            records = payload
        elif isinstance(payload, Mapping):
            found = [payload[k] for k in ENVELOPE_KEYS if isinstance(payload.get(k), list)]
            if not found:
                raise XentreeResponseError(
                    "expected a list, or an object with 'items', 'data' or 'results', "
                    f"got an object with keys {sorted(payload)[:10]}"
                )
            records = found[0]
            if isinstance(payload.get("total"), int):
                total = payload["total"]
            if isinstance(payload.get("page"), int):
                self.paging = Paging.PAGE
                self.page = payload["page"]
        else:
            raise XentreeResponseError(f"expected a list response, got {type(payload).__name__}")

        if records:
            # A server ignoring the paging parameters would otherwise be read forever.
            key = json.dumps([records[0], records[-1], len(records)], sort_keys=True, default=str)
            if key == self._last_page_key:
                raise XentreeResponseError(
                    f"the server returned the same page again (after {self.offset} records): it ignores "
                    f"the paging parameters {sorted(self.next_params())}"
                )
            self._last_page_key = key
        self.pages_read += 1
        self.offset += len(records)
        self.page += 1
        if not records:
            self.done = True
        elif total is not None:
            self.done = self.offset >= total
        else:
            self.done = len(records) < self.page_size
        return records


def iter_records(fetch: Callable[[dict[str, Any]], Any], reader: PageReader) -> Iterator[Any]:
    """Yield every record of a paged list; ``fetch(params)`` returns one decoded response."""
    while not reader.done:
        yield from reader.feed(fetch(reader.next_params()))


async def aiter_records(
    fetch: Callable[[dict[str, Any]], Awaitable[Any]], reader: PageReader
) -> AsyncIterator[Any]:
    """Async twin of :func:`iter_records`."""
    while not reader.done:
        for record in reader.feed(await fetch(reader.next_params())):
            yield record
