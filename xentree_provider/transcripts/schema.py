"""The typed schema of every transcript export format (for the docs, the Parquet writer and lineage)."""

from __future__ import annotations

from collections.abc import Sequence

from xentree_provider.tabular.schema import Column, LogicalType, keep_columns
from xentree_provider.transcripts.writers import CSV_COLUMNS, csv_columns

__all__ = ["CSV_SCHEMA", "TRANSCRIPT_SCHEMA", "TURN_SCHEMA", "export_schema", "transcript_schema"]

#: One turn of a transcript.
TURN_SCHEMA: tuple[Column, ...] = (
    Column("role", "string", "user or ai"),
    Column("text", "string", "what was said, as the API gave it"),
    Column("timestamp", "timestamp", "when it was said (UTC)"),
)

#: One transcript (a JSON line, a Parquet row), fields in file order.
TRANSCRIPT_SCHEMA: tuple[Column, ...] = (
    Column("id", "string", "the transcript's id", nullable=False),
    Column("session_id", "string", "the Live session's id"),
    Column("session_started_at", "timestamp", "session start (UTC)"),
    Column("session_ended_at", "timestamp", "session end (UTC)"),
    Column("created_at", "timestamp", "when the transcript was saved (UTC)"),
    Column("turn_count", "int64", "turns, as the API counted them"),
    Column(
        "turns",
        "list",
        "the turns in order",
        (Column("element", "struct", fields=TURN_SCHEMA, nullable=False),),
        nullable=False,
    ),
)

_CSV_TYPES: dict[str, LogicalType] = {
    "session_started_at": "timestamp",
    "session_ended_at": "timestamp",
    "created_at": "timestamp",
    "turn_count": "int64",
    "turn_index": "int64",
    "timestamp": "timestamp",
}

#: One CSV row per turn (a transcript without turns: one row with empty turn columns).
CSV_SCHEMA: tuple[Column, ...] = tuple(Column(name, _CSV_TYPES.get(name, "string")) for name in CSV_COLUMNS)


def transcript_schema(fields: Sequence[str] | None = None) -> tuple[Column, ...]:
    """:data:`TRANSCRIPT_SCHEMA` with only the columns of ``fields`` (None: all), in the same order."""
    return keep_columns(TRANSCRIPT_SCHEMA, fields)


def export_schema(export_format: str, fields: Sequence[str] | None = None) -> tuple[Column, ...]:
    """The schema of an export file in ``export_format`` writing the record ``fields`` (None: all)."""
    if export_format == "csv":
        columns = csv_columns(fields)
        return keep_columns(CSV_SCHEMA, columns)
    return transcript_schema(fields)
