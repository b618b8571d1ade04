"""Record writers shared by every export: the Protocol, JSON Lines (text) and Parquet (binary).

A record is one canonical mapping (a transcript, a conversation); a writer turns it into one or more
rows of its file. Format-specific writers with their own columns (each export's CSV) live beside the
export that defines those columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, Protocol

from xentree_provider.tabular.schema import Column

__all__ = [
    "BINARY_FORMATS",
    "EXPORT_FORMATS",
    "JsonlWriter",
    "ParquetRecordWriter",
    "RecordWriter",
    "format_writer",
]

#: The formats of every record export.
EXPORT_FORMATS = ("jsonl", "csv", "parquet")
#: Formats written to a binary stream (the others are UTF-8 text).
BINARY_FORMATS = ("parquet",)


class RecordWriter(Protocol):
    """Writes canonical records, one :meth:`write` per record, between :meth:`header` and :meth:`finish`."""

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
    """One record per line, nested values kept; compact, key order as given, UTF-8."""

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


class ParquetRecordWriter:
    """One record per row of a fixed schema, in row groups of ``row_group_size`` records (and, with
    ``record_weight``, of at most about ``max_group_weight`` weight, e.g. nested messages).

    Every column of ``schema`` is always there whatever the data, and an empty export is a file with
    the schema and no rows; the bytes depend only on the records (see
    :mod:`xentree_provider.tabular.parquet`).
    """

    def __init__(
        self,
        stream: IO[bytes],
        schema: Sequence[Column],
        *,
        row_group_size: int,
        record_weight: Callable[[Mapping[str, Any]], int] | None = None,
        max_group_weight: int | None = None,
    ) -> None:
        from xentree_provider.tabular.parquet import ParquetRows

        self.rows = ParquetRows(
            stream,
            schema,
            row_group_size=row_group_size,
            row_weight=record_weight,
            max_group_weight=max_group_weight,
        )

    def header(self) -> None:
        """Parquet's header is written with the first group."""

    def write(self, record: Mapping[str, Any]) -> int:
        """One canonical record: one row."""
        self.rows.write(record)
        return 1

    def finish(self) -> None:
        """Write the last row group and the footer."""
        self.rows.close()


def format_writer(
    export_format: str,
    stream: IO[Any],
    *,
    csv: Callable[[IO[str]], RecordWriter],
    parquet: Callable[[IO[bytes]], RecordWriter],
) -> RecordWriter:
    """The writer of ``export_format`` (one of :data:`EXPORT_FORMATS`) on ``stream``: JSON Lines, or the
    export's own ``csv`` or ``parquet`` writer (binary stream for the :data:`BINARY_FORMATS`)."""
    if export_format == "parquet":
        return parquet(stream)
    if export_format == "csv":
        return csv(stream)
    if export_format == "jsonl":
        return JsonlWriter(stream)
    raise ValueError(f"export_format must be one of {', '.join(EXPORT_FORMATS)}, got {export_format!r}")
