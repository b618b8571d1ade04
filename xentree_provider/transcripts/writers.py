"""Writers of canonical transcript records: JSON Lines and CSV (text streams), Parquet (binary)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any, Protocol

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

EXPORT_FORMATS = ("jsonl", "csv", "parquet")
#: Formats written to a binary stream (the others are UTF-8 text).
BINARY_FORMATS = ("parquet",)
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


class RecordWriter(Protocol):
    """Writes canonical records (see :func:`~xentree_provider.transcripts.records.canonical_transcript`)."""

    def header(self) -> None:
        """Write what comes before the first record (if anything)."""
        ...

    def write(self, record: Mapping[str, Any]) -> int:
        """Write one record; return how many rows of the file it became."""
        ...

    def finish(self) -> None:
        """Write what comes after the last record (if anything)."""
        ...


class JsonlWriter:
    """One transcript per line, turns nested; compact, key order fixed, UTF-8."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def header(self) -> None:
        """JSON Lines has no header."""

    def write(self, record: Mapping[str, Any]) -> int:
        """One compact JSON object and a newline."""
        self.stream.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        self.stream.write("\n")
        return 1

    def finish(self) -> None:
        """JSON Lines has no footer."""


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


def record_writer(export_format: str, stream: IO[Any]) -> RecordWriter:
    """The writer of ``export_format`` (one of :data:`EXPORT_FORMATS`) on ``stream`` (binary for the
    :data:`BINARY_FORMATS`, text otherwise)."""
    if export_format == "parquet":
        from xentree_provider.transcripts.parquet import ParquetTranscriptWriter

        return ParquetTranscriptWriter(stream)
    if export_format == "csv":
        return CsvWriter(stream)
    if export_format == "jsonl":
        return JsonlWriter(stream)
    raise ValueError(f"export_format must be one of {', '.join(EXPORT_FORMATS)}, got {export_format!r}")
