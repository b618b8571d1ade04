"""The concurrent exporter: select a window's transcripts, fetch their turns, write them in order.

1. the newest-first transcript list is read from near the window's newest edge
   (:mod:`~xentree_provider.transcripts.listing`) until it is older than anything the
   :class:`~xentree_provider.transcripts.selection.Selection` can hold; only ``(instant, id)`` of the
   selected transcripts are kept (a few dozen bytes each);
2. they are sorted by ``(instant, id)`` (the instant is the window's field), and each
   transcript's turns are fetched by a thread pool, at most ``max_workers`` at a time and a bounded
   number ahead of the writer, so memory does not grow with the number of transcripts; before each
   fetch the exporter asks its :class:`FetchConcurrency` for a slot, the one place where the pace of
   fetches is decided;
3. records are written in that order through a writer of :mod:`~xentree_provider.transcripts.writers`.

No Airflow here: the client is anything with the methods of :class:`TranscriptClient` (the sync
``XentreeHook`` has them), so the exporter is testable with a hook alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import IO, Any, Protocol

from xentree_provider.api.errors import XentreeNotFoundError, XentreeResponseError
from xentree_provider.exports.fetching import (
    MAX_WORKERS_LIMIT,
    READ_AHEAD_PER_WORKER,
    FetchConcurrency,
    FixedConcurrency,
    fetch_in_order,
)
from xentree_provider.transcripts.listing import SeekingListing
from xentree_provider.transcripts.records import canonical_transcript
from xentree_provider.transcripts.selection import SKIP, STOP, Selection, TimeWindow
from xentree_provider.transcripts.writers import record_writer

__all__ = [
    "MAX_WORKERS_LIMIT",
    "READ_AHEAD_PER_WORKER",
    "ExportResult",
    "FetchConcurrency",
    "FixedConcurrency",
    "TranscriptClient",
    "TranscriptExporter",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)
_log = logging.getLogger(__name__)


class TranscriptClient(Protocol):
    """What the exporter calls on its client (the sync ``XentreeHook`` has both; thread-safe)."""

    def iter_transcripts(self, *, page_size: int = ...) -> Iterator[Any]:
        """Every transcript, newest first, without turns; pages read as the iterator advances."""
        ...

    def list_transcripts(self, *, limit: int = ..., offset: int = ...) -> list[Any]:
        """One page of the newest-first list."""
        ...

    def get_transcript(self, transcript_id: str) -> Any:
        """One transcript with its turns."""
        ...


@dataclass
class ExportResult:
    """What an export wrote."""

    count: int = 0
    turns: int = 0
    rows: int = 0  # rows of the file: one per transcript, or per turn in CSV
    missing: list[str] = field(default_factory=list)
    listed: int = 0


def _micros(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


class TranscriptExporter:
    """Exports the transcripts of a window with a client such as
    :class:`~xentree_provider.hooks.xentree.XentreeHook`.

    :param hook: the client (thread-safe; e.g. the hook, whose pooled session serves every worker).
    :param window: the ``[start, end)`` window on ``session_started_at``, or a
        :class:`~xentree_provider.transcripts.selection.Selection` (e.g. by ``created_at``).
    :param max_workers: threads fetching transcripts.
    :param page_size: list page size.
    :param log: where progress goes (default: the client's ``log``, else this module's logger).
    :param concurrency: asked for a slot before each fetch; default :class:`FixedConcurrency` of
        ``max_workers``.
    """

    def __init__(
        self,
        hook: TranscriptClient,
        window: TimeWindow | Selection,
        *,
        max_workers: int = 8,
        page_size: int = 200,
        log: Any = None,
        concurrency: FetchConcurrency | None = None,
    ) -> None:
        self.hook = hook
        self.selection = window if isinstance(window, Selection) else Selection(window)
        self.window = self.selection.window
        self.list_requests = 0
        """List requests made by the last :meth:`select`."""
        self.max_workers = max_workers
        self.page_size = page_size
        self.log: Any = log or getattr(hook, "log", None) or _log
        self.concurrency: FetchConcurrency = concurrency or FixedConcurrency(max_workers)

    def select(self) -> list[str]:
        """Ids of the selected transcripts, sorted by ``(instant in the window, id)``.

        Reads the newest-first list from near the window's newest edge and stops at the first
        transcript older than anything the selection can hold. A transcript seen twice (the list
        shifted while paging) is kept once.
        """
        chosen: dict[str, int] = {}
        scanned = 0
        listing = SeekingListing(
            self.hook, self.selection.upper_bound, page_size=self.page_size, log=self.log
        )
        for record in listing:
            scanned += 1
            verdict, instant = self.selection.classify(record)
            if verdict == STOP:
                break
            if verdict == SKIP:
                continue
            tid = record.get("id")
            if not isinstance(tid, str) or not tid:
                raise XentreeResponseError(f"a transcript in the list has no id: {dict(record)!r:.200}")
            self._warn_if_late(tid, record)
            chosen[tid] = _micros(instant)
        self.list_requests = listing.requests
        self.log.info(
            "Window %s: %d transcript(s) found after reading %d list entries (%d list requests)",
            self.selection.describe(),
            len(chosen),
            scanned,
            listing.requests,
        )
        return [tid for tid, _ in sorted(chosen.items(), key=lambda item: (item[1], item[0]))]

    def _warn_if_late(self, tid: str, record: Mapping[str, Any]) -> None:
        lag = self.selection.late_arrival(record)
        if lag is not None:
            self.log.warning(
                "Transcript %s was saved %s after its session started, close to max_arrival_lag=%s: "
                "a transcript saved later than that would be missed; raise max_arrival_lag",
                tid,
                lag,
                self.selection.max_arrival_lag,
            )

    def _fetch(self, tid: str) -> dict[str, Any] | None:
        try:
            with self.concurrency.slot():
                detail = self.hook.get_transcript(tid)
        except XentreeNotFoundError:
            return None
        if not isinstance(detail, Mapping) or detail.get("id") != tid:
            got = detail.get("id") if isinstance(detail, Mapping) else type(detail).__name__
            raise XentreeResponseError(f"asked for transcript {tid!r}, got {got!r}")
        return canonical_transcript(detail)

    def fetch_in_order(self, ids: Iterable[str]) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """Yield ``(id, record or None if deleted meanwhile)`` in the order of ``ids``.

        At most ``max_workers`` requests run at once and at most ``max_workers * 16`` records wait
        for the writer, whatever order the fetches finish in.
        """
        return fetch_in_order(ids, self._fetch, max_workers=self.max_workers)

    def write(
        self,
        ids: Sequence[str],
        stream: IO[Any],
        export_format: str,
        *,
        prepare: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
        fields: Sequence[str] | None = None,
    ) -> ExportResult:
        """Fetch ``ids`` and write them to ``stream`` in order (binary for Parquet, else text).

        :param prepare: applied to each canonical record before it is written (e.g.
            :meth:`xentree_provider.redaction.RecordRedactor.apply`).
        :param fields: the top-level record fields written (None: all); ``prepare`` keeps the same.
        """
        writer = record_writer(export_format, stream, fields)
        writer.header()
        result = ExportResult(listed=len(ids))
        last_log = time.monotonic()
        for tid, record in self.fetch_in_order(ids):
            if record is None:
                self.log.warning("Transcript %s was deleted after it was listed; it is not exported", tid)
                result.missing.append(tid)
                continue
            result.rows += writer.write(prepare(record) if prepare is not None else record)
            result.count += 1
            result.turns += len(record["turns"])
            if time.monotonic() - last_log > 30:
                last_log = time.monotonic()
                self.log.info("Exported %d of %d transcripts", result.count, len(ids))
        writer.finish()
        return result
