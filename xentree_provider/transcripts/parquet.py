"""Transcripts as Parquet: one row per transcript, its turns a list of structs, a fixed Arrow schema.

The schema (:data:`~xentree_provider.transcripts.schema.TRANSCRIPT_SCHEMA`, documented in
``docs/transcripts.md``) never changes shape with the data: every column is always there, timestamps
are ``timestamp[us, tz=UTC]``, and an empty window writes a file with the schema and no rows. Rows
are written in row groups of :data:`TRANSCRIPTS_PER_ROW_GROUP` transcripts as the exporter hands them
over, so memory holds one group at most; the bytes depend only on the records (see
:mod:`xentree_provider.tabular.parquet`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

from xentree_provider.exports.writers import ParquetRecordWriter
from xentree_provider.transcripts.schema import transcript_schema

__all__ = ["TRANSCRIPTS_PER_ROW_GROUP", "ParquetTranscriptWriter"]

TRANSCRIPTS_PER_ROW_GROUP = 1_000


class ParquetTranscriptWriter(ParquetRecordWriter):
    """A record writer (see :mod:`~xentree_provider.transcripts.writers`) on a binary stream.

    With ``fields``, the schema is the fixed one without the columns of the fields left out.
    """

    def __init__(
        self,
        stream: IO[bytes],
        *,
        row_group_size: int | None = None,
        fields: Sequence[str] | None = None,
    ) -> None:
        group = row_group_size or TRANSCRIPTS_PER_ROW_GROUP
        super().__init__(stream, transcript_schema(fields), row_group_size=group)
