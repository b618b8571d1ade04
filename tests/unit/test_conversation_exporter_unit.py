"""The conversation export without HTTP or Airflow: selection, records, writers and the exporter, with an
in-memory client (what the list order, pagination and deletions can do is decided here)."""

from __future__ import annotations

import io
import random
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from xentree_provider.api.errors import XentreeNotFoundError, XentreeResponseError
from xentree_provider.conversations.exporter import ConversationExporter
from xentree_provider.conversations.records import canonical_conversation
from xentree_provider.conversations.schema import CSV_COLUMNS, RECORD_FIELDS, csv_columns, export_schema
from xentree_provider.conversations.selection import ConversationSelection
from xentree_provider.exports.window import TimeWindow

START = datetime(2026, 2, 10, tzinfo=timezone.utc)
END = datetime(2026, 2, 11, tzinfo=timezone.utc)
WINDOW = TimeWindow(START, END)


def conversation(cid: str, created: str | None, updated: str | None, title: str = "T") -> dict[str, Any]:
    return {"id": cid, "title": title, "created_at": created, "updated_at": updated}


def message(mid: str, created: Any, content: str = "hello", role: str = "user") -> dict[str, Any]:
    return {"id": mid, "role": role, "content": content, "created_at": created}


class FakeClient:
    """Conversations and their messages in memory; the list in any order; reads counted."""

    def __init__(self, data: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]], order_seed: int = 0):
        self.data = data
        self.order_seed = order_seed
        self.message_reads: list[str] = []
        self.deleted: set[str] = set()
        self.lock = threading.Lock()

    def iter_conversations(self, *, page_size: int = 100) -> Iterator[Any]:
        listed = [record for record, _ in self.data.values()]
        random.Random(self.order_seed).shuffle(listed)
        return iter(listed)

    def iter_conversation_messages(self, conversation_id: str, *, page_size: int = 100) -> Iterator[Any]:
        with self.lock:
            self.message_reads.append(conversation_id)
        if conversation_id in self.deleted:
            raise XentreeNotFoundError(f"Conversation {conversation_id} not found", status=404)
        messages = list(self.data[conversation_id][1])
        random.Random(self.order_seed).shuffle(messages)
        return iter(messages)


def world() -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    return {
        "c-old": (
            conversation("c-old", "2026-02-01T00:00:00Z", "2026-02-02T00:00:00Z"),
            [message("m1", "2026-02-01T00:00:05Z")],
        ),
        "c-span": (
            conversation("c-span", "2026-02-09T23:00:00Z", "2026-02-12T08:00:00Z"),
            [
                message("m2", "2026-02-09T23:59:59.999999Z"),
                message("m3", "2026-02-10T00:00:00Z"),
                message("m4", "2026-02-10T00:00:00+00:00", role="assistant"),
                message("m5", "2026-02-10T23:59:59.999999Z"),
                message("m6", "2026-02-11T00:00:00Z"),
            ],
        ),
        "c-new": (
            conversation("c-new", "2026-02-11T00:00:00Z", "2026-02-11T00:10:00Z"),
            [message("m7", "2026-02-11T00:05:00Z")],
        ),
        "c-day": (
            conversation("c-day", "2026-02-10T12:00:00.500000Z", "2026-02-10T12:30:00Z", title="Day"),
            [message("m8", "2026-02-10T12:00:01Z", content="a,b\nc"), message("m9", "2026-02-10T12:10:00Z")],
        ),
        "c-quiet": (
            conversation("c-quiet", "2026-02-09T08:00:00Z", "2026-02-10T09:00:00Z"),
            [message("m10", "2026-02-09T08:00:01Z")],  # updated in the window, no message in it
        ),
    }


def export_text(client: FakeClient, export_format: str = "jsonl", **kwargs: Any) -> tuple[str, Any]:
    selection = ConversationSelection(WINDOW, prune=kwargs.pop("prune", False))
    exporter = ConversationExporter(client, selection, **kwargs)
    stream = io.StringIO()
    result = exporter.write(exporter.select(), stream, export_format)
    return stream.getvalue(), result


def test_pruning_reads_only_conversations_that_can_hold_window_messages():
    selection = ConversationSelection(WINDOW, prune=True)
    verdicts = {cid: selection.may_hold(record) for cid, (record, _) in world().items()}
    assert verdicts == {"c-old": False, "c-span": True, "c-new": True, "c-day": True, "c-quiet": True}
    strict = ConversationSelection(WINDOW, prune=True, tolerance=timedelta(0))  # c-new: created at the end
    assert not strict.may_hold(world()["c-new"][0])
    assert selection.may_hold(conversation("c", None, None))  # nothing known: read it
    assert ConversationSelection(WINDOW, prune=False).may_hold(world()["c-old"][0])


def test_messages_in_window_are_half_open_sorted_and_each_once():
    selection = ConversationSelection(WINDOW)
    messages = [*world()["c-span"][1], message("m3", "2026-02-10T00:00:00Z")]  # m3 twice (paging shift)
    random.Random(3).shuffle(messages)
    chosen = selection.messages_in_window(world()["c-span"][0], messages)
    assert [m["id"] for m in chosen] == ["m3", "m4", "m5"]


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (message("m1", None), r"conversation 'c'.*no 'created_at'"),
        (message("m1", "yesterday"), r"conversation 'c'.*not an ISO-8601"),
        ({"role": "user", "content": "x", "created_at": "2026-02-10T00:00:00Z"}, "has no id"),
    ],
)
def test_a_message_that_cannot_be_placed_is_a_clear_error(bad, match):
    with pytest.raises(XentreeResponseError, match=match):
        ConversationSelection(WINDOW).messages_in_window({"id": "c"}, [bad])


@pytest.mark.parametrize(
    ("record", "stamp", "problem"),
    [
        (
            conversation("c", "2026-02-10T01:00:00Z", "2026-02-10T01:00:00Z"),
            "2026-02-10T01:06:00Z",
            "updated_at",
        ),
        (
            conversation("c", "2026-02-10T01:10:00Z", "2026-02-10T02:00:00Z"),
            "2026-02-10T01:04:00Z",
            "created_at",
        ),
    ],
)
def test_pruning_fails_on_a_conversation_whose_times_do_not_hold_its_messages(record, stamp, problem):
    selection = ConversationSelection(WINDOW, prune=True)
    with pytest.raises(XentreeResponseError, match=rf"message 'm'.*{problem}.*prune=False"):
        selection.messages_in_window(record, [message("m", stamp)])
    assert ConversationSelection(WINDOW).messages_in_window(record, [message("m", stamp)])  # no pruning


def test_pruning_tolerates_times_a_little_off_and_messages_after_the_window():
    selection = ConversationSelection(WINDOW, prune=True)
    record = conversation("c", "2026-02-10T01:00:00.003Z", "2026-02-10T01:00:00Z")
    early_and_late = [message("m1", "2026-02-10T01:00:00Z"), message("m2", "2026-02-10T01:04:59Z")]
    assert len(selection.messages_in_window(record, early_and_late)) == 2
    after_the_window = [message("m3", "2026-02-11T00:00:00Z")]  # may be newer than the list record
    assert selection.messages_in_window(record, after_the_window) == []


def test_a_garbled_conversation_time_is_a_clear_error():
    with pytest.raises(XentreeResponseError, match=r"conversation 'c'.*not an ISO-8601"):
        ConversationSelection(WINDOW, prune=True).may_hold(conversation("c", "soon", None))


def test_records_are_canonical_and_keep_only_documented_fields():
    record = canonical_conversation(
        {**conversation("c", "2026-02-10T12:00:00.000000+00:00", None), "extra": 1},
        [{**message("m", "2026-02-10T12:00:01.250Z"), "tokens": 3}],
    )
    assert record == {
        "id": "c",
        "title": "T",
        "created_at": "2026-02-10T12:00:00Z",
        "updated_at": None,
        "messages": [
            {"id": "m", "role": "user", "content": "hello", "created_at": "2026-02-10T12:00:01.250000Z"}
        ],
    }
    assert tuple(record) == RECORD_FIELDS


def test_the_file_is_the_same_whatever_the_list_order_and_concurrency():
    outputs = {
        export_text(FakeClient(world(), order_seed=seed), max_workers=workers)[0]
        for seed in range(5)
        for workers in (1, 4)
    }
    assert len(outputs) == 1
    lines = outputs.pop().splitlines()
    # by the conversation's created_at: c-span (09 23:00), then c-day (10 12:00); c-quiet has none
    assert [line[:14] for line in lines] == ['{"id":"c-span"', '{"id":"c-day",']


def test_csv_is_one_row_per_message_with_line_breaks_quoted():
    text, result = export_text(FakeClient(world()), "csv")
    lines = text.split("\n")
    assert lines[0] == ",".join(CSV_COLUMNS)
    assert '"a,b\nc"' in text
    assert result.rows == result.messages == 5 and result.conversations == 2


def test_pruning_changes_reads_not_the_file():
    pruned = FakeClient(world())
    everything = FakeClient(world())
    assert export_text(pruned, prune=True)[0] == export_text(everything, prune=False)[0]
    assert sorted(pruned.message_reads) == ["c-day", "c-new", "c-quiet", "c-span"]  # c-new: tolerance
    assert sorted(everything.message_reads) == sorted(world())


def test_a_conversation_deleted_after_the_list_is_reported_missing():
    client = FakeClient(world())
    client.deleted.add("c-day")
    text, result = export_text(client)
    assert result.missing == ["c-day"] and result.conversations == 1
    assert '"c-day"' not in text


def test_every_read_asks_the_concurrency_for_a_slot():
    class Counting:
        def __init__(self) -> None:
            self.slots = 0

        def slot(self) -> AbstractContextManager[object]:
            self.slots += 1
            return threading.Lock()

    concurrency = Counting()
    export_text(FakeClient(world()), concurrency=concurrency)
    assert concurrency.slots == len(world())  # one read per conversation (no pruning by default)


def test_fields_select_columns_in_every_schema():
    assert csv_columns(["id", "messages"]) == (
        "conversation_id",
        "message_id",
        "role",
        "content",
        "created_at",
    )
    assert csv_columns(None) == CSV_COLUMNS
    assert [c.name for c in export_schema("parquet", ["id", "updated_at"])] == ["id", "updated_at"]
    assert [c.name for c in export_schema("csv", ["id", "title"])] == [
        "conversation_id",
        "conversation_title",
    ]


def test_parquet_row_groups_are_bounded_by_messages_as_well_as_conversations(monkeypatch):
    import pyarrow.parquet as pq

    from xentree_provider.conversations import writers

    monkeypatch.setattr(writers, "MESSAGES_PER_ROW_GROUP", 5)
    talkative = {
        f"c{i}": (
            conversation(f"c{i}", "2026-02-10T01:00:00Z", "2026-02-10T02:00:00Z"),
            [message(f"m{i}-{j}", f"2026-02-10T01:0{j}:00Z") for j in range(3)],
        )
        for i in range(4)
    }
    exporter = ConversationExporter(FakeClient(talkative), WINDOW)
    stream = io.BytesIO()
    exporter.write(exporter.select(), stream, "parquet")
    stream.seek(0)
    metadata = pq.ParquetFile(stream).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [2, 2]


def test_messages_outside_the_window_are_dropped_while_the_pages_are_read():
    class Message(dict[str, Any]):
        """A message that can be watched with a weak reference."""

    outside: list[weakref.ref[Message]] = []

    class Paging(FakeClient):
        def iter_conversation_messages(self, conversation_id: str, *, page_size: int = 100) -> Iterator[Any]:
            for index in range(50):
                # the messages outside the window before the last one handed out (the reader's loop
                # variable) are freed already: nothing holds the history
                assert all(ref() is None for ref in outside[:-1]), "messages outside the window were kept"
                old = Message(message(f"old-{index}", "2026-02-01T00:00:00Z"))
                outside.append(weakref.ref(old))
                yield old
                del old
            yield message("new", "2026-02-10T01:00:00Z")

    data = {"c": (conversation("c", "2026-02-01T00:00:00Z", "2026-02-10T01:00:00Z"), [])}
    _, result = export_text(Paging(data))
    assert result.messages == 1 and len(outside) == 50
