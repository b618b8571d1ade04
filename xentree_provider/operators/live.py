"""Operators for Xentree Live: scheduled transcript exports.

``XentreeTranscriptExportOperator`` writes the Live transcripts of one time window (by default the
run's data interval) to a file in any object store, atomically and reproducibly. The selection,
canonical records, writers and the concurrent exporter live in :mod:`xentree_provider.transcripts`;
this module is the Airflow side: arguments, the window from the run, the atomic output, the Asset
event, the link and the lineage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator

from xentree_provider._task.assets import DeclaresOutputAsset, add_outlet, resolve_asset
from xentree_provider._task.hooked import UsesXentreeHook, fail_fast_on_bad_config
from xentree_provider._task.window import interval_window as export_window
from xentree_provider.links.xentree import XentreeTranscriptLink
from xentree_provider.transcripts.errors import XentreeEmptyWindowError
from xentree_provider.transcripts.exporter import MAX_WORKERS_LIMIT, ExportResult, TranscriptExporter
from xentree_provider.transcripts.records import canonical_transcript
from xentree_provider.transcripts.selection import TimeWindow
from xentree_provider.transcripts.writers import CSV_COLUMNS, EXPORT_FORMATS

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "CSV_COLUMNS",
    "EXPORT_FORMATS",
    "ExportResult",
    "TranscriptExporter",
    "XentreeEmptyWindowError",
    "XentreeTranscriptExportOperator",
    "canonical_transcript",
    "export_window",
]

COMPRESSIONS = (None, "gzip")
SUMMARY_IN_ASSET_EVENT = ("path", "count", "bytes", "format", "window")


def _seconds(value: timedelta | float, name: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError(f"{name} must be a timedelta or a number of seconds >= 0, got {value!r}")
    return float(seconds)


def _bounded_int(value: Any, name: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValueError(f"{name} must be an integer from 1 to {high}, got {value!r}")
    return value


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
        compression = None if compression in ("", "none") else compression
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be None or 'gzip', got {compression!r}")
        workers = _bounded_int(max_workers, "max_workers", MAX_WORKERS_LIMIT)
        page = _bounded_int(page_size, "page_size", 200)
        stale_seconds = _seconds(stale_temp_age, "stale_temp_age")
        outlet = resolve_asset(asset, output_path)
        add_outlet(kwargs, outlet)
        super().__init__(**kwargs)
        self.max_workers = workers
        self.page_size = page
        self.stale_temp_age = stale_seconds
        self.asset = outlet
        self.output_path = output_path
        self.xentree_conn_id = xentree_conn_id
        self.start = start
        self.end = end
        self.export_format = export_format
        self.compression = compression
        self.output_conn_id = output_conn_id
        self.fail_on_empty = fail_on_empty
        self.hook_overrides = dict(hook_overrides or {})
        self._lineage: dict[str, str] | None = None

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> dict[str, Any]:
        """Resolve the window, select, fetch and write; return a small summary."""
        from xentree_provider._task.outputs import atomic_write, output_path, remove_stale_temporaries

        window = TimeWindow(*export_window(context, self.start, self.end))  # before any request
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
        remove_stale_temporaries(destination, min_age=self.stale_temp_age, log=self.log)
        summary = self._summary(str(destination), int(destination.stat().st_size), window, result)
        self._announce(context, summary)
        return summary

    def _summary(self, path: str, size: int, window: TimeWindow, result: ExportResult) -> dict[str, Any]:
        self.log.info(
            "Exported %d transcript(s), %d turn(s), %d bytes to %s", result.count, result.turns, size, path
        )
        return {
            "path": path,
            "count": result.count,
            "turns": result.turns,
            "bytes": size,
            "format": self.export_format,
            "compression": self.compression,
            "window": window.to_params(),
            "missing": len(result.missing),
            "asset": self.asset.uri if self.asset is not None else None,
        }

    def _announce(self, context: Context, summary: Mapping[str, Any]) -> None:
        """Attach the summary to this run's event of the output Asset."""
        outlet_events = context.get("outlet_events")
        if self.asset is not None and outlet_events is not None:
            outlet_events[self.asset].extra = {key: summary[key] for key in SUMMARY_IN_ASSET_EVENT}

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage input (the Xentree transcripts) and output (the file), if OpenLineage is installed."""
        from xentree_provider._task.lineage import file_output_lineage

        if not self._lineage:
            return None
        return file_output_lineage(self._lineage["base_url"], "live/transcripts", self._lineage["output"])
