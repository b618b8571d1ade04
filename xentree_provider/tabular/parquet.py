"""Parquet files from :class:`~xentree_provider.tabular.schema.Column` tables: streamed, deterministic.

pyarrow is an optional extra (``airflow-provider-xentree[parquet]``); :func:`require_pyarrow` says so
when it is missing. :class:`ParquetRows` writes rows in row groups as they come, so memory holds one
group, never the whole table. The same rows give the same bytes: the writer's options are fixed here,
the file carries no time or host, and timestamps are UTC microseconds.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from types import ModuleType, TracebackType
from typing import IO, Any

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.api.timestamps import parse_timestamp
from xentree_provider.tabular.schema import Column

__all__ = [
    "DEFAULT_ROW_GROUP_SIZE",
    "PARQUET_EXTRA",
    "ParquetRows",
    "arrow_schema",
    "parquet_bytes",
    "require_pyarrow",
]

PARQUET_EXTRA = "airflow-provider-xentree[parquet]"
DEFAULT_ROW_GROUP_SIZE = 10_000
#: Fixed writer options (changing one changes the bytes of every file).
_WRITER_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "version": "2.6",
    "data_page_version": "1.0",
    "use_dictionary": True,
    "write_statistics": True,
    "store_schema": True,
}


def require_pyarrow() -> ModuleType:
    """Import pyarrow (with ``pyarrow.parquet``) or fail saying which extra to install."""
    try:
        import pyarrow
        import pyarrow.parquet  # the writer's submodule must load too
    except ImportError as error:
        raise XentreeConfigError(
            f"Parquet output needs pyarrow, which is not installed ({error}): install the extra with "
            f"`pip install '{PARQUET_EXTRA}'` on the workers, or choose another format"
        ) from None
    module: ModuleType = pyarrow
    return module


def _arrow_type(pa: ModuleType, column: Column) -> Any:
    kind = column.type
    if kind == "list":
        (element,) = column.fields
        return pa.list_(pa.field("element", _arrow_type(pa, element), nullable=element.nullable))
    if kind == "struct":
        return pa.struct([_arrow_field(pa, child) for child in column.fields])
    return {
        "string": pa.string(),
        "json": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }[kind]


def _arrow_field(pa: ModuleType, column: Column) -> Any:
    return pa.field(column.name, _arrow_type(pa, column), nullable=column.nullable)


def arrow_schema(columns: Sequence[Column]) -> Any:
    """The ``pyarrow.Schema`` of ``columns`` (``json`` columns are their JSON text)."""
    pa = require_pyarrow()
    return pa.schema([_arrow_field(pa, column) for column in columns])


def _value(column: Column, value: Any) -> Any:
    """``value`` as Arrow takes it for ``column``: timestamps parsed to UTC, JSON as sorted text."""
    if value is None:
        return None
    kind = column.type
    if kind == "timestamp":
        if value == "":
            return None
        stamp = value if isinstance(value, datetime) else parse_timestamp(value)
        return stamp.astimezone(timezone.utc)
    if kind == "json":
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    if kind == "list":
        (element,) = column.fields
        return [_value(element, item) for item in value]
    if kind == "struct":
        return _record(column.fields, value)
    if kind == "float64" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _record(columns: Sequence[Column], row: Mapping[str, Any]) -> dict[str, Any]:
    return {column.name: _value(column, row.get(column.name)) for column in columns}


class ParquetRows:
    """Write rows (mappings by column name) to a Parquet stream in row groups of ``row_group_size``.

    With ``row_weight`` and ``max_group_weight``, a group is also written out once the weights of its
    rows reach ``max_group_weight`` (e.g. the messages nested in conversation rows), so the rows held
    in memory are bounded by what they hold, not only by their number. Use as a context manager;
    leaving it writes the last group and the footer (an empty table is a valid file with the schema
    and no rows).
    """

    def __init__(
        self,
        stream: IO[bytes],
        columns: Sequence[Column],
        *,
        row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
        row_weight: Callable[[Mapping[str, Any]], int] | None = None,
        max_group_weight: int | None = None,
    ) -> None:
        if row_group_size < 1:
            raise ValueError(f"row_group_size must be >= 1, got {row_group_size}")
        if (row_weight is None) != (max_group_weight is None):
            raise ValueError("row_weight and max_group_weight go together")
        if max_group_weight is not None and max_group_weight < 1:
            raise ValueError(f"max_group_weight must be >= 1, got {max_group_weight}")
        self.row_weight = row_weight
        self.max_group_weight = max_group_weight
        self._pending_weight = 0
        self._pa = require_pyarrow()
        import pyarrow.parquet as pq

        self.columns = tuple(columns)
        self.schema = arrow_schema(self.columns)
        self.row_group_size = row_group_size
        self.rows = 0
        self._pending: list[dict[str, Any]] = []
        self._writer = pq.ParquetWriter(stream, self.schema, **_WRITER_OPTIONS)

    def write(self, row: Mapping[str, Any]) -> None:
        """Add one row; a full group is written out at once."""
        self._pending.append(_record(self.columns, row))
        self.rows += 1
        if self.row_weight is not None:
            self._pending_weight += self.row_weight(row)
        full = self.max_group_weight is not None and self._pending_weight >= self.max_group_weight
        if full or len(self._pending) >= self.row_group_size:
            self._flush()

    def write_all(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add every row of ``rows``."""
        for row in rows:
            self.write(row)

    def _flush(self) -> None:
        if self._pending:
            table = self._pa.Table.from_pylist(self._pending, schema=self.schema)
            self._writer.write_table(table, row_group_size=self.row_group_size)
            self._pending = []
            self._pending_weight = 0

    def close(self) -> None:
        """Write what is pending and the footer."""
        self._flush()
        self._writer.close()

    def __enter__(self) -> ParquetRows:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:  # the caller's atomic write discards the file; release the writer only
            self._pending = []
            self._writer.close()


def parquet_bytes(columns: Sequence[Column], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """A whole (small) table as Parquet bytes."""
    buffer = io.BytesIO()
    with ParquetRows(buffer, columns) as writer:
        writer.write_all(rows)
    return buffer.getvalue()
