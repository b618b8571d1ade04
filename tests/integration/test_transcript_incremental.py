"""Incremental exports (watermark in the asset state store) and the new-transcripts event trigger."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import airflow
import pytest
from airflow.sdk import Asset

from xentree_provider import _compat
from xentree_provider._compat import AirflowSkipException, AirflowVersionError, TaskDeferred
from xentree_provider.api.errors import XentreeConfigError, XentreeError
from xentree_provider.api.timestamps import parse_timestamp
from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.operators.live_incremental import (
    WATERMARK_KEY,
    XentreeIncrementalTranscriptExportOperator,
)
from xentree_provider.testing import SandboxServer
from xentree_provider.triggers.new_transcripts import XentreeNewTranscriptsTrigger

pytestmark = pytest.mark.integration

# The incremental export keeps its watermark in the asset state store; on an older Airflow it fails at
# once (test_an_older_airflow_fails_at_once_naming_the_version, run on every version).
needs_asset_state_store = pytest.mark.needs_airflow("3.3", "the asset state store")

ANCHOR = datetime(2026, 3, 1, tzinfo=timezone.utc)
CONN_ENV = "AIRFLOW_CONN_XENTREE_DEFAULT"


class FakeAssetState:
    """The asset state store of one Asset, in memory (what ``context["asset_state_store"]`` gives)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sets: list[tuple[str, Any]] = []

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value
        self.sets.append((key, value))


class FakeStore:
    def __init__(self, asset: Asset) -> None:
        self.asset, self.state = asset, FakeAssetState()

    def __getitem__(self, asset: Asset) -> FakeAssetState:
        assert asset.uri == self.asset.uri
        return self.state


@pytest.fixture
def world(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch):
    def reset(**config: Any) -> SandboxServer:
        sandbox.reset(anchor=ANCHOR.date().isoformat(), **config)
        monkeypatch.setenv(CONN_ENV, sandbox.connection_env())
        return sandbox

    return reset


def save_one(started: datetime) -> dict[str, Any]:
    hook = XentreeHook()
    try:
        return dict(
            hook.save_transcript(
                started,
                started + timedelta(minutes=5),
                [{"role": "user", "text": "hello", "timestamp": started.isoformat()}],
            )
        )
    finally:
        hook.close()


def operator(tmp_path: Path, name: str, **kwargs: Any) -> XentreeIncrementalTranscriptExportOperator:
    kwargs.setdefault("asset", f"file://{tmp_path}/out")  # one Asset for every run's file
    kwargs.setdefault("settle", 0)
    return XentreeIncrementalTranscriptExportOperator(
        task_id=f"inc_{name}", output_path=str(tmp_path / "out" / f"{name}.jsonl"), **kwargs
    )


def ids_in(path: str) -> list[str]:
    return [json.loads(line)["id"] for line in Path(path.removeprefix("file://")).read_text().splitlines()]


@needs_asset_state_store
def test_runs_export_what_was_saved_since_the_last_one(world, tmp_path):
    world(transcripts=400, days=5)
    first = operator(tmp_path, "first")
    store = FakeStore(first.asset)
    result = first.execute({"asset_state_store": store})
    assert result["count"] == 400  # no watermark yet: everything saved so far
    assert store.state.values[WATERMARK_KEY] == result["watermark"]

    # a session of 30 hours ago, saved now: a late arrival (within max_arrival_lag)
    saved = save_one(datetime.now(timezone.utc) - timedelta(hours=30))
    second = operator(tmp_path, "second")
    result2 = second.execute({"asset_state_store": store})
    assert ids_in(result2["path"]) == [saved["id"]]
    assert parse_timestamp(result2["watermark"]) > parse_timestamp(result["watermark"])
    assert result2["window"]["start"] == result["watermark"]


@needs_asset_state_store
def test_a_failed_try_leaves_the_watermark_so_the_next_exports_the_range_again(world, tmp_path):
    sandbox = world(transcripts=200, days=3)
    op = operator(tmp_path, "try")
    store = FakeStore(op.asset)
    store.state.values[WATERMARK_KEY] = "2026-02-27T00:00:00Z"
    sandbox.set_faults(error_rate=1.0)
    with pytest.raises(XentreeError):
        operator(tmp_path, "try", hook_overrides={"max_retries": 0}).execute({"asset_state_store": store})
    assert store.state.sets == []  # not advanced
    sandbox.clear_faults()
    result = op.execute({"asset_state_store": store})
    assert result["window"]["start"] == "2026-02-27T00:00:00Z" and result["count"] > 0


class OvertakenAssetState(FakeAssetState):
    """An asset state that another, overlapping run moves on while this run exports."""

    def __init__(self, start: str, overtaken_to: str) -> None:
        super().__init__()
        self.values[WATERMARK_KEY] = start
        self.overtaken_to = overtaken_to
        self.reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        if self.reads == 2:  # the export has run: the other run has finished meanwhile
            self.values[key] = self.overtaken_to
        return super().get(key, default)


@needs_asset_state_store
def test_an_overlapping_run_never_moves_the_watermark_backwards(world, tmp_path):
    world(transcripts=100, days=3)
    op = operator(tmp_path, "overlap")
    assert op.max_active_tis_per_dag == 1  # runs of the task do not overlap by default
    store = FakeStore(op.asset)
    ahead = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    store.state = OvertakenAssetState("2026-02-27T00:00:00Z", ahead)
    result = op.execute({"asset_state_store": store})
    assert store.state.sets == [] and store.state.values[WATERMARK_KEY] == ahead
    assert result["watermark"] == ahead


@needs_asset_state_store
def test_nothing_new_since_the_watermark_is_a_skip(world, tmp_path):
    world(transcripts=50, days=2)
    op = operator(tmp_path, "skip")
    store = FakeStore(op.asset)
    store.state.values[WATERMARK_KEY] = (datetime.now(timezone.utc) + timedelta(minutes=10)).isoformat()
    with pytest.raises(AirflowSkipException, match="nothing to export"):
        op.execute({"asset_state_store": store})


@needs_asset_state_store
def test_a_run_fixes_its_end_then_settles_in_the_triggerer(world, tmp_path):
    sandbox = world(transcripts=100, days=2)
    sandbox.reset_counters()
    op = operator(tmp_path, "settle", settle=timedelta(minutes=2))
    store = FakeStore(op.asset)
    before = datetime.now(timezone.utc)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"asset_state_store": store})
    end = parse_timestamp(deferred.value.kwargs["end"])
    assert before <= end <= datetime.now(timezone.utc)
    assert deferred.value.trigger.moment == end + timedelta(minutes=2)
    assert sandbox.counters()["requests_total"] == 0 and store.state.sets == []
    saved_meanwhile = save_one(datetime.now(timezone.utc) - timedelta(minutes=30))
    result = op.execute_settled({"asset_state_store": store}, None, **deferred.value.kwargs)
    assert result["watermark"] == deferred.value.kwargs["end"]
    # in this file exactly when its (rendered) created_at is before the end; else in the next run's
    inside = parse_timestamp(saved_meanwhile["created_at"]) < end
    assert (saved_meanwhile["id"] in ids_in(result["path"])) == inside


def test_an_older_airflow_fails_at_once_naming_the_version(world, tmp_path, monkeypatch):
    """On Airflow 3.1 and 3.2 as they are; on 3.3+ as if it were 3.2.1."""
    sandbox = world()
    sandbox.reset_counters()
    if _compat.airflow_version() >= (3, 3, 0):
        monkeypatch.setattr(_compat, "airflow_version", lambda: (3, 2, 1))
        monkeypatch.setattr(airflow, "__version__", "3.2.1")
    running = re.escape(airflow.__version__)
    op = operator(tmp_path, "old")
    needs = rf"needs Apache Airflow 3\.3 or newer; this is Airflow {running}\."
    with pytest.raises(AirflowVersionError, match=needs):
        op.execute({"asset_state_store": FakeStore(op.asset)})
    assert sandbox.counters()["requests_total"] == 0


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="end cannot be set"):
        XentreeIncrementalTranscriptExportOperator(task_id="a", output_path="/x/y.jsonl", end="2026-01-01")
    with pytest.raises(ValueError, match="window_field cannot be set"):
        XentreeIncrementalTranscriptExportOperator(
            task_id="b", output_path="/x/y.jsonl", window_field="session_started_at"
        )
    with pytest.raises(ValueError, match="watermark on its output Asset"):
        XentreeIncrementalTranscriptExportOperator(task_id="c", output_path="/x/y.jsonl", asset=False)


@needs_asset_state_store
def test_a_start_that_is_not_a_timestamp_is_refused_when_the_task_runs():
    op = XentreeIncrementalTranscriptExportOperator(task_id="d", output_path="/x/y.jsonl", start="yesterday")
    with pytest.raises(XentreeConfigError, match="ISO"):
        op.execute({"asset_state_store": FakeStore(op.asset)})


def newest_created_at() -> str:
    hook = XentreeHook()
    try:
        return max(t["created_at"] for t in hook.iter_transcripts(page_size=200))
    finally:
        hook.close()


async def first_event(trigger: XentreeNewTranscriptsTrigger) -> dict[str, Any]:
    polls = trigger.poll()
    try:
        return await asyncio.wait_for(polls.__anext__(), timeout=60)
    finally:
        await polls.aclose()


def test_the_trigger_fires_when_a_transcript_is_saved(world):
    world(transcripts=300, days=4)
    watermark = newest_created_at()  # as if a first poll had just run
    saved = save_one(datetime.now(timezone.utc) - timedelta(hours=20))
    event = asyncio.run(first_event(XentreeNewTranscriptsTrigger(poke_interval=0.1, newer_than=watermark)))
    assert event["count"] == 1
    assert parse_timestamp(event["newest_created_at"]) == parse_timestamp(saved["created_at"])
    assert event["since"] == watermark and event["conn_id"] == "xentree_default"


def test_the_first_poll_only_sets_the_watermark(world, monkeypatch):
    """The save happens while the trigger sleeps after its first poll: one event, counting only it."""
    from xentree_provider.triggers import new_transcripts

    world(transcripts=300, days=4)
    real_sleep = asyncio.sleep
    sleeps: list[float] = []
    saved: list[dict[str, Any]] = []

    async def sleep_and_save(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 1:  # right after the baseline poll
            saved.append(await asyncio.to_thread(save_one, datetime.now(timezone.utc) - timedelta(hours=1)))
        await real_sleep(0)

    monkeypatch.setattr(new_transcripts.asyncio, "sleep", sleep_and_save)
    event = asyncio.run(first_event(XentreeNewTranscriptsTrigger(poke_interval=5)))
    assert event["count"] == 1 and len(sleeps) == 1
    assert parse_timestamp(event["newest_created_at"]) == parse_timestamp(saved[0]["created_at"])


def test_watchers_of_one_connection_share_one_poll():
    one = XentreeNewTranscriptsTrigger(poke_interval=30)
    two = XentreeNewTranscriptsTrigger(poke_interval=30)
    other = XentreeNewTranscriptsTrigger(conn_id="xentree_other", poke_interval=30)
    assert one.shared_stream_key() == two.shared_stream_key() != other.shared_stream_key()
    path, kwargs = one.serialize()
    assert path == "xentree_provider.triggers.new_transcripts.XentreeNewTranscriptsTrigger"
    assert XentreeNewTranscriptsTrigger(**kwargs).serialize() == (path, kwargs)
    json.dumps(kwargs)


def test_without_shared_streams_each_watcher_polls_on_its_own(world):
    """What a triggerer without shared streams (Airflow < 3.3) does: ``run()`` of each watcher."""
    sandbox = world(transcripts=100, days=2)
    watermark = newest_created_at()
    saved = save_one(datetime.now(timezone.utc) - timedelta(hours=2))
    watchers = [XentreeNewTranscriptsTrigger(poke_interval=0.1, newer_than=watermark) for _ in range(2)]

    async def first_events() -> list[Any]:
        runs = [watcher.run() for watcher in watchers]
        try:
            return [await asyncio.wait_for(run.__anext__(), timeout=60) for run in runs]
        finally:
            for run in runs:
                await run.aclose()

    sandbox.reset_counters()
    events = asyncio.run(first_events())
    assert [event.payload["count"] for event in events] == [1, 1]
    assert {parse_timestamp(event.payload["newest_created_at"]) for event in events} == {
        parse_timestamp(saved["created_at"])
    }
    assert sandbox.counters()["requests"].get("GET /api/live/transcripts", 0) == 2  # one poll each


@pytest.mark.needs_airflow("3.3", "shared trigger streams (airflow.triggers.shared_stream)")
def test_the_shared_stream_fans_one_poll_out_to_every_watcher(world):
    """Airflow's own SharedStreamManager: two watchers, one poll (one baseline list read), two events."""
    from airflow.triggers.shared_stream import SharedStreamManager

    sandbox = world(transcripts=100, days=2)
    watermark = newest_created_at()
    save_one(datetime.now(timezone.utc) - timedelta(hours=2))
    first = XentreeNewTranscriptsTrigger(poke_interval=0.1, newer_than=watermark)
    second = XentreeNewTranscriptsTrigger(poke_interval=0.1, newer_than=watermark)

    async def scenario() -> list[Any]:
        manager = SharedStreamManager()
        key = first.shared_stream_key()
        streams = [
            trigger.filter_shared_stream(manager.subscribe(trigger_id=number, trigger=trigger, key=key))
            for number, trigger in enumerate((first, second))
        ]
        sandbox.reset_counters()
        events = [await asyncio.wait_for(stream.__anext__(), timeout=60) for stream in streams]
        list_reads = sandbox.counters()["requests"].get("GET /api/live/transcripts", 0)
        await manager.stop_all()
        return [*events, list_reads]

    *events, list_reads = asyncio.run(scenario())
    assert [event.payload["count"] for event in events] == [1, 1]
    assert list_reads == 1  # one poll (one page: the saved session is recent) served both watchers
    assert events[0].payload == events[1].payload


@needs_asset_state_store
def test_incremental_exports_redact_and_count(world, tmp_path, monkeypatch):
    world(transcripts=20, days=2)
    key = "incremental-redaction-key-7d1e"
    monkeypatch.setenv("AIRFLOW_CONN_INC_KEY", json.dumps({"conn_type": "generic", "password": key}))
    hashed = {"redact": ["email", "phone"], "redaction": "hash", "redaction_key_conn_id": "inc_key"}
    op = operator(tmp_path, "r", fields=["turns"], **hashed)
    store = FakeStore(op.asset)
    started = datetime.now(timezone.utc) - timedelta(minutes=1)
    # a minute back: the sandbox stores save times to the second
    store.state.values[WATERMARK_KEY] = started.isoformat()
    text = "write to eve@example.com or call +1 555 123 4567"
    hook = XentreeHook()
    try:
        hook.save_transcript(
            started, started, [{"role": "user", "text": text, "timestamp": started.isoformat()}]
        )
    finally:
        hook.close()
    result = op.execute({"asset_state_store": store})
    assert result["count"] == 1 and result["redactions"] == {"email": 1, "phone": 1}
    lines = Path(result["path"].removeprefix("file://")).read_text().splitlines()
    (record,) = [json.loads(line) for line in lines]
    assert set(record) == {"id", "turns"}
    token = r"[0-9a-f]{16}"
    assert re.fullmatch(rf"write to \[email:{token}\] or call \[phone:{token}\]", record["turns"][0]["text"])
    assert key not in json.dumps(result)


@needs_asset_state_store
def test_incremental_hash_without_a_usable_key_fails_before_any_request(world, tmp_path):
    sandbox = world(transcripts=5, days=1)
    op = operator(tmp_path, "nokey", redact=["email"], redaction="hash", redaction_key_variable="no_such_var")
    sandbox.reset_counters()
    with pytest.raises(XentreeConfigError, match="redaction_key_variable='no_such_var'"):
        op.execute({"asset_state_store": FakeStore(op.asset)})
    assert sum(sandbox.counters()["requests"].values()) == 0
