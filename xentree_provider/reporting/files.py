"""The files of an XEL progress report: what each holds, rendered to bytes, written through an opener.

The opener (``name -> writable binary stream``) is the caller's: the operator passes one that writes
atomically to object storage, tests can pass one that writes to memory. Each file's size is counted as
it is written, so callers can report it without reading the file back.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, Any

from xentree_provider.reporting.data import Scope, csv_text
from xentree_provider.reporting.html import render_report_html
from xentree_provider.reporting.schema import report_json_schema, table_schema
from xentree_provider.tabular.parquet import parquet_bytes
from xentree_provider.tabular.schema import Column

__all__ = ["PARQUET_FILE", "REPORT_FILES", "ReportFile", "WrittenFile", "report_files", "write_report"]

Opener = Callable[[str], AbstractContextManager[IO[bytes]]]


@dataclass(frozen=True)
class ReportFile:
    """One file of the report: its name, how the report dict becomes its bytes, and its schema (None for
    the page, which is no table)."""

    name: str
    render: Callable[[Mapping[str, Any]], Iterable[bytes]]
    schema: Callable[[Scope], tuple[Column, ...]] | None


@dataclass(frozen=True)
class WrittenFile:
    """A file as written: its name, how many table rows it holds (None for the page) and its bytes."""

    name: str
    rows: int | None
    size: int


def _progress_csv(report: Mapping[str, Any]) -> Iterable[bytes]:
    for line in csv_text(report["rows"], report["columns"]):
        yield line.encode("utf-8")


def _progress_json(report: Mapping[str, Any]) -> Iterable[bytes]:
    yield (json.dumps(report, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def _progress_parquet(report: Mapping[str, Any]) -> Iterable[bytes]:
    yield parquet_bytes(table_schema(report["scope"]), report["rows"])


def _report_html(report: Mapping[str, Any]) -> Iterable[bytes]:
    yield render_report_html(report).encode("utf-8")


#: The files every report has, in the order they are written.
REPORT_FILES: tuple[ReportFile, ...] = (
    ReportFile("progress.csv", _progress_csv, table_schema),
    ReportFile("progress.json", _progress_json, report_json_schema),
    ReportFile("report.html", _report_html, None),
)

#: The table as Parquet (needs the ``parquet`` extra), written when asked for.
PARQUET_FILE = ReportFile("progress.parquet", _progress_parquet, table_schema)


def report_files(*, parquet: bool = False) -> tuple[ReportFile, ...]:
    """The files of a report: :data:`REPORT_FILES`, and ``progress.parquet`` after the JSON if asked."""
    if not parquet:
        return REPORT_FILES
    return (*REPORT_FILES[:2], PARQUET_FILE, *REPORT_FILES[2:])


def write_report(
    report: Mapping[str, Any], open_file: Opener, files: Iterable[ReportFile] = REPORT_FILES
) -> dict[str, WrittenFile]:
    """Render and write each of ``files`` through ``open_file``; return what was written, by name."""
    written: dict[str, WrittenFile] = {}
    for spec in files:
        size = 0
        with open_file(spec.name) as stream:
            for chunk in spec.render(report):
                stream.write(chunk)
                size += len(chunk)
        rows = len(report["rows"]) if spec.schema is not None else None
        written[spec.name] = WrittenFile(spec.name, rows, size)
    return written
