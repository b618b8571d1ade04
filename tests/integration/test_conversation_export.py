"""XentreeConversationExportOperator over real HTTP to the sandbox: windows, formats, re-runs, the server
clock, redaction and bad inputs."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from tiny_http import Request, json_answer, serve

from xentree_provider._compat import TaskDeferred
from xentree_provider.api.errors import XentreeConfigError, XentreeResponseError, XentreeServerError
from xentree_provider.api.timestamps import parse_timestamp
from xentree_provider.conversations.exporter import MAX_LIST_PASSES, ConversationExporter
from xentree_provider.conversations.schema import CSV_COLUMNS
from xentree_provider.exports.window import TimeWindow
from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.operators.conversations import (
    XentreeConversationExportOperator,
    XentreeEmptyWindowError,
)
from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.integration

ANCHOR = datetime(2026, 3, 1, tzinfo=timezone.utc)
DAYS = 28
CONVERSATIONS = 120
CONN_ENV = "AIRFLOW_CONN_XENTREE_DEFAULT"
API_KEY = "xntr-" + "A" * 86


def _day(offset: int) -> tuple[datetime, datetime]:
    """The UTC day ``offset`` days before the anchor."""
    start = ANCHOR - timedelta(days=offset)
    return start, start + timedelta(days=1)


def _context(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    return {"data_interval_start": start, "data_interval_end": end}


@pytest.fixture
def world(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch):
    """``world(**config)``: reset the sandbox to the fixed anchor plus ``config``; conn env updated."""

    def reset(**config: Any) -> SandboxServer:
        sandbox.reset(anchor=ANCHOR.date().isoformat(), conversations=CONVERSATIONS, **config)
        monkeypatch.setenv(CONN_ENV, sandbox.connection_env())
        return sandbox

    reset()
    return reset


def export(tmp_path: Path, name: str, window: tuple[datetime | None, datetime | None], **kwargs: Any):
    path = tmp_path / name
    task_id = "export_" + re.sub(r"\W", "_", name)
    kwargs.setdefault("settle", 0)
    op = XentreeConversationExportOperator(task_id=task_id, output_path=str(path), **kwargs)
    return op.execute(_context(*window)), path


def every_message() -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every conversation with all its messages, read independently of the exporter."""
    hook = XentreeHook()
    found = {c["id"]: (c, list(hook.iter_conversation_messages(c["id"]))) for c in hook.iter_conversations()}
    hook.close()
    return found


def expected(start: datetime, end: datetime) -> list[tuple[str, list[str]]]:
    """``[(conversation id, [message ids])]`` of the window, sorted as the export documents."""
    rows = []
    for cid, (conversation, messages) in every_message().items():
        inside = sorted(
            (parse_timestamp(m["created_at"]), m["id"])
            for m in messages
            if start <= parse_timestamp(m["created_at"]) < end
        )
        if inside:
            rows.append((parse_timestamp(conversation["created_at"]), cid, [mid for _, mid in inside]))
    return [(cid, mids) for _, cid, mids in sorted(rows)]


def jsonl(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]


def test_a_day_holds_the_conversations_with_messages_created_in_it(world, tmp_path):
    start, end = _day(3)
    result, path = export(tmp_path, "day.jsonl", (start, end))
    records = jsonl(path)
    assert [(r["id"], [m["id"] for m in r["messages"]]) for r in records] == expected(start, end)
    assert records, "the seeded day has conversations"
    assert list(records[0]) == ["id", "title", "created_at", "updated_at", "messages"]
    assert list(records[0]["messages"][0]) == ["id", "role", "content", "created_at"]
    for record in records:
        for message in record["messages"]:
            assert start <= parse_timestamp(message["created_at"]) < end
            assert message["created_at"].endswith("Z")
    assert result == {
        "path": f"file://{path}",
        "count": len(records),
        "messages": sum(len(r["messages"]) for r in records),
        "bytes": path.stat().st_size,
        "format": "jsonl",
        "compression": None,
        "window": {"start": "2026-02-26T00:00:00Z", "end": "2026-02-27T00:00:00Z"},
        "missing": 0,
        "asset": f"file://{path}",
        "redactions": {},
    }


@pytest.mark.parametrize(
    ("prune", "updates"),
    [(None, "each_message"), (None, "frozen"), (False, "frozen"), (True, "each_message")],
)
def test_consecutive_windows_hold_every_message_exactly_once(world, tmp_path, prune, updates):
    """Complete by default whatever the server does with ``updated_at``; pruning where it moves (on a
    frozen one pruning fails loudly, next test)."""
    world(conversation_updates=updates)
    options = {} if prune is None else {"prune": prune}
    seen: list[str] = []
    for offset in range(DAYS, 0, -1):
        _, path = export(tmp_path, f"day-{offset}-{prune}.jsonl", _day(offset), **options)
        seen += [m["id"] for record in jsonl(path) for m in record["messages"]]
    everything = [m["id"] for _, messages in every_message().values() for m in messages]
    assert len(seen) == len(set(seen)), "a message was exported twice"
    assert sorted(seen) == sorted(everything)
    assert len(everything) > 1000


def test_pruning_on_a_server_that_never_moves_updated_at_fails_loudly(world, tmp_path):
    world(conversation_updates="frozen")
    with pytest.raises(
        XentreeResponseError, match=r"cannot be trusted to prune with: export with prune=False"
    ):
        export(tmp_path, "frozen.jsonl", _day(3), prune=True)
    assert not (tmp_path / "frozen.jsonl").exists()


def test_a_day_boundary_splits_at_the_microsecond(world, tmp_path):
    hook = XentreeHook()
    first = next(c for c in hook.iter_conversations() if c["title"])
    hook.close()
    boundary = {
        m["id"]: parse_timestamp(m["created_at"])
        for _, messages in every_message().values()
        for m in messages
        if m["content"] in ("Just before midnight", "Just after")
    }
    assert len(boundary) == 2 and first
    midnight = max(boundary.values())
    assert midnight.hour == 0 and midnight.minute == 0 and midnight.microsecond == 0
    _, before = export(tmp_path, "before.jsonl", (midnight - timedelta(days=1), midnight))
    _, after = export(tmp_path, "after.jsonl", (midnight, midnight + timedelta(days=1)))
    before_ids = {m["content"] for r in jsonl(before) for m in r["messages"]}
    after_ids = {m["content"] for r in jsonl(after) for m in r["messages"]}
    assert "Just before midnight" in before_ids and "Just after" not in before_ids
    assert "Just after" in after_ids and "Just before midnight" not in after_ids


def test_every_format_reads_back_with_the_same_values(world, tmp_path):
    import duckdb
    import pyarrow.parquet as pq

    window = _day(5)
    _, reference = export(tmp_path, "reference.jsonl", window)
    records = jsonl(reference)
    assert records
    _, gz = export(tmp_path, "day.jsonl.gz", window, compression="gzip")
    assert gzip.decompress(gz.read_bytes()) == reference.read_bytes()

    _, csv_path = export(tmp_path, "day.csv", window, export_format="csv")
    rows = list(csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    flat = [
        [
            r["id"],
            r["title"],
            r["created_at"],
            r["updated_at"],
            m["id"],
            m["role"],
            m["content"],
            m["created_at"],
        ]
        for r in records
        for m in r["messages"]
    ]
    assert rows[1:] == flat

    _, parquet_path = export(tmp_path, "day.parquet", window, export_format="parquet")
    table = pq.read_table(parquet_path)
    assert table.schema.names == ["id", "title", "created_at", "updated_at", "messages"]
    assert str(table.schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("messages").type.value_type.field("created_at").type) == (
        "timestamp[us, tz=UTC]"
    )

    def iso(value: datetime) -> str:
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")

    from_arrow = [
        {
            **row,
            "created_at": iso(row["created_at"]),
            "updated_at": iso(row["updated_at"]),
            "messages": [{**m, "created_at": iso(m["created_at"])} for m in row["messages"]],
        }
        for row in table.to_pylist()
    ]
    assert from_arrow == records
    messages = duckdb.sql(
        f"SELECT count(*), count(DISTINCT m.id) FROM (SELECT unnest(messages) AS m FROM '{parquet_path}')"
    ).fetchall()
    assert messages == [(len(flat), len(flat))]


@pytest.mark.parametrize("export_format", ["jsonl", "csv", "parquet"])
def test_a_rerun_is_byte_identical_whatever_the_concurrency_and_list_shape(world, tmp_path, export_format):
    window = _day(7)
    _, first = export(tmp_path, f"a.{export_format}", window, export_format=export_format, max_workers=1)
    _, second = export(tmp_path, f"b.{export_format}", window, export_format=export_format, max_workers=16)
    world(list_shape="envelope")
    _, third = export(tmp_path, f"c.{export_format}", window, export_format=export_format, page_size=7)
    assert first.read_bytes() == second.read_bytes() == third.read_bytes()


def test_messages_saved_after_a_run_land_in_the_next_window(world, tmp_path):
    """Night D runs with the server clock just after D; a message saved then belongs to D+1."""
    day, next_day = _day(2), _day(1)
    sandbox = world(clock=(day[1] + timedelta(minutes=5)).isoformat())
    _, night = export(tmp_path, "night-d.jsonl", day)
    conversation = jsonl(night)[0]["id"]
    hook = XentreeHook()
    hook.generate_response("One more question", conversation_id=conversation)  # stamped with the clock
    hook.close()
    _, again = export(tmp_path, "night-d-again.jsonl", day)
    assert again.read_bytes() != night.read_bytes()  # the conversation's updated_at moved on ...
    assert [[m["id"] for m in r["messages"]] for r in jsonl(again)] == [
        [m["id"] for m in r["messages"]] for r in jsonl(night)
    ]  # ... but no new message entered the closed day
    later = jsonl(export(tmp_path, "night-d1.jsonl", next_day)[1])
    added = [m for r in later if r["id"] == conversation for m in r["messages"]]
    assert added[-2]["content"] == "One more question"
    assert sandbox.counters()["requests_total"] > 0


class ChattingBetweenPages:
    """The hook, but someone acts between the first and second page of each conversation list read:
    ``act(hook, pass number)`` (a chat moves a conversation to the top of the sandbox's list)."""

    def __init__(self, hook: XentreeHook, act: Callable[[XentreeHook, int], None]) -> None:
        self.hook = hook
        self.act = act
        self.passes = 0

    def iter_conversations(self, *, page_size: int = 200) -> Iterator[Any]:
        self.passes += 1
        for index, record in enumerate(self.hook.iter_conversations(page_size=page_size)):
            yield record
            if index == page_size - 1:  # the first page is read, the second not yet
                self.act(self.hook, self.passes)

    def iter_conversation_messages(self, conversation_id: str, *, page_size: int = 200) -> Iterator[Any]:
        return self.hook.iter_conversation_messages(conversation_id, page_size=page_size)


def _live_window(world: Any) -> TimeWindow:
    clock = ANCHOR - timedelta(hours=12)
    world(clock=clock.isoformat())
    return TimeWindow(clock - timedelta(days=1), clock + timedelta(hours=1))


def test_a_conversation_moved_up_the_list_while_it_is_paged_is_exported(world):
    window = _live_window(world)
    hook = XentreeHook()
    last = list(hook.iter_conversations())[-1]["id"]  # least recently updated: read on a later page

    def chat_once(client: XentreeHook, done: int) -> None:
        if done == 1:
            client.generate_response("Still there?", conversation_id=last)

    client = ChattingBetweenPages(hook, chat_once)
    exporter = ConversationExporter(client, window, page_size=20)
    stream = io.StringIO()
    exporter.write(exporter.select(), stream, "jsonl")
    hook.close()
    records = {record["id"]: record for record in map(json.loads, stream.getvalue().splitlines())}
    assert [m["content"] for m in records[last]["messages"]][-2] == "Still there?"
    assert client.passes == 3  # the full pass, the one that found it, the one that found nothing new


def test_a_list_that_keeps_changing_fails_saying_so(world):
    window = _live_window(world)
    hook = XentreeHook()
    client = ChattingBetweenPages(hook, lambda client, done: client.create_conversation(f"New {done}"))
    exporter = ConversationExporter(client, window, page_size=20)
    with pytest.raises(XentreeResponseError, match="conversation list kept changing while it was read"):
        exporter.select()
    hook.close()
    assert client.passes == MAX_LIST_PASSES


def test_redaction_masks_and_hashes_contact_details(world, tmp_path, monkeypatch):
    window = (ANCHOR - timedelta(days=DAYS), ANCHOR)
    _, raw = export(tmp_path, "raw.jsonl", window)
    assert "@example.com" in raw.read_text(encoding="utf-8")
    result, masked = export(tmp_path, "masked.jsonl", window, redact=["email", "phone"])
    text = masked.read_text(encoding="utf-8")
    assert "@example.com" not in text and "+1 415 555" not in text
    assert "[email]" in text and "[phone]" in text
    assert result["redactions"]["email"] == text.count("[email]") > 0
    assert result["redactions"]["phone"] == text.count("[phone]") > 0
    # ids, roles and times are never touched: the masked file differs only in the contents
    for plain, redacted in zip(jsonl(raw), jsonl(masked), strict=True):
        assert [(m["id"], m["role"], m["created_at"]) for m in plain["messages"]] == [
            (m["id"], m["role"], m["created_at"]) for m in redacted["messages"]
        ]
    monkeypatch.setenv("AIRFLOW_VAR_CONVERSATION_KEY", "k" * 32)
    hashed = [
        export(
            tmp_path,
            f"hashed-{n}.jsonl",
            window,
            redact=["email"],
            redaction="hash",
            redaction_key_variable="CONVERSATION_KEY",
        )[1].read_bytes()
        for n in range(2)
    ]
    assert hashed[0] == hashed[1] and b"[email:" in hashed[0] and b"@example.com" not in hashed[0]
    assert b"k" * 32 not in hashed[0]


def test_fields_drop_columns_in_every_format(world, tmp_path):
    import pyarrow.parquet as pq

    window = _day(4)
    _, lines = export(tmp_path, "few.jsonl", window, fields=["id", "messages"])
    assert {tuple(r) for r in jsonl(lines)} == {("id", "messages")}
    _, sheet = export(tmp_path, "few.csv", window, export_format="csv", fields=["id", "messages"])
    assert sheet.read_text().splitlines()[0] == "conversation_id,message_id,role,content,created_at"
    result, table = export(tmp_path, "few.parquet", window, export_format="parquet", fields=["title"])
    assert pq.read_table(table).schema.names == ["id", "title"]
    assert result["count"] == pq.read_table(table).num_rows > 0
    assert result["messages"] == 0  # what the file holds: no messages without the field
    flat, sheet = export(
        tmp_path, "flat.csv", window, export_format="csv", fields=["title"], fail_on_empty=True
    )
    assert flat["messages"] == 0 and flat["count"] == len(sheet.read_text().splitlines()) - 1 > 0
    with pytest.raises(XentreeConfigError, match="fields"):
        XentreeConversationExportOperator(task_id="bad", output_path="/tmp/x.jsonl", fields=["turns"])


def test_an_empty_window_writes_an_empty_file_or_fails_keeping_the_previous_one(world, tmp_path):
    old = (datetime(2020, 1, 1, tzinfo=timezone.utc), datetime(2020, 1, 2, tzinfo=timezone.utc))
    result, path = export(tmp_path, "empty.jsonl", old)
    assert path.read_bytes() == b"" and result["count"] == 0 and result["messages"] == 0
    _, sheet = export(tmp_path, "empty.csv", old, export_format="csv")
    assert sheet.read_text() == ",".join(CSV_COLUMNS) + "\n"
    kept = tmp_path / "kept.jsonl"
    kept.write_text("a previous good file\n")
    with pytest.raises(XentreeEmptyWindowError, match="no messages"):
        export(tmp_path, "kept.jsonl", old, fail_on_empty=True)
    assert kept.read_text() == "a previous good file\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("window", "kwargs", "message"),
    [
        ((None, None), {}, "no data interval"),
        ((ANCHOR, ANCHOR), {}, "CronDataIntervalTimetable"),
        (_day(1), {"start": "2026-02-28", "end": "2026-02-27"}, "not before"),
        (_day(1), {"start": "29"}, "not an ISO date"),
        (_day(1), {"end": "Nov 29 2026"}, "not an ISO date"),
    ],
)
def test_bad_windows_fail_before_any_request(world, tmp_path, window, kwargs, message):
    sandbox = world()
    sandbox.reset_counters()
    with pytest.raises(XentreeConfigError, match=message):
        export(tmp_path, "bad.jsonl", window, **kwargs)
    assert sandbox.counters()["requests_total"] == 0
    assert not (tmp_path / "bad.jsonl").exists()


def test_an_existing_directory_as_output_fails_before_any_request(world, tmp_path):
    sandbox = world()
    (tmp_path / "out").mkdir()
    sandbox.reset_counters()
    with pytest.raises(XentreeConfigError, match="existing directory"):
        export(tmp_path, "out", _day(1))
    assert sandbox.counters()["requests_total"] == 0
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize(
    ("bad_arguments", "message"),
    [
        ({"export_format": "xlsx"}, "export_format"),
        ({"export_format": "parquet", "compression": "gzip"}, "compresses inside"),
        ({"compression": "zip"}, "compression"),
        ({"max_workers": 0}, "max_workers"),
        ({"page_size": 500}, "page_size"),
        ({"settle": -1}, "settle"),
        ({"prune": "no"}, "prune"),
        ({"redaction": "scramble", "redact": ["email"]}, "redaction"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(bad_arguments, message):
    with pytest.raises(ValueError, match=message):
        XentreeConversationExportOperator(task_id="bad", output_path="/tmp/x.jsonl", **bad_arguments)


def test_server_errors_fail_the_task_and_leave_no_file(world, tmp_path):
    sandbox = world()
    previous = tmp_path / "day.jsonl"
    previous.write_text("kept\n")
    sandbox.set_faults(error_rate=1.0, error_codes=[500], fault_routes=["/api/core/conversations/"])
    os.environ[CONN_ENV] = sandbox.connection_env(max_retries=0)
    with pytest.raises(XentreeServerError) as failure:
        export(tmp_path, "day.jsonl", _day(3))
    assert "/messages" in str(failure.value)
    assert previous.read_text() == "kept\n"
    assert [p.name for p in tmp_path.iterdir()] == ["day.jsonl"]


def test_a_message_without_a_time_is_a_clear_error(tmp_path, monkeypatch):
    def answer(request: Request) -> tuple[int, dict[str, str], bytes]:
        first_page = request.query.get("offset", "0") == "0"
        if request.path == "/api/core/conversations":
            return json_answer(
                [{"id": "c1", "title": "T", "created_at": "2026-02-01T00:00:00Z"}] * first_page
            )
        return json_answer([{"id": "m1", "role": "user", "content": "hi"}] * first_page)

    with serve(answer) as server:
        connection = {"conn_type": "xentree", "host": server.url, "extra": {"api_key": API_KEY}}
        monkeypatch.setenv(CONN_ENV, json.dumps(connection))
        with pytest.raises(XentreeResponseError, match=r"conversation 'c1'.*'created_at'"):
            export(tmp_path, "x.jsonl", _day(3))
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.parametrize(
    "variant",
    [
        {"list_shape": "envelope", "envelope_key": "data"},
        {"list_shape": "page", "ignore_offset": True},
        {"timestamp_style": "offset"},
        {"timestamp_style": "fractional"},
    ],
)
def test_every_api_variant_gives_the_same_messages(world, tmp_path, variant):
    window = _day(6)
    _, reference = export(tmp_path, "reference.jsonl", window)
    world(**variant)
    _, path = export(tmp_path, "variant.jsonl", window, page_size=5)
    ids = [[m["id"] for m in r["messages"]] for r in jsonl(path)]
    assert ids == [[m["id"] for m in r["messages"]] for r in jsonl(reference)]
    if variant.get("timestamp_style") != "fractional":
        assert path.read_bytes() == reference.read_bytes()


def test_a_run_just_after_its_window_waits_to_settle_without_reading(world, tmp_path):
    sandbox = world()
    sandbox.reset_counters()
    now = datetime.now(timezone.utc)
    path = tmp_path / "today.jsonl"
    op = XentreeConversationExportOperator(
        task_id="settle", output_path=str(path), settle=timedelta(minutes=5)
    )
    context = _context(now - timedelta(days=1), now - timedelta(minutes=1))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    assert type(deferred.value.trigger).__name__ == "DateTimeTrigger"
    assert deferred.value.trigger.moment == context["data_interval_end"] + timedelta(minutes=5)
    assert deferred.value.method_name == "execute_settled"
    assert sandbox.counters()["requests_total"] == 0
    result = op.execute_settled(context, {"status": "success"})
    assert result["path"] == f"file://{path}" and path.exists()
