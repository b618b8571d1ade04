"""Operators for Xentree Live: scheduled transcript exports.

``XentreeTranscriptExportOperator`` writes the Live transcripts of one time window (by default the
run's data interval) to a file in any object store, atomically and reproducibly:

1. the newest-first transcript list is read until it is older than the window; only ``(started,
   id)`` of the window's transcripts are kept (a few dozen bytes each);
2. they are sorted by ``(session_started_at, id)``, and each transcript's turns are fetched by a
   thread pool over the hook's pooled session, at most ``max_workers`` at a time and a bounded
   number ahead of the writer, so memory does not grow with the number of transcripts;
3. records are written in that order, with canonical timestamps and a fixed field order, to a
   temporary file beside the destination that is moved into place only when complete.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import IO, TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator

from xentree_provider._task.assets import DeclaresOutputAsset, add_outlet, resolve_asset
from xentree_provider._task.hooked import UsesXentreeHook, fail_fast_on_bad_config
from xentree_provider.api.conditions import AFTER, BEFORE, TimeWindow, record_instant
from xentree_provider.api.errors import (
    XentreeConfigError,
    XentreeError,
    XentreeNotFoundError,
    XentreeResponseError,
)
from xentree_provider.api.timestamps import format_timestamp, parse_timestamp
from xentree_provider.links.xentree import XentreeTranscriptLink

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from xentree_provider.hooks.xentree import XentreeHook


__all__ = [
    "CSV_COLUMNS",
    "EXPORT_FORMATS",
    "TranscriptExporter",
    "XentreeEmptyWindowError",
    "XentreeTranscriptExportOperator",
    "canonical_transcript",
    "export_window",
]

EXPORT_FORMATS = ("jsonl", "csv")
COMPRESSIONS = (None, "gzip")
CSV_COLUMNS = (
    "transcript_id",
    "session_id",
    "session_started_at",
    "session_ended_at",
    "created_at",
    "turn_count",
    "turn_index",
    "role",
    "text",
    "timestamp",
)
MAX_WORKERS_LIMIT = 32  # the hook's connection pool size
READ_AHEAD_PER_WORKER = 16
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


class XentreeEmptyWindowError(XentreeError):
    """The export window holds no transcripts and ``fail_on_empty`` is set."""


# -- canonical records -----------------------------------------------------------------------------


# Already canonical: UTC "Z", whole seconds or a non-zero six-digit fraction (the common case, so
# the export skips parsing it).
_CANONICAL_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(?!000000)\d{6})?Z")


def _timestamp(value: Any, what: str) -> str | None:
    """One canonical form for every timestamp variant: UTC, ``Z``, fraction only when non-zero."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and _CANONICAL_TIMESTAMP.fullmatch(value):
        return value
    try:
        return format_timestamp(parse_timestamp(value))
    except (TypeError, ValueError):
        raise XentreeResponseError(f"{what} is not an ISO-8601 timestamp: {value!r}") from None


def canonical_transcript(detail: Mapping[str, Any]) -> dict[str, Any]:
    """A transcript as exported: fixed fields in a fixed order, canonical timestamps, turns nested.

    Unknown fields of the API response are left out, so the file's schema does not drift.
    """
    tid = detail.get("id")
    raw_turns = detail.get("transcripts") or []
    if not isinstance(raw_turns, list):
        raise XentreeResponseError(f"transcript {tid!r}: 'transcripts' is not a list")
    turns = [
        {
            "role": turn.get("role"),
            "text": turn.get("text"),
            "timestamp": _timestamp(turn.get("timestamp"), f"transcript {tid!r} turn {index}"),
        }
        for index, turn in enumerate(raw_turns)
    ]
    turn_count = detail.get("turn_count")
    return {
        "id": tid,
        "session_id": detail.get("session_id"),
        "session_started_at": _timestamp(detail.get("session_started_at"), f"transcript {tid!r} start"),
        "session_ended_at": _timestamp(detail.get("session_ended_at"), f"transcript {tid!r} end"),
        "created_at": _timestamp(detail.get("created_at"), f"transcript {tid!r} creation"),
        "turn_count": turn_count if isinstance(turn_count, int) else len(turns),
        "turns": turns,
    }


class _JsonlWriter:
    """One transcript per line, turns nested; compact, key order fixed, UTF-8."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def header(self) -> None:
        """JSON Lines has no header."""

    def write(self, record: Mapping[str, Any]) -> None:
        self.stream.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        self.stream.write("\n")


class _CsvWriter:
    """One row per turn (a transcript without turns gets one row with empty turn columns)."""

    def __init__(self, stream: IO[str]) -> None:
        self.writer = csv.writer(stream, lineterminator="\n")

    def header(self) -> None:
        self.writer.writerow(CSV_COLUMNS)

    def write(self, record: Mapping[str, Any]) -> None:
        common = [
            record["id"],
            record["session_id"],
            record["session_started_at"],
            record["session_ended_at"] or "",
            record["created_at"] or "",
            record["turn_count"],
        ]
        turns = record["turns"]
        if not turns:
            self.writer.writerow([*common, "", "", "", ""])
        for index, turn in enumerate(turns):
            self.writer.writerow(
                [*common, index, turn["role"] or "", turn["text"] or "", turn["timestamp"] or ""]
            )


# -- window and asset helpers ----------------------------------------------------------------------


def export_window(
    context: Mapping[str, Any], start: Any = None, end: Any = None
) -> tuple[datetime, datetime]:
    """The ``[start, end)`` window of this run (see ``resolve_window``), with a clear error for runs
    whose data interval is empty (Airflow 3's default ``CronTriggerTimetable`` schedules)."""
    from xentree_provider._task.window import resolve_window

    if start in (None, "") and end in (None, ""):
        interval_start = context.get("data_interval_start")
        interval_end = context.get("data_interval_end")
        if interval_start is not None and interval_start == interval_end:
            raise XentreeConfigError(
                f"this run's data interval is empty ({interval_start} to {interval_end}): in Airflow 3, "
                "schedule='@daily' means CronTriggerTimetable, whose runs cover no interval. Schedule "
                "with CronDataIntervalTimetable('@daily', timezone='UTC') (from airflow.sdk), or pass "
                "start and end, e.g. start='{{ macros.ds_add(ds, -1) }}', end='{{ ds }}'"
            )
    return resolve_window(context, start, end)


def _micros(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


# -- the export itself (no Airflow context: testable with a hook alone) ----------------------------


@dataclass
class ExportResult:
    """What an export wrote."""

    count: int = 0
    turns: int = 0
    missing: list[str] = field(default_factory=list)
    listed: int = 0


class TranscriptExporter:
    """Exports the transcripts of a window with a :class:`~xentree_provider.hooks.xentree.XentreeHook`.

    :param hook: the hook (thread-safe; its pooled session serves every worker).
    :param window: the ``[start, end)`` window on ``session_started_at``.
    :param max_workers: transcripts fetched concurrently.
    :param page_size: list page size.
    :param log: where progress goes.
    """

    def __init__(
        self,
        hook: XentreeHook,
        window: TimeWindow,
        *,
        max_workers: int = 8,
        page_size: int = 200,
        log: Any = None,
    ) -> None:
        self.hook = hook
        self.window = window
        self.max_workers = max_workers
        self.page_size = page_size
        self.log: Any = log or hook.log

    def select(self) -> list[str]:
        """Ids of the window's transcripts, sorted by ``(session_started_at, id)``.

        Reads the newest-first list and stops at the first transcript older than the window. A
        transcript seen twice (the list shifted while paging) is kept once.
        """
        started: dict[str, int] = {}
        scanned = 0
        for record in self.hook.iter_transcripts(page_size=self.page_size):
            scanned += 1
            instant = record_instant(record)
            position = self.window.position(instant)
            if position == AFTER:
                continue
            if position == BEFORE:
                break
            tid = record.get("id")
            if not isinstance(tid, str) or not tid:
                raise XentreeResponseError(f"a transcript in the list has no id: {dict(record)!r:.200}")
            started[tid] = _micros(instant)
        self.log.info(
            "Window %s: %d transcript(s) found after reading %d list entries",
            self.window.describe(),
            len(started),
            scanned,
        )
        return [tid for tid, _ in sorted(started.items(), key=lambda item: (item[1], item[0]))]

    def _fetch(self, tid: str) -> dict[str, Any] | None:
        try:
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
        ahead = self.max_workers * READ_AHEAD_PER_WORKER
        todo = iter(ids)
        pending: deque[tuple[str, Future[dict[str, Any] | None]]] = deque()
        with ThreadPoolExecutor(self.max_workers, thread_name_prefix="xentree-export") as pool:
            try:
                for tid in islice(todo, ahead):
                    pending.append((tid, pool.submit(self._fetch, tid)))
                while pending:
                    tid, future = pending.popleft()
                    record = future.result()
                    following = next(todo, None)
                    if following is not None:
                        pending.append((following, pool.submit(self._fetch, following)))
                    yield tid, record
            finally:
                for _, future in pending:
                    future.cancel()

    def write(self, ids: Sequence[str], stream: IO[str], export_format: str) -> ExportResult:
        """Fetch ``ids`` and write them to ``stream`` (text) in order."""
        writer = _CsvWriter(stream) if export_format == "csv" else _JsonlWriter(stream)
        writer.header()
        result = ExportResult(listed=len(ids))
        last_log = time.monotonic()
        for tid, record in self.fetch_in_order(ids):
            if record is None:
                self.log.warning("Transcript %s was deleted after it was listed; it is not exported", tid)
                result.missing.append(tid)
                continue
            writer.write(record)
            result.count += 1
            result.turns += len(record["turns"])
            if time.monotonic() - last_log > 30:
                last_log = time.monotonic()
                self.log.info("Exported %d of %d transcripts", result.count, len(ids))
        return result


# -- the operator ----------------------------------------------------------------------------------


class XentreeTranscriptExportOperator(DeclaresOutputAsset, UsesXentreeHook, BaseOperator):
    """Exports the Xentree Live transcripts of a time window to a file in object storage.

    The window is the run's data interval (``data_interval_start`` inclusive, ``data_interval_end``
    exclusive) unless ``start`` / ``end`` are given; transcripts are selected by
    ``session_started_at``. The file is sorted by ``(session_started_at, id)``, its timestamps are
    canonical (UTC, ``Z``), and it is written beside the destination and moved into place when
    complete: a failed or killed try leaves no file at ``output_path``, and a re-run of the same
    window over the same data writes a byte-identical file.

    ``jsonl``: one transcript per line, ``{"id", "session_id", "session_started_at",
    "session_ended_at", "created_at", "turn_count", "turns": [{"role", "text", "timestamp"}]}``.
    ``csv``: a header, then one row per turn (columns :data:`CSV_COLUMNS`).

    The output is registered as an Airflow Asset outlet (URI derived from ``output_path``, see
    ``asset``) whose events carry the written path, and as OpenLineage output when the OpenLineage
    provider is installed. Returns ``{"path", "count", "turns", "bytes", "format", "compression",
    "window", "missing", "asset"}``.

    :param output_path: destination (templated): an absolute local path or a URL (``file://``,
        ``s3://``, ``gs://``, ...).
    :param xentree_conn_id: the Xentree connection id (templated).
    :param start: window start, ISO date or datetime (templated); default the data interval start.
    :param end: window end, exclusive (templated); default the data interval end.
    :param export_format: ``jsonl`` or ``csv``.
    :param compression: None or ``gzip`` (deterministic gzip: no name or time in the header).
    :param output_conn_id: Airflow connection for remote storage (templated), e.g. an AWS connection.
    :param max_workers: transcripts fetched concurrently (1..32).
    :param page_size: transcript list page size (1..200).
    :param fail_on_empty: fail (``XentreeEmptyWindowError``) instead of writing an empty file.
    :param asset: the Asset outlet: None derives it from ``output_path`` (its static directory when
        the path is templated), a string is an Asset URI, an ``Asset`` is used as is, False disables.
    :param hook_overrides: keyword overrides for the hook (``timeout``, ``max_retries``, ...).
    :param stale_temp_age: after a successful write, hidden temporaries of the same ``output_path``
        last modified at least this long ago (a ``timedelta`` or seconds; default one hour) are taken
        for killed tries' and removed. Younger ones may belong to a try still running and are kept, as
        are all of them on stores that report no modification time.
    """

    template_fields: Sequence[str] = ("xentree_conn_id", "start", "end", "output_path", "output_conn_id")
    operator_extra_links = (XentreeTranscriptLink(),)
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        output_path: str,
        xentree_conn_id: str = "xentree_default",
        start: Any = None,
        end: Any = None,
        export_format: str = "jsonl",
        compression: str | None = None,
        output_conn_id: str | None = None,
        max_workers: int = 8,
        page_size: int = 200,
        fail_on_empty: bool = False,
        asset: Asset | str | bool | None = None,
        hook_overrides: Mapping[str, Any] | None = None,
        stale_temp_age: timedelta | float = timedelta(hours=1),
        **kwargs: Any,
    ) -> None:
        if export_format not in EXPORT_FORMATS:
            raise ValueError(
                f"export_format must be one of {', '.join(EXPORT_FORMATS)}, got {export_format!r}"
            )
        if compression in ("", "none"):
            compression = None
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be None or 'gzip', got {compression!r}")
        if not isinstance(max_workers, int) or not 1 <= max_workers <= MAX_WORKERS_LIMIT:
            raise ValueError(
                f"max_workers must be an integer from 1 to {MAX_WORKERS_LIMIT}, got {max_workers!r}"
            )
        if not isinstance(page_size, int) or not 1 <= page_size <= 200:
            raise ValueError(f"page_size must be an integer from 1 to 200, got {page_size!r}")
        stale_seconds = (
            stale_temp_age.total_seconds() if isinstance(stale_temp_age, timedelta) else stale_temp_age
        )
        if isinstance(stale_seconds, bool) or not isinstance(stale_seconds, int | float) or stale_seconds < 0:
            raise ValueError(
                f"stale_temp_age must be a timedelta or a number of seconds >= 0, got {stale_temp_age!r}"
            )
        outlet = resolve_asset(asset, output_path)
        add_outlet(kwargs, outlet)
        super().__init__(**kwargs)
        self.output_path = output_path
        self.xentree_conn_id = xentree_conn_id
        self.start = start
        self.end = end
        self.export_format = export_format
        self.compression = compression
        self.output_conn_id = output_conn_id
        self.max_workers = max_workers
        self.page_size = page_size
        self.fail_on_empty = fail_on_empty
        self.asset = outlet
        self.hook_overrides = dict(hook_overrides or {})
        self.stale_temp_age = float(stale_seconds)
        self._lineage: dict[str, str] | None = None

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> dict[str, Any]:
        """Resolve the window, select, fetch and write; return a small summary."""
        from xentree_provider._task.outputs import atomic_write, output_path

        start, end = export_window(context, self.start, self.end)  # before any request
        window = TimeWindow(start, end)
        destination = output_path(self.output_path, self.output_conn_id)
        base_url = self.hook.settings.base_url
        XentreeTranscriptLink.persist(context, base_url)
        self._lineage = {"base_url": base_url, "output": str(destination)}

        exporter = TranscriptExporter(
            self.hook, window, max_workers=self.max_workers, page_size=self.page_size, log=self.log
        )
        ids = exporter.select()
        if not ids and self.fail_on_empty:
            raise XentreeEmptyWindowError(
                f"no transcripts started in {window.describe()}; nothing was written to {destination} "
                "(fail_on_empty=True)"
            )
        self.log.info("Writing %d transcript(s) to %s", len(ids), destination)
        with atomic_write(destination, binary=False, compress=self.compression == "gzip") as stream:
            result = exporter.write(ids, stream, self.export_format)
        self._remove_stale_temporaries(destination)
        size = int(destination.stat().st_size)
        summary: dict[str, Any] = {
            "path": str(destination),
            "count": result.count,
            "turns": result.turns,
            "bytes": size,
            "format": self.export_format,
            "compression": self.compression,
            "window": window.to_params(),
            "missing": len(result.missing),
            "asset": self.asset.uri if self.asset is not None else None,
        }
        if self.asset is not None:
            outlet_events = context.get("outlet_events")
            if outlet_events is not None:
                outlet_events[self.asset].extra = {
                    k: summary[k] for k in ("path", "count", "bytes", "format", "window")
                }
        self.log.info(
            "Exported %d transcript(s), %d turn(s), %d bytes to %s",
            result.count,
            result.turns,
            size,
            destination,
        )
        return summary

    def _remove_stale_temporaries(self, destination: ObjectStoragePath) -> None:
        """Delete temporaries of this destination left by killed tries (best effort)."""
        from xentree_provider._task.outputs import stale_temporaries

        try:
            for stale in stale_temporaries(destination.parent, destination.name, min_age=self.stale_temp_age):
                self.log.warning("Removing %s, left by an earlier killed try", stale)
                stale.unlink()
        except Exception as error:  # cleanup must never fail a finished export
            self.log.warning("Could not clean up stale temporaries beside %s: %s", destination, error)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage input (the Xentree transcripts) and output (the file), if OpenLineage is installed."""
        try:
            from airflow.providers.common.compat.openlineage.facet import Dataset
            from airflow.providers.openlineage.extractors import OperatorLineage
        except ImportError:
            return None
        if not self._lineage:
            return None
        output = self._lineage["output"]
        scheme, _, rest = output.partition("://")
        if scheme == "file":
            namespace, name = "file", "/" + rest.lstrip("/")
        else:
            bucket, _, key = rest.partition("/")
            namespace, name = f"{scheme}://{bucket}", key
        return OperatorLineage(
            inputs=[Dataset(namespace=self._lineage["base_url"], name="live/transcripts")],
            outputs=[Dataset(namespace=namespace, name=name)],
        )
