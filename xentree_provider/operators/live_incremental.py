"""Incremental transcript exports: everything saved since the last run, the watermark in Airflow's
asset state store (AIP-103, Airflow 3.3+).

Manual, asset-triggered and event-driven runs have no data interval; this operator needs none. A run
fixes its end when it starts (so the saves that triggered it are in), waits ``settle`` in the
triggerer for saves still in flight, exports the transcripts saved in ``[watermark, end)`` by
``created_at`` and, only once the file is in place, stores ``end`` as the new watermark on the
output Asset. A failed or
killed try leaves the watermark where it was, so the next try exports the same range again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from xentree_provider._compat import AirflowSkipException, require_airflow
from xentree_provider._task.hooked import fail_fast_on_bad_config
from xentree_provider._task.window import parse_instant
from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.api.timestamps import format_timestamp
from xentree_provider.operators.live import XentreeTranscriptExportOperator
from xentree_provider.transcripts.selection import Selection, TimeWindow

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["WATERMARK_KEY", "XentreeIncrementalTranscriptExportOperator"]

WATERMARK_KEY = "xentree_transcripts_saved_before"
"""The asset state key of the watermark: an ISO instant; every transcript saved before it is exported."""
MINIMUM_AIRFLOW = "3.3"


class XentreeIncrementalTranscriptExportOperator(XentreeTranscriptExportOperator):
    """Exports the Live transcripts saved since the previous run, up to when this run started.

    The watermark is kept in the asset state store of the output Asset (key :data:`WATERMARK_KEY`),
    and advanced only after the file is in place. The first run (no watermark yet) starts at
    ``start``, or exports everything saved so far when ``start`` is None. Give each run its own file,
    e.g. ``output_path=".../transcripts/{{ ts_nodash }}.jsonl"`` (the Asset is the path's static
    folder). Returns the summary of :class:`XentreeTranscriptExportOperator` plus ``"watermark"``,
    and raises ``AirflowSkipException`` when nothing can have been saved since the last run. With
    ``settle`` > 0 (default 5 minutes) the run defers that long (no worker slot) before it reads.

    Needs Airflow 3.3 or newer (the asset state store); on older Airflow the task fails at once with
    ``AirflowVersionError``. Takes every argument of :class:`XentreeTranscriptExportOperator` except
    ``end`` and ``window_field`` (always ``created_at``).
    """

    template_fields: Sequence[str] = ("xentree_conn_id", "start", "output_path", "output_conn_id")

    def __init__(self, *, output_path: str, **kwargs: Any) -> None:
        for fixed in ("end", "window_field"):
            if kwargs.get(fixed) not in (None, "created_at" if fixed == "window_field" else None):
                raise ValueError(
                    f"{fixed} cannot be set on an incremental export: it exports by created_at, up to "
                    "the run's start"
                )
            kwargs.pop(fixed, None)
        # One try at a time: two overlapping runs would read the same watermark and export the same
        # range twice. Later runs wait, then start from the watermark the earlier one advanced.
        kwargs.setdefault("max_active_tis_per_dag", 1)
        super().__init__(output_path=output_path, window_field="created_at", **kwargs)
        if self.asset is None:
            raise ValueError(
                "an incremental export keeps its watermark on its output Asset: give asset='...' or an "
                "output_path with a static folder (asset=False is not possible here)"
            )

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> dict[str, Any]:
        """Fix the window's end (now), wait ``settle`` in the triggerer, then export and advance."""
        require_airflow(MINIMUM_AIRFLOW, "an incremental transcript export (the asset state store)")
        self._destination()  # an existing directory fails before any request
        self.redaction_options.record_redactor()  # so does a missing or bad redaction key
        if self.start not in (None, ""):
            parse_instant(self.start, "start")  # a bad first watermark fails before the wait
        end = datetime.now(timezone.utc)
        if self.settle > 0:
            from airflow.providers.standard.triggers.temporal import DateTimeTrigger

            settled_at = end + timedelta(seconds=self.settle)
            self.log.info("Exporting what is saved before %s; deferring until %s", end, settled_at)
            self.defer(
                trigger=DateTimeTrigger(settled_at),
                method_name="execute_settled",
                kwargs={"end": format_timestamp(end)},
            )
        return self._export_since_watermark(context, end)

    @fail_fast_on_bad_config
    def execute_settled(self, context: Context, event: Any = None, end: str | None = None) -> dict[str, Any]:
        """Resume after ``settle``: export up to the end fixed when the run started."""
        if end is None:
            raise XentreeConfigError("the settled export lost its window end; run the task again")
        return self._export_since_watermark(context, parse_instant(end, "end"))

    def _export_since_watermark(self, context: Context, end: datetime) -> dict[str, Any]:
        assert self.asset is not None
        state = context["asset_state_store"][self.asset]  # type: ignore[literal-required]
        stored = state.get(WATERMARK_KEY)
        start = parse_instant(stored, WATERMARK_KEY) if stored else None
        if start is None and self.start not in (None, ""):
            start = parse_instant(self.start, "start")
        if start is not None and start >= end:
            raise AirflowSkipException(
                f"nothing to export: the watermark {format_timestamp(start)} is not before "
                f"{format_timestamp(end)}"
            )
        lag = timedelta(seconds=self.max_arrival_lag)
        summary = self._export(context, Selection(TimeWindow(start, end), "created_at", lag))
        # Only now, the file being in place; and never backwards, should another run have moved it on.
        current = state.get(WATERMARK_KEY)
        if current and current != stored and parse_instant(current, WATERMARK_KEY) >= end:
            self.log.warning(
                "The watermark was moved on to %s by another run while this one exported up to %s; "
                "keeping it (runs of this task overlapped: keep max_active_tis_per_dag=1)",
                current,
                format_timestamp(end),
            )
            return {**summary, "watermark": current}
        state.set(WATERMARK_KEY, format_timestamp(end))
        self.log.info("Watermark advanced to %s", format_timestamp(end))
        return {**summary, "watermark": format_timestamp(end)}
