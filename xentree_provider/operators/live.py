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

from xentree_provider._task.arguments import duration_argument
from xentree_provider._task.exports import DEFAULT_SETTLE, ExportsToFile, export_arguments
from xentree_provider._task.lineage import ApiInput, FileOutput, Lineage
from xentree_provider._task.window import interval_window as export_window
from xentree_provider.api.routes import route
from xentree_provider.links.xentree import XentreeTranscriptLink
from xentree_provider.transcripts.errors import XentreeEmptyWindowError
from xentree_provider.transcripts.exporter import ExportResult, TranscriptExporter
from xentree_provider.transcripts.records import canonical_transcript
from xentree_provider.transcripts.schema import export_schema
from xentree_provider.transcripts.selection import (
    DEFAULT_MAX_ARRIVAL_LAG,
    WINDOW_FIELDS,
    Selection,
    TimeWindow,
)
from xentree_provider.transcripts.writers import CSV_COLUMNS, EXPORT_FORMATS, RECORD_FIELDS

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


class XentreeTranscriptExportOperator(ExportsToFile, BaseOperator):
    """Exports the Xentree Live transcripts of a time window to a file in object storage.

    The window is the run's data interval (``data_interval_start`` inclusive, ``data_interval_end``
    exclusive) unless ``start`` / ``end`` are given; transcripts are selected by
    ``window_field``: ``session_started_at`` (the default) or ``created_at`` (when the transcript was
    saved: consecutive windows then hold every transcript exactly once, however late it is saved, up
    to ``max_arrival_lag``). A run that starts between ``end`` and ``end + settle`` first waits in the
    triggerer (a window that has not ended yet is exported as it is, with a warning).
    The file is sorted by ``(window_field, id)``, its timestamps are
    canonical (UTC, ``Z``), and it is written beside the destination and moved into place when
    complete: a failed or killed try leaves no file at ``output_path``, and a re-run of the same
    window over the same data writes a byte-identical file.

    ``jsonl``: one transcript per line, ``{"id", "session_id", "session_started_at",
    "session_ended_at", "created_at", "turn_count", "turns": [{"role", "text", "timestamp"}]}``.
    ``csv``: a header, then one row per turn (columns :data:`CSV_COLUMNS`).
    ``parquet``: one row per transcript, turns a list of structs, with the fixed schema of
    :data:`~xentree_provider.transcripts.schema.TRANSCRIPT_SCHEMA` (needs the ``parquet`` extra).

    The output is registered as an Airflow Asset outlet (URI derived from ``output_path``, see
    ``asset``) whose events carry the written path, and as OpenLineage output when the OpenLineage
    provider is installed. Returns ``{"path", "count", "turns", "bytes", "format", "compression",
    "window", "missing", "asset", "redactions"}``; ``turns`` counts the turns written (0 when
    ``fields`` leaves them out); ``redactions`` counts the matches replaced per
    pattern (``{"email": 3, "phone": 1, "pattern_1": 0}``, ``{}`` without ``redact``).

    ``redact`` replaces e-mail addresses, phone numbers or custom regex matches in every free-text
    field (turn texts; ids and timestamps are never touched) with a mask or a keyed hash, and
    ``fields`` keeps only some top-level fields: see the redaction page of the docs. Pattern-based:
    not a guarantee that no personal data remains.

    :param output_path: destination (templated): an absolute local path or a URL (``file://``,
        ``s3://``, ``gs://``, ...).
    :param xentree_conn_id: the Xentree connection id (templated).
    :param start: window start, ISO date or datetime (templated); default the data interval start.
    :param end: window end, exclusive (templated); default the data interval end.
    :param window_field: ``session_started_at`` or ``created_at`` (see above).
    :param max_arrival_lag: with ``created_at``, how long after its session a transcript may be saved
        (a ``timedelta`` or seconds; default 48 hours); the list is read back to sessions started that
        long before the window, and transcripts saved later than 80% of it are warned about.
    :param settle: how long after the window's end saves still in flight may land (a ``timedelta``
        or seconds; default 5 minutes); a run starting after ``end`` but before ``end + settle``
        defers until then without holding a worker slot.
    :param export_format: ``jsonl``, ``csv`` or ``parquet``.
    :param compression: None or ``gzip`` (deterministic gzip: no name or time in the header); Parquet
        compresses inside the file (zstd), so it takes None.
    :param output_conn_id: Airflow connection for remote storage (templated), e.g. an AWS connection.
    :param max_workers: transcripts fetched concurrently (1..32).
    :param page_size: transcript list page size (1..200).
    :param fail_on_empty: fail (``XentreeEmptyWindowError``) instead of writing an empty file.
    :param asset: the Asset outlet: None derives it from ``output_path`` (its static directory when
        the path is templated), a string is an Asset URI, an ``Asset`` is used as is, False disables.
    :param hook_overrides: keyword overrides for the hook (``timeout``, ``max_retries``, ...).
    :param redact: what to redact: ``"email"``, ``"phone"`` and custom regexes (compiled when the
        task is built), in any mix; None (the default) redacts nothing.
    :param redaction: ``"mask"`` (``[email]``, ``[phone]``, ``[redacted]``) or ``"hash"``
        (``[email:<16 hex of HMAC-SHA256>]``, stable for a key, so it joins across files).
    :param fields: the top-level fields to write (of ``id``, ``session_id``, ``session_started_at``,
        ``session_ended_at``, ``created_at``, ``turn_count``, ``turns``); ``id`` is always written.
        None writes all.
    :param redaction_key_conn_id: with ``hash``, a connection whose password is the HMAC key.
    :param redaction_key_variable: with ``hash``, or the name of an Airflow Variable holding the key.
    :param stale_temp_age: after a successful write, hidden temporaries of the same ``output_path``
        last modified at least this long ago (a ``timedelta`` or seconds; default one hour) are taken
        for killed tries' and removed. Younger ones may belong to a try still running and are kept, as
        are all of them on stores that report no modification time.
    """

    template_fields: Sequence[str] = ("xentree_conn_id", "start", "end", "output_path", "output_conn_id")
    exported_records = "transcripts"
    operator_extra_links = (XentreeTranscriptLink(),)
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        output_path: str,
        xentree_conn_id: str = "xentree_default",
        start: Any = None,
        end: Any = None,
        window_field: str = "session_started_at",
        max_arrival_lag: timedelta | float = DEFAULT_MAX_ARRIVAL_LAG,
        settle: timedelta | float = DEFAULT_SETTLE,
        export_format: str = "jsonl",
        compression: str | None = None,
        output_conn_id: str | None = None,
        max_workers: int = 8,
        page_size: int = 200,
        fail_on_empty: bool = False,
        asset: Asset | str | bool | None = None,
        hook_overrides: Mapping[str, Any] | None = None,
        stale_temp_age: timedelta | float = timedelta(hours=1),
        redact: Sequence[str] | str | None = None,
        redaction: str = "mask",
        fields: Sequence[str] | None = None,
        redaction_key_conn_id: str | None = None,
        redaction_key_variable: str | None = None,
        **kwargs: Any,
    ) -> None:
        if window_field not in WINDOW_FIELDS:
            raise ValueError(f"window_field must be one of {', '.join(WINDOW_FIELDS)}, got {window_field!r}")
        arguments = export_arguments(
            kwargs,
            output_path=output_path,
            export_format=export_format,
            compression=compression,
            max_workers=max_workers,
            page_size=page_size,
            settle=settle,
            stale_temp_age=stale_temp_age,
            asset=asset,
            redact=redact,
            redaction=redaction,
            fields=fields,
            redaction_key_conn_id=redaction_key_conn_id,
            redaction_key_variable=redaction_key_variable,
            available_fields=RECORD_FIELDS,
        )
        lag_seconds = duration_argument(max_arrival_lag, "max_arrival_lag", positive=True)
        super().__init__(**kwargs)
        self.set_export_arguments(
            arguments,
            output_path=output_path,
            xentree_conn_id=xentree_conn_id,
            start=start,
            end=end,
            output_conn_id=output_conn_id,
            fail_on_empty=fail_on_empty,
            hook_overrides=hook_overrides,
        )
        self.window_field = window_field
        self.max_arrival_lag = lag_seconds

    def _selection(self, context: Context) -> Selection:
        window = TimeWindow(*export_window(context, self.start, self.end))
        return Selection(window, self.window_field, timedelta(seconds=self.max_arrival_lag))

    def _exporter(self, context: Context, selection: Selection) -> TranscriptExporter:
        XentreeTranscriptLink.persist(context, self.hook.settings.base_url)
        return TranscriptExporter(
            self.hook,
            selection,
            max_workers=self.max_workers,
            page_size=self.page_size,
            log=self.log,
            concurrency=self.hook.throttle,  # lowered on 429s, shared with every thread of the hook
        )

    def _written(self, result: ExportResult) -> int:
        return result.count

    def _summary(self, path: str, size: int, window: TimeWindow, result: ExportResult) -> dict[str, Any]:
        self.log.info(
            "Exported %d transcript(s), %d turn(s), %d bytes to %s", result.count, result.turns, size, path
        )
        return self.export_summary(path, size, window, result.count, len(result.missing), turns=result.turns)

    def _lineage(self, size: int | None = None, rows: int | None = None) -> Lineage:
        source = ApiInput(self.hook.settings.base_url, route("list_transcripts").path)
        destination = str(self._destination())
        schema = export_schema(self.export_format, self.redaction_options.fields)
        return Lineage((source,), (FileOutput(destination, schema, rows, size),))

    def planned_lineage(self) -> Lineage:
        """The transcripts endpoint and the export file (for OpenLineage)."""
        return self._lineage()
