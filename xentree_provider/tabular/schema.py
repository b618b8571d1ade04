"""Column descriptions shared by a table's writers and its lineage: one definition, every format.

A :class:`Column` has a logical type; the Parquet writer turns it into an Arrow type and the OpenLineage
facets into a schema field, so a file's documented schema, its Parquet schema and its lineage agree.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

__all__ = ["Column", "LogicalType", "column_names", "keep_columns"]

#: ``timestamp`` is an instant in UTC (microseconds); ``json`` is any JSON value, stored as its text;
#: ``list`` holds elements described by the column's one field; ``struct`` has the column's fields.
LogicalType = Literal["string", "int64", "float64", "bool", "timestamp", "json", "list", "struct"]


@dataclass(frozen=True)
class Column:
    """One column (or nested field) of a table: name, logical type, nested fields, description."""

    name: str
    type: LogicalType
    description: str = ""
    fields: tuple[Column, ...] = ()
    nullable: bool = True


def column_names(columns: tuple[Column, ...]) -> tuple[str, ...]:
    """The names of ``columns``, in order (a CSV header)."""
    return tuple(column.name for column in columns)


def keep_columns(columns: tuple[Column, ...], names: Collection[str] | None) -> tuple[Column, ...]:
    """The columns of ``columns`` named in ``names`` (None: all of them), in their order."""
    if names is None:
        return columns
    return tuple(column for column in columns if column.name in names)
