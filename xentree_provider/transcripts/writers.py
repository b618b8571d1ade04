"""Writers of canonical transcript records: JSON Lines and CSV (text streams), Parquet (binary)."""

from __future__ import annotations

from collections.abc import Mapping
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
    "CsvWriter",
    "JsonlWriter",
    "RecordWriter",
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


class CsvWriter:
    """One row per turn (a transcript without turns gets one row with empty turn columns).

    Text is written raw (this is data, not a sheet for people); a field holding a line break or a
    carriage return is quoted, so it never splits a row.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lines = CsvLines()

    def header(self) -> None:
        """The column names, :data:`CSV_COLUMNS`."""
        self.stream.write(self.lines.line(CSV_COLUMNS))

    def write(self, record: Mapping[str, Any]) -> int:
        """One row per turn of ``record``."""
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


def _parquet_writer(stream: IO[bytes]) -> RecordWriter:
    from xentree_provider.transcripts.parquet import ParquetTranscriptWriter

    return ParquetTranscriptWriter(stream)


def record_writer(export_format: str, stream: IO[Any]) -> RecordWriter:
    """The writer of ``export_format`` (one of :data:`EXPORT_FORMATS`) on ``stream`` (binary for the
    :data:`BINARY_FORMATS`, text otherwise)."""
    return format_writer(export_format, stream, csv=CsvWriter, parquet=_parquet_writer)
