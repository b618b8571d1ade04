"""Writers of canonical conversation records: JSON Lines and CSV (text streams), Parquet (binary).

JSON Lines and Parquet hold one conversation per line or row, its messages nested (Parquet: a list of
structs, schema :data:`~xentree_provider.conversations.schema.CONVERSATION_SCHEMA`); CSV is flat, one
row per message (:data:`~xentree_provider.conversations.schema.CSV_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from xentree_provider.conversations.schema import CONVERSATION_SCHEMA, CSV_COLUMNS
from xentree_provider.exports.writers import ParquetRecordWriter, RecordWriter, format_writer
from xentree_provider.tabular.csv_lines import CsvLines

__all__ = ["CONVERSATIONS_PER_ROW_GROUP", "ConversationCsvWriter", "record_writer"]

CONVERSATIONS_PER_ROW_GROUP = 1_000


class ConversationCsvWriter:
    """One row per message, the conversation's fields repeated on each.

    Text is written raw (this is data, not a sheet for people); a field holding a line break or a
    carriage return is quoted, so it never splits a row.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.lines = CsvLines()

    def header(self) -> None:
        """The column names, :data:`~xentree_provider.conversations.schema.CSV_COLUMNS`."""
        self.stream.write(self.lines.line(CSV_COLUMNS))

    def write(self, record: Mapping[str, Any]) -> int:
        """One row per message of ``record``."""
        common = [record["id"], record["title"] or "", record["created_at"] or "", record["updated_at"] or ""]
        for message in record["messages"]:
            values = [message["id"], message["role"] or "", message["content"] or "", message["created_at"]]
            self.stream.write(self.lines.line([*common, *values]))
        return len(record["messages"])

    def finish(self) -> None:
        """CSV has no footer."""


def _parquet_writer(stream: IO[bytes]) -> RecordWriter:
    return ParquetRecordWriter(stream, CONVERSATION_SCHEMA, row_group_size=CONVERSATIONS_PER_ROW_GROUP)


def record_writer(export_format: str, stream: IO[Any]) -> RecordWriter:
    """The writer of ``export_format`` (``jsonl``, ``csv`` or ``parquet``) on ``stream`` (binary for
    Parquet, text otherwise)."""
    return format_writer(export_format, stream, csv=ConversationCsvWriter, parquet=_parquet_writer)
