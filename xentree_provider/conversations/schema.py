"""The typed schema of every conversation export format (for the docs, the Parquet writer and lineage)."""

from __future__ import annotations

from collections.abc import Sequence

from xentree_provider.tabular.schema import Column, keep_columns

__all__ = [
    "CONVERSATION_SCHEMA",
    "CSV_COLUMNS",
    "CSV_SCHEMA",
    "MESSAGE_SCHEMA",
    "RECORD_FIELDS",
    "conversation_schema",
    "csv_columns",
    "export_schema",
]

#: One message of a conversation.
MESSAGE_SCHEMA: tuple[Column, ...] = (
    Column("id", "string", "the message's id", nullable=False),
    Column("role", "string", "who wrote it: user or assistant"),
    Column("content", "string", "the text, as the API gave it"),
    Column("created_at", "timestamp", "when the message was saved (UTC)"),
)

#: One conversation (a JSON line, a Parquet row), fields in file order.
CONVERSATION_SCHEMA: tuple[Column, ...] = (
    Column("id", "string", "the conversation's id", nullable=False),
    Column("title", "string", "its title, as of the export"),
    Column("created_at", "timestamp", "when the conversation was created (UTC)"),
    Column("updated_at", "timestamp", "when it last changed, as of the export (UTC)"),
    Column(
        "messages",
        "list",
        "its messages created in the window, by (created_at, id)",
        (Column("element", "struct", fields=MESSAGE_SCHEMA, nullable=False),),
        nullable=False,
    ),
)
#: The top-level fields of a conversation record, in file order (what ``fields`` selects from).
RECORD_FIELDS = tuple(column.name for column in CONVERSATION_SCHEMA)

#: One CSV row per message: the conversation's fields, then the message's.
CSV_SCHEMA: tuple[Column, ...] = (
    Column("conversation_id", "string", "the conversation's id", nullable=False),
    Column("conversation_title", "string", "its title, as of the export"),
    Column("conversation_created_at", "timestamp", "when the conversation was created (UTC)"),
    Column("conversation_updated_at", "timestamp", "when it last changed, as of the export (UTC)"),
    Column("message_id", "string", "the message's id", nullable=False),
    Column("role", "string", "who wrote it: user or assistant"),
    Column("content", "string", "the text, as the API gave it"),
    Column("created_at", "timestamp", "when the message was saved (UTC)"),
)
CSV_COLUMNS = tuple(column.name for column in CSV_SCHEMA)
#: The CSV columns of each record field (``messages`` is the four message columns).
CSV_COLUMNS_OF_FIELD: dict[str, tuple[str, ...]] = {
    **{field: (column,) for field, column in zip(RECORD_FIELDS[:-1], CSV_COLUMNS[:4], strict=True)},
    "messages": CSV_COLUMNS[4:],
}


def csv_columns(fields: Sequence[str] | None = None) -> tuple[str, ...]:
    """The CSV columns written for the record ``fields`` kept (None: all of :data:`CSV_COLUMNS`)."""
    return tuple(
        column
        for field in RECORD_FIELDS
        if fields is None or field in fields
        for column in CSV_COLUMNS_OF_FIELD[field]
    )


def conversation_schema(fields: Sequence[str] | None = None) -> tuple[Column, ...]:
    """:data:`CONVERSATION_SCHEMA` with only the columns of ``fields`` (None: all), in file order."""
    return keep_columns(CONVERSATION_SCHEMA, fields)


def export_schema(export_format: str, fields: Sequence[str] | None = None) -> tuple[Column, ...]:
    """The schema of a conversation export file in ``export_format`` writing the record ``fields``."""
    if export_format == "csv":
        return keep_columns(CSV_SCHEMA, csv_columns(fields))
    return conversation_schema(fields)
