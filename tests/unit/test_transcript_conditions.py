"""Pure logic of transcript windows, canonical records, asset URIs and export windows (no HTTP)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest

from xentree_provider._task.assets import default_asset_uri
from xentree_provider.api.errors import XentreeConfigError, XentreeResponseError
from xentree_provider.conditions.transcripts import WindowCount, count_in_window
from xentree_provider.operators.live import XentreeTranscriptExportOperator, export_window
from xentree_provider.transcripts.records import canonical_transcript
from xentree_provider.transcripts.selection import AFTER, BEFORE, INSIDE, TimeWindow
from xentree_provider.transcripts.writers import CSV_COLUMNS, CsvWriter, JsonlWriter

UTC = timezone.utc
D1 = datetime(2026, 3, 1, tzinfo=UTC)
D2 = datetime(2026, 3, 2, tzinfo=UTC)


def rec(ts: str, tid: str = "t") -> dict[str, str]:
    return {"id": tid, "session_started_at": ts}


def test_window_edges_start_inclusive_end_exclusive() -> None:
    window = TimeWindow(D1, D2)
    assert window.position(D1) == INSIDE
    assert window.position(D2) == AFTER
    assert window.position(D1 - timedelta(microseconds=1)) == BEFORE
    assert window.position(D2 - timedelta(microseconds=1)) == INSIDE
    assert D1 in window and D2 not in window


def test_window_rejects_empty_and_naive() -> None:
    with pytest.raises(ValueError, match="empty"):
        TimeWindow(D2, D1)
    with pytest.raises(ValueError, match="empty"):
        TimeWindow(D1, D1)
    with pytest.raises(ValueError, match="naive"):
        TimeWindow(datetime(2026, 3, 1), None)


def test_window_params_round_trip_and_newer_than() -> None:
    window = TimeWindow(D1, D2)
    assert window.to_params() == {"start": "2026-03-01T00:00:00Z", "end": "2026-03-02T00:00:00Z"}
    assert TimeWindow.from_params(**window.to_params()) == window
    newer = TimeWindow.newer_than(D1)
    assert D1 not in newer
    assert D1 + timedelta(microseconds=1) in newer
    assert TimeWindow.from_params(**newer.to_params()) == newer
    assert TimeWindow().describe() == "[-inf, +inf)"


def test_window_count_stops_when_met_or_past_the_window() -> None:
    records = [
        rec("2026-03-02T00:00:00Z", "at-end"),  # excluded
        rec("2026-03-01T12:00:00+00:00", "a"),
        rec("2026-03-01T06:00:00.250000Z", "b"),
        rec("2026-03-01T00:00:00Z", "at-start"),  # included
        rec("2026-02-28T23:59:59Z", "older"),
        rec("not a timestamp", "never read"),
    ]
    counter = count_in_window(iter(records), WindowCount(TimeWindow(D1, D2), min_count=10))
    assert counter.count == 3
    assert not counter.met
    assert counter.passed_window
    assert counter.scanned == 5
    assert counter.result()["newest_in_window"] == "2026-03-01T12:00:00Z"

    counter = count_in_window(iter(records), WindowCount(TimeWindow(D1, D2), min_count=2))
    assert counter.met and counter.count == 2 and counter.scanned == 3


def test_window_count_garbled_record_is_a_clear_error() -> None:
    counter = WindowCount(TimeWindow(D1, D2))
    with pytest.raises(XentreeResponseError, match="session_started_at"):
        counter.feed({"id": "x"})
    with pytest.raises(XentreeResponseError, match="ISO-8601"):
        counter.feed(rec("yesterday", "y"))
    with pytest.raises(ValueError, match="min_count"):
        WindowCount(TimeWindow(D1, D2), min_count=0)


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("2026-03-01T10:00:03Z", "2026-03-01T10:00:03Z"),
        ("2026-03-01T10:00:03+00:00", "2026-03-01T10:00:03Z"),
        ("2026-03-01T10:00:03.000000Z", "2026-03-01T10:00:03Z"),
        ("2026-03-01T11:00:03+01:00", "2026-03-01T10:00:03Z"),
        ("2026-03-01T10:00:03.5Z", "2026-03-01T10:00:03.500000Z"),
    ],
)
def test_canonical_timestamps(variant: str, canonical: str) -> None:
    detail = {
        "id": "t1",
        "session_id": "s1",
        "session_started_at": variant,
        "session_ended_at": None,
        "created_at": variant,
        "unknown_field": "ignored",
        "transcripts": [{"role": "user", "text": "hi", "timestamp": variant, "extra": 1}],
    }
    record = canonical_transcript(detail)
    assert list(record) == [
        "id",
        "session_id",
        "session_started_at",
        "session_ended_at",
        "created_at",
        "turn_count",
        "turns",
    ]
    assert record["session_started_at"] == canonical
    assert record["turns"] == [{"role": "user", "text": "hi", "timestamp": canonical}]
    assert record["turn_count"] == 1
    assert record["session_ended_at"] is None


def test_writers_jsonl_and_csv() -> None:
    record = canonical_transcript(
        {
            "id": "t1",
            "session_id": "s1",
            "session_started_at": "2026-03-01T10:00:00Z",
            "session_ended_at": "2026-03-01T10:05:00Z",
            "created_at": "2026-03-01T10:05:01Z",
            "turn_count": 2,
            "transcripts": [
                {"role": "user", "text": 'Say "hello", please\nnow', "timestamp": "2026-03-01T10:00:01Z"},
                {"role": "ai", "text": "héllo", "timestamp": "2026-03-01T10:00:02Z"},
            ],
        }
    )
    out = io.StringIO()
    JsonlWriter(out).write(record)
    assert out.getvalue().count("\n") == 1
    assert '"héllo"' in out.getvalue()

    out = io.StringIO()
    writer = CsvWriter(out)
    writer.header()
    writer.write(record)
    writer.write({**record, "id": "t2", "turns": [], "turn_count": 0})
    import csv

    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r[0] for r in rows[1:]] == ["t1", "t1", "t2"]
    assert rows[1][8] == 'Say "hello", please\nnow'
    assert rows[3][6:] == ["", "", "", ""]


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("/data/exports/transcripts.jsonl", "file:///data/exports/transcripts.jsonl"),
        ("/data/exports/{{ ds }}.jsonl", "file:///data/exports"),
        ("/data/{{ ds }}/transcripts.jsonl", "file:///data"),
        ("file:///data/x/{{ ds }}.csv", "file:///data/x"),
        ("s3://bucket/live/{{ ds }}.jsonl.gz", "s3://bucket/live"),
        ("s3://bucket/{{ ds }}.jsonl", "s3://bucket"),
        ("{{ var.value.base }}/x.jsonl", None),
        ("relative/path.jsonl", None),
    ],
)
def test_default_asset_uri(path: str, uri: str | None) -> None:
    assert default_asset_uri(path) == uri


def test_operator_registers_the_asset_outlet_and_validates_arguments() -> None:
    op = XentreeTranscriptExportOperator(task_id="x", output_path="/data/exports/{{ ds }}.jsonl")
    assert [a.uri for a in op.outlets] == ["file:///data/exports"]
    op = XentreeTranscriptExportOperator(task_id="y", output_path="/data/{{ ds }}.jsonl", asset=False)
    assert op.outlets == []
    op = XentreeTranscriptExportOperator(task_id="z", output_path="/d/x.jsonl", asset="s3://b/transcripts")
    assert [a.uri for a in op.outlets] == ["s3://b/transcripts"]
    assert set(op.template_fields) >= {"xentree_conn_id", "start", "end", "output_path"}
    with pytest.raises(ValueError, match="export_format"):
        XentreeTranscriptExportOperator(task_id="a", output_path="/d/x", export_format="xlsx")
    with pytest.raises(ValueError, match="compression"):
        XentreeTranscriptExportOperator(task_id="b", output_path="/d/x", compression="zip")
    with pytest.raises(ValueError, match="max_workers"):
        XentreeTranscriptExportOperator(task_id="c", output_path="/d/x", max_workers=0)


def test_export_window_errors_are_clear() -> None:
    assert export_window({"data_interval_start": D1, "data_interval_end": D2}) == (D1, D2)
    assert export_window({}, "2026-03-01", "2026-03-02") == (D1, D2)
    with pytest.raises(XentreeConfigError, match="no data interval"):
        export_window({"data_interval_start": None, "data_interval_end": None})
    with pytest.raises(XentreeConfigError, match="CronDataIntervalTimetable"):
        export_window({"data_interval_start": D1, "data_interval_end": D1})
    with pytest.raises(XentreeConfigError, match="not before"):
        export_window({}, "2026-03-02", "2026-03-01")
    with pytest.raises(XentreeConfigError, match="not an ISO date"):
        export_window({}, "yesterday-ish", "2026-03-01")


def test_an_asset_declared_in_outlets_is_not_added_twice() -> None:
    from airflow.sdk import Asset

    from xentree_provider._task.assets import add_outlet

    kwargs = {"outlets": [Asset("file:///data/x")]}
    add_outlet(kwargs, Asset("file:///data/x"))
    assert kwargs["outlets"] == [Asset("file:///data/x")]
    add_outlet(kwargs, Asset("file:///data/y"))
    assert [a.uri for a in kwargs["outlets"]] == ["file:///data/x", "file:///data/y"]
