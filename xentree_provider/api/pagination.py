"""One page reader for all three list shapes of the contract.

* a bare JSON array, paged with ``limit``/``offset``; the last page is shorter than ``limit``;
* an envelope ``{"items"|"data"|"results": [...], "total": N, ...}`` paged with ``limit``/``offset``;
* the page style ``{"items": [...], "page": P, "limit": L, "total": N}`` paged with ``page``/``limit``.

The shape is detected from each response, so a route documented as one shape still reads the others.
Only one page is held at a time; records are yielded lazily.

A server that ignores or mishandles the paging parameters could otherwise be read forever, so the
reader refuses a page it has already seen anywhere in the same read (period 1, A A, or longer, A B A B),
and stops with an error after :data:`MAX_PAGES` pages. Both checks live here, in :class:`PageReader`,
so the sync and the async readers decide alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

from xentree_provider.api.errors import XentreeConfigError, XentreeResponseError
from xentree_provider.api.routes import Paging, Route
from xentree_provider.api.shapes import check_records

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGES",
    "MAX_PAGE_SIZE",
    "PageReader",
    "aiter_records",
    "iter_records",
    "page_fingerprint",
]

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 200
#: The most pages one read may take (20 million records at the largest page size) before it stops
#: with an error: far beyond any real list, but it ends a server that never sends a last page.
MAX_PAGES = 100_000
ENVELOPE_KEYS = ("items", "data", "results")

RecordCheck = Callable[[list[Any]], None]


def _identity(record: Any) -> str:
    """What identifies a record within a page: its id when it has one, else its canonical JSON."""
    if isinstance(record, Mapping):
        for key in ("id", "user_id"):
            value = record.get(key)
            if type(value) is str:
                return f"{key}={value!r}"
            if type(value) is int:
                return f"{key}={value}"
    return json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)


def page_fingerprint(records: Sequence[Any]) -> bytes:
    """A short digest of a page's records (ids where records have them, else their content).

    Order does not count, so a repeated page with its records reshuffled is still recognised.
    """
    identities = sorted(map(_identity, records))
    return hashlib.blake2b("\n".join(identities).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _describe_records(records: Sequence[Any]) -> str:
    ids = [r.get("id", r.get("user_id")) for r in records if isinstance(r, Mapping)]
    ids = [i for i in ids if isinstance(i, str | int) and not isinstance(i, bool)]
    if len(ids) == len(records) and ids:
        shown = repr(ids[0]) if len(ids) == 1 else f"{ids[0]!r} ... {ids[-1]!r}"
        return f"{len(records)} record(s) with ids {shown}"
    return f"{len(records)} record(s) with identical content"


class PageReader:
    """Keeps the position in a paged list and turns each response into its records.

    :param page_size: records asked for per request (1..200).
    :param paging: how the route is documented to page; the responses may override it.
    :param params: other query parameters, sent with every request.
    :param max_pages: the most pages this read may take before it fails (None: :data:`MAX_PAGES`).
    :param method: HTTP method of the list, named in errors.
    :param path: path of the list (placeholders filled), named in errors.
    :param check: validates each page's records (raises ``XentreeResponseError``); see
        :func:`xentree_provider.api.shapes.check_records`.
    """

    def __init__(
        self,
        page_size: int = DEFAULT_PAGE_SIZE,
        paging: Paging = Paging.OFFSET,
        params: Mapping[str, Any] | None = None,
        *,
        max_pages: int | None = None,
        method: str | None = None,
        path: str | None = None,
        check: RecordCheck | None = None,
    ) -> None:
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 1 <= page_size <= MAX_PAGE_SIZE
        ):
            raise XentreeConfigError(
                f"page_size must be a whole number between 1 and {MAX_PAGE_SIZE}, got {page_size!r}"
            )
        if max_pages is None:
            max_pages = MAX_PAGES
        if isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1:
            raise XentreeConfigError(f"max_pages must be a whole number of at least 1, got {max_pages!r}")
        self.page_size = page_size
        self.paging = paging
        self.base_params = {k: v for k, v in (params or {}).items() if v is not None}
        self.max_pages = max_pages
        self.method = method
        self.path = path
        self.check = check
        self.offset = 0
        self.page = 1
        self.done = False
        self.pages_read = 0
        #: page fingerprint -> the 1-based number of the page it was first seen on.
        self._seen: dict[bytes, int] = {}

    @classmethod
    def for_route(
        cls,
        route: Route,
        *,
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_pages: int | None = None,
    ) -> PageReader:
        """A reader for the list ``route``: its paging, its record shape, its name in errors."""
        path = route.format_path(**(path_params or {}))

        def check(records: list[Any]) -> None:
            check_records(route, records, path=path)

        return cls(
            page_size,
            route.paging,
            params,
            max_pages=max_pages,
            method=route.method,
            path=path,
            check=check,
        )

    def next_params(self) -> dict[str, Any]:
        """Query parameters for the next request."""
        params = dict(self.base_params)
        params["limit"] = self.page_size
        if self.paging is Paging.PAGE:
            params["page"] = self.page
        else:
            params["offset"] = self.offset
        return params

    def _error(self, message: str) -> XentreeResponseError:
        return XentreeResponseError(message, method=self.method, path=self.path)

    def _records_of(self, payload: Any) -> tuple[list[Any], int | None]:
        """The page's records and the list's total (when the envelope says), or a clear error."""
        if isinstance(payload, list):
            return payload, None
        if isinstance(payload, Mapping):
            found = [payload[k] for k in ENVELOPE_KEYS if isinstance(payload.get(k), list)]
            if not found:
                raise self._error(
                    "expected a list, or an object with 'items', 'data' or 'results' holding a list, "
                    f"got an object with keys {sorted(map(str, payload))[:10]}"
                )
            total = payload.get("total")
            page = payload.get("page")
            if isinstance(page, int) and not isinstance(page, bool) and page >= 1:
                self.paging = Paging.PAGE
                self.page = page
            valid_total = isinstance(total, int) and not isinstance(total, bool) and total >= 0
            return found[0], total if valid_total else None
        kind = "null" if payload is None else type(payload).__name__
        raise self._error(f"expected a list response, got {kind}")

    def feed(self, payload: Any) -> list[Any]:
        """Read one response: return its records and move the position on (or mark the end)."""
        records, total = self._records_of(payload)
        if self.check is not None:
            self.check(records)
        self.pages_read += 1
        if records:
            fingerprint = page_fingerprint(records)
            first_seen = self._seen.get(fingerprint)
            if first_seen is not None:
                raise self._error(
                    f"the server sent the same page again: page {self.pages_read} repeats page "
                    f"{first_seen} ({_describe_records(records)}, after {self.offset} records); it ignores "
                    f"or mishandles the paging parameters {', '.join(sorted(self.next_params()))}"
                )
            self._seen[fingerprint] = self.pages_read
        self.offset += len(records)
        self.page += 1
        if not records:
            self.done = True
        elif total is not None:
            self.done = self.offset >= total
        else:
            self.done = len(records) < self.page_size
        if not self.done and self.pages_read >= self.max_pages:
            raise self._error(
                f"the list did not end after {self.pages_read:,} pages ({self.offset:,} records), the most "
                f"one read may take (max_pages={self.max_pages:,}); the server keeps sending full pages"
            )
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
