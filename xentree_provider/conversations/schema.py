"""The typed schema of every conversation export format (for the docs, the Parquet writer and lineage)."""

from __future__ import annotations

from xentree_provider.tabular.schema import Column

__all__ = ["CONVERSATION_SCHEMA", "CSV_COLUMNS", "CSV_SCHEMA", "MESSAGE_SCHEMA", "export_schema"]

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


def export_schema(export_format: str) -> tuple[Column, ...]:
    """The schema of a conversation export file in ``export_format``."""
    return CSV_SCHEMA if export_format == "csv" else CONVERSATION_SCHEMA
