"""What operators that export a window of records to one file share: their common arguments, the wait
for a window to settle, the atomic write with its cleanup, and the summary on the Asset event.

:class:`ExportsToFile` is the mixin (with the hook, the output Asset and the file lineage);
:func:`export_arguments` checks the common arguments in ``__init__``, before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import IO, TYPE_CHECKING, Any, TypeVar

from xentree_provider._task.arguments import bounded_int_argument, duration_argument
from xentree_provider._task.assets import DeclaresOutputAsset, add_outlet, resolve_asset
from xentree_provider._task.hooked import UsesXentreeHook, fail_fast_on_bad_config
from xentree_provider._task.lineage import WritesFileLineage
from xentree_provider._task.redaction import RedactionOptions, redaction_options
from xentree_provider.exports.errors import XentreeEmptyWindowError
from xentree_provider.exports.fetching import MAX_WORKERS_LIMIT
from xentree_provider.exports.window import TimeWindow
from xentree_provider.exports.writers import BINARY_FORMATS, EXPORT_FORMATS
from xentree_provider.tabular.parquet import require_pyarrow

if TYPE_CHECKING:
    from airflow.sdk import Asset, Context, ObjectStoragePath

    from xentree_provider._task.lineage import Lineage

__all__ = ["COMPRESSIONS", "DEFAULT_SETTLE", "ExportsToFile", "export_arguments"]

COMPRESSIONS = (None, "gzip")
DEFAULT_SETTLE = timedelta(minutes=5)
_Result = TypeVar("_Result")


def export_arguments(
    kwargs: dict[str, Any],
    *,
    output_path: Any,
    export_format: str,
    compression: str | None,
    max_workers: int,
    page_size: int,
    settle: timedelta | float,
    stale_temp_age: timedelta | float,
    asset: Asset | str | bool | None,
    redact: Sequence[str] | str | None,
    redaction: str,
    fields: Sequence[str] | str | None,
    redaction_key_conn_id: str | None,
    redaction_key_variable: str | None,
    available_fields: Sequence[str],
) -> dict[str, Any]:
    """Check the arguments every file export takes (``ValueError`` / ``XentreeConfigError`` naming the
    argument) and add the output Asset to the operator's ``outlets`` in ``kwargs``; return the checked
    values by the attribute names of :class:`ExportsToFile` (for :meth:`ExportsToFile.set_export_arguments`).

    ``available_fields`` are the top-level fields of the export's records, in file order (what
    ``fields`` may keep); see :func:`xentree_provider._task.redaction.redaction_options`.
    """
    if export_format not in EXPORT_FORMATS:
        raise ValueError(f"export_format must be one of {', '.join(EXPORT_FORMATS)}, got {export_format!r}")
    compression = None if compression in ("", "none") else compression
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be None or 'gzip', got {compression!r}")
    if compression and export_format in BINARY_FORMATS:
        raise ValueError(
            f"compression={compression!r} does not apply to export_format={export_format!r}: the "
            "format compresses inside the file; leave compression=None"
        )
    outlet = resolve_asset(asset, output_path)
    add_outlet(kwargs, outlet)
    return dict(
        export_format=export_format,
        compression=compression,
        max_workers=bounded_int_argument(max_workers, "max_workers", MAX_WORKERS_LIMIT),
        page_size=bounded_int_argument(page_size, "page_size", 200),
        settle=duration_argument(settle, "settle"),
        stale_temp_age=duration_argument(stale_temp_age, "stale_temp_age"),
        asset=outlet,
        redaction_options=redaction_options(
            redact=redact,
            redaction=redaction,
            fields=fields,
            key_conn_id=redaction_key_conn_id,
            key_variable=redaction_key_variable,
            available_fields=available_fields,
        ),
    )


class ExportsToFile(WritesFileLineage, DeclaresOutputAsset, UsesXentreeHook):
    """Mixin for operators that export a window of records to the file at ``output_path``."""

    output_path: str
    output_conn_id: str | None
    export_format: str
    compression: str | None
    max_workers: int
    page_size: int
    settle: float
    stale_temp_age: float
    asset: Asset | None
    redaction_options: RedactionOptions
    #: Keys of the summary copied into the output Asset's event.
    summary_in_asset_event: tuple[str, ...] = (
        "path",
        "count",
        "bytes",
        "format",
        "window",
        "redactions",
    )
    log: Any

    xentree_conn_id: str
    start: Any
    end: Any
    fail_on_empty: bool
    hook_overrides: dict[str, Any]

    def set_export_arguments(
        self,
        arguments: Mapping[str, Any],
        *,
        output_path: str,
        xentree_conn_id: str,
        start: Any,
        end: Any,
        output_conn_id: str | None,
        fail_on_empty: bool,
        hook_overrides: Mapping[str, Any] | None,
    ) -> None:
        """Keep the checked common arguments (from :func:`export_arguments`) and the other arguments
        every export takes as attributes (call after ``BaseOperator.__init__``)."""
        for name, value in arguments.items():
            setattr(self, name, value)
        self.output_path = output_path
        self.xentree_conn_id = xentree_conn_id
        self.start = start
        self.end = end
        self.output_conn_id = output_conn_id
        self.fail_on_empty = fail_on_empty
        self.hook_overrides = dict(hook_overrides or {})

    #: What the exported records are called in log lines (e.g. ``"transcripts"``).
    exported_records: str = "records"

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> dict[str, Any]:
        """Resolve the window; wait for it to settle; select, fetch and write; return a summary."""
        return self.start_export(context)

    @fail_fast_on_bad_config
    def execute_settled(self, context: Context, event: Any = None) -> dict[str, Any]:
        """Resume once the window has settled: export it."""
        return self._export(context, self._selection(context))

    def _selection(self, context: Context) -> Any:
        """The run's selection (with a ``window`` and ``describe()``), before any request."""
        raise NotImplementedError(f"{type(self).__name__} must define _selection()")

    def _exporter(self, context: Context, selection: Any) -> Any:
        """The exporter of ``selection`` (with ``select()`` and ``write(chosen, stream, format, prepare=,
        fields=)`` returning a result with ``rows`` and ``missing``)."""
        raise NotImplementedError(f"{type(self).__name__} must define _exporter()")

    def _written(self, result: Any) -> int:
        """How many records ``result`` wrote (0: the window was empty)."""
        raise NotImplementedError(f"{type(self).__name__} must define _written()")

    def _summary(self, path: str, size: int, window: TimeWindow, result: Any) -> dict[str, Any]:
        """The return value (see :meth:`export_summary`), logged."""
        raise NotImplementedError(f"{type(self).__name__} must define _summary()")

    def _lineage(self, size: int | None = None, rows: int | None = None) -> Lineage:
        """The lineage of the export (inputs read, the file written)."""
        raise NotImplementedError(f"{type(self).__name__} must define _lineage()")

    def _export(self, context: Context, selection: Any) -> dict[str, Any]:
        """Select, fetch and write ``selection`` atomically (``fail_on_empty`` checked on what was
        written, before the file is moved in place); record lineage and the Asset event; return the
        summary."""
        destination = self._destination()
        redactor = self.redaction_options.record_redactor()  # the key is read before any request
        exporter = self._exporter(context, selection)
        chosen = exporter.select()
        self.log.info("Reading %d %s item(s) for %s", len(chosen), self.exported_records, destination)

        def write(stream: IO[Any]) -> Any:
            written = exporter.write(
                chosen,
                stream,
                self.export_format,
                prepare=redactor.apply if redactor.active else None,
                fields=redactor.fields,
            )
            if self.fail_on_empty and not self._written(written):
                raise XentreeEmptyWindowError(
                    f"no {self.exported_records} with {selection.describe()}; nothing was written to "
                    f"{destination} (fail_on_empty=True)"
                )
            return written

        result, size = self.write_file(destination, write)
        summary = self._summary(str(destination), size, selection.window, result)
        summary["redactions"] = redactor.counts()
        self.record_lineage(self._lineage(size, result.rows))
        self.announce(context, summary)
        return summary

    def start_export(self, context: Context) -> dict[str, Any]:
        """What ``execute`` does: resolve the window and check the output, the redaction key and
        pyarrow before any request; wait for the window to settle (deferring to ``execute_settled``);
        export."""
        selection = self._selection(context)
        self._destination()
        self.redaction_options.record_redactor()  # a missing or bad key fails before the wait
        if self.export_format in BINARY_FORMATS:
            require_pyarrow()
        self.wait_for_window(selection.window, selection.describe(), self.exported_records)
        return self._export(context, selection)

    def _destination(self) -> ObjectStoragePath:
        from xentree_provider._task.outputs import file_destination

        return file_destination(self.output_path, self.output_conn_id)

    def wait_for_window(self, window: TimeWindow, describe: str, what: str) -> None:
        """Defer to ``execute_settled`` when the run starts less than ``settle`` after the window's end
        (no worker slot held meanwhile); warn when the window has not ended (later ``what`` are left
        out)."""
        end, now = window.end, datetime.now(timezone.utc)
        if end is not None and end <= now < end + timedelta(seconds=self.settle):
            from airflow.providers.standard.triggers.temporal import DateTimeTrigger

            settled_at = end + timedelta(seconds=self.settle)
            self.log.info("Window %s settles at %s; deferring until then", describe, settled_at)
            self.defer(trigger=DateTimeTrigger(settled_at), method_name="execute_settled")  # type: ignore[attr-defined]
        if end is not None and now < end:
            self.log.warning("Window %s has not ended: later %s are not exported", describe, what)

    def write_file(
        self, destination: ObjectStoragePath, write: Callable[[IO[Any]], _Result]
    ) -> tuple[_Result, int]:
        """Run ``write`` on a stream that becomes ``destination`` only when it returns (binary for the
        binary formats, else UTF-8 text; gzip when asked); clean up killed tries' temporaries; return
        what ``write`` returned and the file's size in bytes."""
        from xentree_provider._task.outputs import atomic_write, remove_stale_temporaries

        binary = self.export_format in BINARY_FORMATS
        with atomic_write(destination, binary=binary, compress=self.compression == "gzip") as stream:
            result = write(stream)
        remove_stale_temporaries(destination, min_age=self.stale_temp_age, log=self.log)
        return result, int(destination.stat().st_size)

    def export_summary(
        self, path: str, size: int, window: TimeWindow, count: int, missing: int, **counts: int
    ) -> dict[str, Any]:
        """The task's return value: where the file is, what it holds (``count`` records, then the
        export's own ``counts``), its size, format and window, records gone before their read."""
        return {
            "path": path,
            "count": count,
            **counts,
            "bytes": size,
            "format": self.export_format,
            "compression": self.compression,
            "window": window.to_params(),
            "missing": missing,
            "asset": self.asset.uri if self.asset is not None else None,
        }

    def announce(self, context: Context, summary: Mapping[str, Any]) -> None:
        """Attach the summary (:attr:`summary_in_asset_event`) to this run's event of the output Asset."""
        outlet_events = context.get("outlet_events")
        if self.asset is not None and outlet_events is not None:
            outlet_events[self.asset].extra = {key: summary[key] for key in self.summary_in_asset_event}
