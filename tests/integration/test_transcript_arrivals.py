"""Exports by arrival (created_at): late arrivals, the server clock, settling, seeking old windows."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from xentree_provider._compat import TaskDeferred
from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.api.timestamps import parse_timestamp
from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.operators.live import XentreeTranscriptExportOperator
from xentree_provider.testing import SandboxServer
from xentree_provider.transcripts.exporter import TranscriptExporter
from xentree_provider.transcripts.selection import Selection, TimeWindow

pytestmark = pytest.mark.integration

ANCHOR = datetime(2026, 3, 1, tzinfo=timezone.utc)
DAY = timedelta(days=1)
CONN_ENV = "AIRFLOW_CONN_XENTREE_DEFAULT"
LOGGER = logging.getLogger("test_transcript_arrivals")


@pytest.fixture
def world(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch):
    """``world(**config)``: reset the sandbox to the fixed anchor plus ``config``; conn env updated."""

    def reset(**config: Any) -> SandboxServer:
        sandbox.reset(anchor=ANCHOR.date().isoformat(), **config)
        monkeypatch.setenv(CONN_ENV, sandbox.connection_env())
        return sandbox

    return reset


def night(tmp_path: Path, day_start: datetime, **kwargs: Any) -> list[dict[str, Any]]:
    """The nightly export of ``[day_start, day_start + 1 day)`` by arrival; its records."""
    path = tmp_path / f"{day_start.date()}.jsonl"
    op = XentreeTranscriptExportOperator(
        task_id=f"night_{day_start:%Y%m%d}", output_path=str(path), window_field="created_at", **kwargs
    )
    op.execute({"data_interval_start": day_start, "data_interval_end": day_start + DAY})
    return [json.loads(line) for line in path.read_text().splitlines()]


def every_transcript() -> list[dict[str, Any]]:
    hook = XentreeHook()
    try:
        return list(hook.iter_transcripts(page_size=200))
    finally:
        hook.close()


def test_consecutive_nights_hold_every_transcript_exactly_once(world, tmp_path):
    """Night D runs at D+1 00:10 (server clock), night D+1 at D+2 00:10; late saves land once."""
    config = {"late_share": 0.3, "late_hours": 30, "transcripts": 1500, "days": 10}
    nights = [ANCHOR - 6 * DAY + k * DAY for k in range(4)]
    files: list[list[dict[str, Any]]] = []
    for day_start in nights:
        world(clock=(day_start + DAY + timedelta(minutes=10)).isoformat(), **config)
        files.append(night(tmp_path, day_start))
    world(**config)  # the server today: every transcript saved
    saved = {
        t["id"]: parse_timestamp(t["created_at"])
        for t in every_transcript()
        if nights[0] <= parse_timestamp(t["created_at"]) < nights[-1] + DAY
    }
    exported = [record["id"] for records in files for record in records]
    assert len(exported) == len(set(exported)), "a transcript landed in two files"
    assert set(exported) == set(saved), "a transcript saved in the nights' span is in no file"
    late = [
        r
        for records in files
        for r in records
        if parse_timestamp(r["created_at"]) - parse_timestamp(r["session_started_at"]) > timedelta(hours=1)
    ]
    crossing = [
        r
        for r in late
        if parse_timestamp(r["created_at"]).date() != parse_timestamp(r["session_started_at"]).date()
    ]
    assert crossing, "the test data has no transcript saved on a later day than its session"
    for day_start, records in zip(nights, files, strict=True):
        assert all(day_start <= parse_timestamp(r["created_at"]) < day_start + DAY for r in records)
        keys = [(r["created_at"], r["id"]) for r in records]
        assert keys == sorted(keys)


def test_by_session_start_the_same_nights_lose_late_arrivals(world, tmp_path):
    """Why created_at: selecting by session start, a save after the nightly run is never exported."""
    config = {"late_share": 0.3, "late_hours": 30, "transcripts": 1500, "days": 10}
    day_start = ANCHOR - 4 * DAY
    world(clock=(day_start + DAY + timedelta(minutes=10)).isoformat(), **config)
    path = tmp_path / "by_start.jsonl"
    XentreeTranscriptExportOperator(task_id="by_start", output_path=str(path)).execute(
        {"data_interval_start": day_start, "data_interval_end": day_start + DAY}
    )
    exported = {json.loads(line)["id"] for line in path.read_text().splitlines()}
    world(**config)
    started_that_day = {
        t["id"]
        for t in every_transcript()
        if day_start <= parse_timestamp(t["session_started_at"]) < day_start + DAY
    }
    assert exported < started_that_day  # the late ones are missing, for good


def test_lags_near_the_limit_are_warned_about(world, tmp_path, caplog):
    world(late_share=0.5, late_hours=30, transcripts=800, days=6)
    window = TimeWindow(ANCHOR - 3 * DAY, ANCHOR - 2 * DAY)
    hook = XentreeHook()
    selection = Selection(window, "created_at", timedelta(hours=30))
    with caplog.at_level(logging.INFO, logger=LOGGER.name):
        ids = TranscriptExporter(hook, selection, log=LOGGER).select()
    hook.close()
    warned = [r for r in caplog.records if "close to max_arrival_lag" in r.getMessage()]
    assert ids and warned
    assert all(r.levelno == logging.WARNING for r in warned)
    late = {
        t["id"]
        for t in every_transcript()
        if t["id"] in ids
        and parse_timestamp(t["created_at"]) - parse_timestamp(t["session_started_at"]) > timedelta(hours=24)
    }
    assert {r.args[0] for r in warned} == late


def test_a_run_before_the_window_settles_defers_without_a_worker(world, tmp_path):
    sandbox = world()
    sandbox.reset_counters()
    now = datetime.now(timezone.utc)
    path = tmp_path / "today.jsonl"
    op = XentreeTranscriptExportOperator(
        task_id="settle", output_path=str(path), window_field="created_at", settle=timedelta(minutes=5)
    )
    context = {"data_interval_start": now - DAY, "data_interval_end": now - timedelta(minutes=1)}
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert type(trigger).__name__ == "DateTimeTrigger"
    assert abs(trigger.moment - (context["data_interval_end"] + timedelta(minutes=5))) < timedelta(seconds=1)
    assert deferred.value.method_name == "execute_settled"
    assert sandbox.counters()["requests_total"] == 0  # nothing was read before settling
    result = op.execute_settled(context, {"status": "success"})
    assert result["path"].endswith("today.jsonl") and path.exists()


def test_settle_zero_and_past_windows_do_not_defer(world, tmp_path):
    world()
    now = datetime.now(timezone.utc)
    op = XentreeTranscriptExportOperator(task_id="nowait", output_path=str(tmp_path / "x.jsonl"), settle=0)
    op.execute({"data_interval_start": now - DAY, "data_interval_end": now - timedelta(seconds=1)})


def exporter_ids(window: TimeWindow, field: str, **kwargs: Any) -> tuple[list[str], int]:
    hook = XentreeHook()
    try:
        exporter = TranscriptExporter(hook, Selection(window, field), page_size=200, log=LOGGER, **kwargs)
        return exporter.select(), exporter.list_requests
    finally:
        hook.close()


@pytest.mark.parametrize("field", ["session_started_at", "created_at"])
def test_an_old_window_is_found_by_search_and_matches_a_full_scan(world, field):
    world(transcripts=20_000, days=200, late_share=0.2, late_hours=20)
    everything = every_transcript()
    for days_back in (1, 100, 197):
        window = TimeWindow(ANCHOR - days_back * DAY, ANCHOR - (days_back - 1) * DAY)
        ids, requests = exporter_ids(window, field)
        expected = sorted(
            (parse_timestamp(t[field]), t["id"]) for t in everything if parse_timestamp(t[field]) in window
        )
        assert ids == [tid for _, tid in expected]
        # a full scan would read one page per 200 newer transcripts (up to 100 for the oldest day)
        assert requests <= 20, (days_back, requests)


def test_a_server_that_ignores_offset_is_read_from_the_top(world, caplog):
    world(transcripts=3000, days=28, list_shape="page", ignore_offset=True)
    window = TimeWindow(ANCHOR - 20 * DAY, ANCHOR - 19 * DAY)
    with caplog.at_level(logging.INFO, logger=LOGGER.name):
        ids, _ = exporter_ids(window, "created_at")
    assert any("ignores 'offset'" in r.getMessage() for r in caplog.records)
    world(transcripts=3000, days=28)
    reference, _ = exporter_ids(window, "created_at")
    assert ids == reference and ids


def test_an_existing_directory_as_output_fails_before_any_request(world, tmp_path):
    sandbox = world()
    sandbox.reset_counters()
    op = XentreeTranscriptExportOperator(task_id="dir", output_path=str(tmp_path))
    with pytest.raises(XentreeConfigError, match="is an existing directory"):
        op.execute({"data_interval_start": ANCHOR - 2 * DAY, "data_interval_end": ANCHOR - DAY})
    assert sandbox.counters()["requests_total"] == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["29", "10:00", "Nov 29 2026", "2026-11-29 noon", "20261129", "2026-W48"])
def test_dates_must_be_iso_8601(world, tmp_path, value):
    sandbox = world()
    sandbox.reset_counters()
    op = XentreeTranscriptExportOperator(task_id="d", output_path=str(tmp_path / "d.jsonl"), start=value)
    with pytest.raises(XentreeConfigError, match=r"accepted: a date 2026-11-24") as raised:
        op.execute({"data_interval_start": ANCHOR - 2 * DAY, "data_interval_end": ANCHOR - DAY})
    assert repr(value) in str(raised.value)
    assert sandbox.counters()["requests_total"] == 0
