"""Writers of canonical transcript records: JSON Lines and CSV (text streams), Parquet (binary)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any

from xentree_provider.exports.writers import (
    BINARY_FORMATS,
    EXPORT_FORMATS,
    JsonlWriter,
    RecordWriter,
    format_writer,
)
from xentree_provider.tabular.csv_lines import CsvLines

__all__ = [
    "BINARY_FORMATS",
    "CSV_COLUMNS",
    "EXPORT_FORMATS",
    "RECORD_FIELDS",
    "CsvWriter",
    "JsonlWriter",
    "RecordWriter",
    "csv_columns",
    "record_writer",
]

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
#: The top-level fields of a canonical transcript record, in file order (what ``fields`` selects from).
RECORD_FIELDS = (
    "id",
    "session_id",
    "session_started_at",
    "session_ended_at",
    "created_at",
    "turn_count",
    "turns",
)
_TURN_COLUMNS = ("turn_index", "role", "text", "timestamp")
_CSV_COLUMN_OF_FIELD = {"id": "transcript_id"}


def csv_columns(fields: Sequence[str] | None = None) -> tuple[str, ...]:
    """The CSV columns written for the record ``fields`` kept (all of :data:`CSV_COLUMNS` for None):
    ``id`` is ``transcript_id``, ``turns`` the four turn columns."""
    if fields is None:
        return CSV_COLUMNS
    columns: list[str] = []
    for name in RECORD_FIELDS:
        if name in fields:
            columns.extend(_TURN_COLUMNS if name == "turns" else (_CSV_COLUMN_OF_FIELD.get(name, name),))
    return tuple(columns)


class CsvWriter:
    """One row per turn (a transcript without turns gets one row with empty turn columns).

    Text is written raw (this is data, not a sheet for people); a field holding a line break or a
    carriage return is quoted, so it never splits a row. With ``fields`` (see :func:`csv_columns`)
    only their columns are written; without ``turns``, one row per transcript.
    """

    def __init__(self, stream: IO[str], fields: Sequence[str] | None = None) -> None:
        self.stream = stream
        self.lines = CsvLines()
        self.columns = csv_columns(fields)
        self._common = tuple(name for name in RECORD_FIELDS[:-1] if fields is None or name in fields)
        self._with_turns = fields is None or "turns" in fields

    def header(self) -> None:
        """The column names (:data:`CSV_COLUMNS`, or those of the fields kept)."""
        self.stream.write(self.lines.line(self.columns))

    def write(self, record: Mapping[str, Any]) -> int:
        """One row per turn of ``record`` (one row when the turns are not written)."""
        common = [_csv_cell(record[name]) for name in self._common]
        if not self._with_turns:
            self.stream.write(self.lines.line(common))
            return 1
        turns = record["turns"]
        if not turns:
            self.stream.write(self.lines.line([*common, "", "", "", ""]))
        for index, turn in enumerate(turns):
            self.stream.write(
                self.lines.line(
                    [*common, index, turn["role"] or "", turn["text"] or "", turn["timestamp"] or ""]
                )
            )
        return max(1, len(turns))

    def finish(self) -> None:
        """CSV has no footer."""


def _csv_cell(value: Any) -> Any:
    return "" if value is None else value


def record_writer(export_format: str, stream: IO[Any], fields: Sequence[str] | None = None) -> RecordWriter:
    """The writer of ``export_format`` (one of :data:`EXPORT_FORMATS`) on ``stream`` (binary for the
    :data:`BINARY_FORMATS`, text otherwise), writing the record ``fields`` kept (None: all of them;
    JSON Lines writes the keys each record has)."""

    def parquet(binary: IO[bytes]) -> RecordWriter:
        from xentree_provider.transcripts.parquet import ParquetTranscriptWriter

        return ParquetTranscriptWriter(binary, fields=fields)

    return format_writer(export_format, stream, csv=lambda text: CsvWriter(text, fields), parquet=parquet)
