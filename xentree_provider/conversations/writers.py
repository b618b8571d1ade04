"""Writers of canonical conversation records: JSON Lines and CSV (text streams), Parquet (binary).

JSON Lines and Parquet hold one conversation per line or row, its messages nested (Parquet: a list of
structs, schema :data:`~xentree_provider.conversations.schema.CONVERSATION_SCHEMA`); CSV is flat, one
row per message (:data:`~xentree_provider.conversations.schema.CSV_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import IO, Any

from xentree_provider.conversations.schema import RECORD_FIELDS, conversation_schema, csv_columns
from xentree_provider.exports.writers import ParquetRecordWriter, RecordWriter, format_writer
from xentree_provider.tabular.csv_lines import CsvLines

__all__ = ["CONVERSATIONS_PER_ROW_GROUP", "MESSAGES_PER_ROW_GROUP", "ConversationCsvWriter", "record_writer"]

CONVERSATIONS_PER_ROW_GROUP = 1_000
MESSAGES_PER_ROW_GROUP = 10_000
"""A Parquet row group is written once its conversations hold this many messages (or at
:data:`CONVERSATIONS_PER_ROW_GROUP` conversations), so long conversations do not pile up in memory."""


class ConversationCsvWriter:
    """One row per message, the conversation's fields repeated on each.

    Text is written raw (this is data, not a sheet for people); a field holding a line break or a
    carriage return is quoted, so it never splits a row. With ``fields`` (see
    :func:`~xentree_provider.conversations.schema.csv_columns`) only their columns are written;
    without ``messages``, one row per conversation.
    """

    def __init__(self, stream: IO[str], fields: Sequence[str] | None = None) -> None:
        self.stream = stream
        self.lines = CsvLines()
        self.columns = csv_columns(fields)
        self._common = tuple(name for name in RECORD_FIELDS[:-1] if fields is None or name in fields)
        self._with_messages = fields is None or "messages" in fields

    def header(self) -> None:
        """The column names (:data:`~xentree_provider.conversations.schema.CSV_COLUMNS`, or those kept)."""
        self.stream.write(self.lines.line(self.columns))

    def write(self, record: Mapping[str, Any]) -> int:
        """One row per message of ``record`` (one row when the messages are not written)."""
        common = [_cell(record[name]) for name in self._common]
        if not self._with_messages:
            self.stream.write(self.lines.line(common))
            return 1
        for message in record["messages"]:
            values = [_cell(message[name]) for name in ("id", "role", "content", "created_at")]
            self.stream.write(self.lines.line([*common, *values]))
        return len(record["messages"])

    def finish(self) -> None:
        """CSV has no footer."""


def _message_count(record: Mapping[str, Any]) -> int:
    return len(record.get("messages") or ())


def _cell(value: Any) -> Any:
    return "" if value is None else value


def record_writer(export_format: str, stream: IO[Any], fields: Sequence[str] | None = None) -> RecordWriter:
    """The writer of ``export_format`` (``jsonl``, ``csv`` or ``parquet``) on ``stream`` (binary for
    Parquet, text otherwise), writing the record ``fields`` kept (None: all of them)."""

    def parquet(binary: IO[bytes]) -> RecordWriter:
        schema = conversation_schema(fields)
        return ParquetRecordWriter(
            binary,
            schema,
            row_group_size=CONVERSATIONS_PER_ROW_GROUP,
            record_weight=_message_count,
            max_group_weight=MESSAGES_PER_ROW_GROUP,
        )

    return format_writer(
        export_format, stream, csv=lambda text: ConversationCsvWriter(text, fields), parquet=parquet
    )
