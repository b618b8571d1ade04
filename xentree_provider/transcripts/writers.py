"""Writers of canonical transcript records to a text stream: JSON Lines and CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from typing import IO, Any, Protocol

__all__ = ["CSV_COLUMNS", "EXPORT_FORMATS", "CsvWriter", "JsonlWriter", "RecordWriter", "record_writer"]

EXPORT_FORMATS = ("jsonl", "csv")
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

    def write(self, record: Mapping[str, Any]) -> None:
        """Write one record."""
        ...


class JsonlWriter:
    """One transcript per line, turns nested; compact, key order fixed, UTF-8."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def header(self) -> None:
        """JSON Lines has no header."""

    def write(self, record: Mapping[str, Any]) -> None:
        """One compact JSON object and a newline."""
        self.stream.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
        self.stream.write("\n")


class CsvWriter:
    """One row per turn (a transcript without turns gets one row with empty turn columns)."""

    def __init__(self, stream: IO[str]) -> None:
        self.writer = csv.writer(stream, lineterminator="\n")

    def header(self) -> None:
        """The column names, :data:`CSV_COLUMNS`."""
        self.writer.writerow(CSV_COLUMNS)

    def write(self, record: Mapping[str, Any]) -> None:
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
            self.writer.writerow([*common, "", "", "", ""])
        for index, turn in enumerate(turns):
            self.writer.writerow(
                [*common, index, turn["role"] or "", turn["text"] or "", turn["timestamp"] or ""]
            )


def record_writer(export_format: str, stream: IO[str]) -> RecordWriter:
    """The writer of ``export_format`` (one of :data:`EXPORT_FORMATS`) on ``stream``."""
    if export_format == "csv":
        return CsvWriter(stream)
    if export_format == "jsonl":
        return JsonlWriter(stream)
    raise ValueError(f"export_format must be one of {', '.join(EXPORT_FORMATS)}, got {export_format!r}")
