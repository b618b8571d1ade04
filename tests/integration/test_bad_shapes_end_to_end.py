"""Operators, sensors and trigger conditions against a server whose JSON has the wrong shape.

Each run goes through the real operator (or sensor, or condition) and the real hook over HTTP to a
tiny server answering one bad shape; the task must fail with a ``XentreeResponseError`` naming the
route, never with an ``AttributeError``/``TypeError``/``ValueError`` from deep inside, and must write
nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_response_shapes import JSON, near_misses
from tiny_http import Request, json_answer, serve

from xentree_provider.api.errors import XentreeError, XentreeResponseError
from xentree_provider.hooks.xentree_async import XentreeAsyncHook
from xentree_provider.operators.conversations import XentreeGenerateResponseOperator
from xentree_provider.operators.english import XentreeXELProgressReportOperator
from xentree_provider.operators.knowledge import XentreeKnowledgeSearchOperator, XentreeRagQueryOperator
from xentree_provider.operators.live import XentreeTranscriptExportOperator
from xentree_provider.operators.organizations import (
    MembershipDriftError,
    MembershipGuardError,
    MembershipSyncError,
    XentreeOrgMembershipSyncOperator,
)
from xentree_provider.sensors.english import XentreeXELProgressSensor
from xentree_provider.sensors.live import XentreeTranscriptSensor
from xentree_provider.triggers.conditions import transcripts_in_window
from xentree_provider.triggers.xel_conditions import xel_progress_reached

STARTED = "2026-11-01T10:00:00Z"
CONTEXT = {
    "data_interval_start": datetime(2026, 11, 1, tzinfo=timezone.utc),
    "data_interval_end": datetime(2026, 11, 2, tzinfo=timezone.utc),
}
LISTED = [{"id": "t1", "session_started_at": STARTED, "turn_count": 1}]
GOOD_DETAIL = {"id": "t1", "session_started_at": STARTED, "transcripts": [{"role": "user", "text": "hi"}]}
MEMBER = {"user_id": "u1", "email": "owner@acme.example", "role": "owner"}


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``answering({path: body})``: ``xentree_default`` points at a server answering those bodies."""
    servers: list[Any] = []

    def start(bodies: dict[str, Any]) -> None:
        def answer(request: Request) -> tuple[int, dict[str, str], bytes]:
            if request.path not in bodies:
                return json_answer({"detail": {"error": "NOT_FOUND", "message": request.path}}, 404)
            return json_answer(bodies[request.path])

        server = serve(answer)
        url = server.__enter__().url
        servers.append(server)
        extra = {"api_key": "k-shapes", "max_retries": 0, "organization_id": "o1"}
        monkeypatch.setenv(
            "AIRFLOW_CONN_XENTREE_DEFAULT", json.dumps({"conn_type": "xentree", "host": url, "extra": extra})
        )

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def fails_on_shape(run: Any, route: str) -> XentreeResponseError:
    with pytest.raises(XentreeResponseError) as caught:
        run()
    assert str(caught.value).startswith(route), str(caught.value)
    assert "unexpected response shape" in str(caught.value) or "expected a list" in str(caught.value)
    return caught.value


@pytest.mark.parametrize(
    "detail",
    [
        pytest.param({**GOOD_DETAIL, "transcripts": None}, id="turns-null"),
        pytest.param({**GOOD_DETAIL, "transcripts": [None]}, id="turn-null"),
        pytest.param({**GOOD_DETAIL, "transcripts": ["hello"]}, id="turn-a-string"),
        pytest.param({**GOOD_DETAIL, "transcripts": {"role": "user", "text": "hi"}}, id="turns-an-object"),
        pytest.param([GOOD_DETAIL], id="detail-a-list"),
        pytest.param({**GOOD_DETAIL, "session_started_at": 5}, id="start-a-number"),
    ],
)
@pytest.mark.parametrize("export_format", ["jsonl", "csv"])
def test_transcript_export_fails_cleanly_and_writes_nothing(answering, tmp_path: Path, detail, export_format):
    answering({"/api/live/transcripts": LISTED, "/api/live/transcripts/t1": detail})
    target = tmp_path / f"out.{export_format}"
    op = XentreeTranscriptExportOperator(
        task_id="export", output_path=str(target), export_format=export_format
    )
    fails_on_shape(lambda: op.execute(CONTEXT), "GET /api/live/transcripts/t1: ")
    assert not target.exists()


@pytest.mark.parametrize(
    "listed",
    [
        pytest.param([["t1", STARTED]], id="record-a-list"),
        pytest.param(["t1"], id="record-a-string"),
        pytest.param({"id": "t1"}, id="an-object-not-a-list"),
        pytest.param([{"id": None, "session_started_at": STARTED}], id="id-null"),
    ],
)
def test_transcript_export_and_sensor_fail_cleanly_on_a_bad_list(answering, tmp_path: Path, listed):
    answering({"/api/live/transcripts": listed})
    op = XentreeTranscriptExportOperator(task_id="export", output_path=str(tmp_path / "out.jsonl"))
    fails_on_shape(lambda: op.execute(CONTEXT), "GET /api/live/transcripts: ")
    sensor = XentreeTranscriptSensor(task_id="wait", start=STARTED, end="2026-11-02T00:00:00Z")
    fails_on_shape(lambda: sensor.poke(CONTEXT), "GET /api/live/transcripts: ")


@pytest.mark.parametrize(
    "members",
    [
        pytest.param([["u1", "owner@acme.example", "owner"]], id="member-a-list"),
        pytest.param([{**MEMBER, "email": {"address": "owner@acme.example"}}], id="email-an-object"),
        pytest.param([{**MEMBER, "role": ["owner"]}], id="role-a-list"),
        pytest.param({"members": [MEMBER]}, id="unknown-envelope"),
    ],
)
def test_membership_sync_fails_before_any_write(answering, tmp_path: Path, members):
    answering({"/api/organizations/o1/members": members})
    roster = [
        {"email": "owner@acme.example", "role": "owner"},
        {"email": "new@acme.example", "role": "member"},
    ]
    op = XentreeOrgMembershipSyncOperator(
        task_id="sync", source=roster, organization_id="o1", report_path=str(tmp_path / "report.json")
    )
    fails_on_shape(lambda: op.execute({}), "GET /api/organizations/o1/members: ")


@pytest.mark.parametrize(
    ("bodies", "route"),
    [
        pytest.param(
            {"/api/xel/dashboard": [1, 2], "/api/xel/modules": []},
            "GET /api/xel/dashboard: ",
            id="dashboard-list",
        ),
        pytest.param(
            {"/api/xel/dashboard": {"overall_progress_percent": "most"}, "/api/xel/modules": []},
            "GET /api/xel/dashboard: ",
            id="percent-a-string",
        ),
        pytest.param(
            {"/api/xel/dashboard": {}, "/api/xel/modules": [{"id": "m1", "progress_percent": [50]}]},
            "GET /api/xel/modules: ",
            id="module-percent-a-list",
        ),
    ],
)
def test_user_progress_report_fails_cleanly(answering, tmp_path: Path, bodies, route):
    answering(bodies)
    op = XentreeXELProgressReportOperator(task_id="report", scope="user", output_path=str(tmp_path / "r"))
    fails_on_shape(lambda: op.execute(CONTEXT), route)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


@pytest.mark.parametrize(
    ("bodies", "route"),
    [
        pytest.param(
            {
                "/api/organizations/o1": {"id": "o1", "name": "Acme"},
                "/api/v1/admin/stats/progress/members": {
                    "items": [{"user_id": "u1", "teams": [None]}],
                    "page": 1,
                },
            },
            "GET /api/v1/admin/stats/progress/members: ",
            id="team-null",
        ),
        pytest.param(
            {
                "/api/organizations/o1": {"id": "o1", "name": "Acme"},
                "/api/v1/admin/stats/progress/members": {"items": "none", "page": 1},
            },
            "GET /api/v1/admin/stats/progress/members: ",
            id="items-a-string",
        ),
    ],
)
def test_organization_progress_report_fails_cleanly(answering, tmp_path: Path, bodies, route):
    answering(bodies)
    op = XentreeXELProgressReportOperator(
        task_id="report", scope="organization", organization_id="o1", output_path=str(tmp_path / "r")
    )
    fails_on_shape(lambda: op.execute(CONTEXT), route)


@pytest.mark.parametrize(
    "results",
    [
        pytest.param({"results": ["a hit"]}, id="hit-a-string"),
        pytest.param({"results": {"id": "k1"}}, id="results-an-object"),
        pytest.param({"results": [{"id": "k1", "metadata": "m"}]}, id="metadata-a-string"),
        pytest.param({"hits": []}, id="no-results"),
    ],
)
def test_knowledge_search_fails_cleanly(answering, results):
    answering({"/api/knowledge/search": results})
    op = XentreeKnowledgeSearchOperator(task_id="kb", query="plan")
    fails_on_shape(lambda: op.execute({}), "POST /api/knowledge/search: ")


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"answer": "A", "sources": "doc1"}, id="sources-a-string"),
        pytest.param({"answer": ["A"], "sources": []}, id="answer-a-list"),
        pytest.param(["A"], id="a-list"),
    ],
)
def test_rag_query_fails_cleanly(answering, answer):
    answering({"/api/rag/query": answer})
    op = XentreeRagQueryOperator(task_id="rag", query="plan")
    fails_on_shape(lambda: op.execute({}), "POST /api/rag/query: ")


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param([{"content": "hi"}], id="a-list"),
        pytest.param({"content": {"text": "hi"}}, id="content-an-object"),
        pytest.param({"content": "hi", "usage": [1]}, id="usage-a-list"),
    ],
)
def test_chat_fails_cleanly(answering, reply):
    answering({"/api/core/chat": reply})
    op = XentreeGenerateResponseOperator(task_id="chat", prompt="hello")
    fails_on_shape(lambda: op.execute({}), "POST /api/core/chat: ")


def test_xel_sensor_fails_cleanly_on_a_module_that_is_a_list(answering):
    answering({"/api/xel/modules/m1": [{"progress_percent": 10}]})
    sensor = XentreeXELProgressSensor(task_id="wait", module_id="m1", threshold=50)
    fails_on_shape(lambda: sensor.poke({}), "GET /api/xel/modules/m1: ")


def test_xel_sensor_fails_cleanly_on_a_percent_that_is_not_a_number(answering):
    answering({"/api/xel/modules/m1": {"id": "m1", "progress_percent": "half"}})
    sensor = XentreeXELProgressSensor(task_id="wait", module_id="m1", threshold=50)
    fails_on_shape(lambda: sensor.poke({}), "GET /api/xel/modules/m1: ")


@pytest.mark.parametrize(
    ("bodies", "kwargs", "route"),
    [
        pytest.param(
            {"/api/xel/dashboard": ["x"]}, {"scope": "user"}, "GET /api/xel/dashboard: ", id="dashboard"
        ),
        pytest.param(
            {"/api/xel/modules/m1": {"progress_percent": float("nan")}},
            {"scope": "user", "module_id": "m1"},
            "GET /api/xel/modules/m1: ",
            id="module-nan",
        ),
        pytest.param(
            {"/api/v1/admin/stats/progress/members": {"items": [[1]], "page": 1}},
            {"scope": "organization", "organization_id": "o1"},
            "GET /api/v1/admin/stats/progress/members: ",
            id="directory-row-a-list",
        ),
    ],
)
def test_trigger_conditions_fail_cleanly(answering, bodies, kwargs, route):
    answering(bodies)

    async def run() -> Any:
        hook = XentreeAsyncHook(shared=False)
        try:
            return await xel_progress_reached(hook, threshold=50, **kwargs)
        finally:
            await hook.aclose()

    fails_on_shape(lambda: asyncio.run(run()), route)


def test_transcript_condition_fails_cleanly(answering):
    answering({"/api/live/transcripts": [{"id": "t1", "session_started_at": ["today"]}]})

    async def run() -> Any:
        hook = XentreeAsyncHook(shared=False)
        try:
            return await transcripts_in_window(hook, start=STARTED, end=None, min_count=1)
        finally:
            await hook.aclose()

    fails_on_shape(lambda: asyncio.run(run()), "GET /api/live/transcripts: ")


def test_an_organization_record_of_the_wrong_shape_only_costs_the_report_its_name(answering, tmp_path: Path):
    """The report reads the organization only for its name and falls back to the id on any XentreeError
    (the shape error included), so a bad organization record is not fatal; the directory still is read."""
    row = {"user_id": "u1", "email": "a@acme.example", "full_name": "A", "progress_percent": 50}
    answering(
        {
            "/api/organizations/o1": ["o1"],
            "/api/v1/admin/stats/progress/members": {"items": [row], "page": 1, "limit": 200, "total": 1},
        }
    )
    op = XentreeXELProgressReportOperator(
        task_id="report",
        scope="organization",
        organization_id="o1",
        output_path=str(tmp_path / "r"),
        asset=False,
    )
    result = op.execute(CONTEXT)
    assert result["members"] == 1


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_timestamp_out_of_range_in_utc_is_a_response_error_not_an_overflow(
    answering, tmp_path: Path, stamp
):
    answering({"/api/live/transcripts": [{"id": "t1", "session_started_at": stamp}]})
    op = XentreeTranscriptExportOperator(task_id="export", output_path=str(tmp_path / "out.jsonl"))
    with pytest.raises(XentreeResponseError, match="out of range once converted to UTC"):
        op.execute(CONTEXT)
    sensor = XentreeTranscriptSensor(task_id="wait", start=STARTED, end="2026-11-02T00:00:00Z")
    with pytest.raises(XentreeResponseError, match="out of range once converted to UTC"):
        sensor.poke(CONTEXT)


def test_a_report_ignores_an_activity_time_out_of_range(answering, tmp_path: Path):
    row = {"user_id": "u1", "email": "a@acme.example", "last_activity_at": "0001-01-01T00:00:00+01:00"}
    answering(
        {
            "/api/organizations/o1": {"id": "o1", "name": "Acme"},
            "/api/v1/admin/stats/progress/members": {"items": [row], "page": 1, "limit": 200, "total": 1},
        }
    )
    op = XentreeXELProgressReportOperator(
        task_id="report",
        scope="organization",
        organization_id="o1",
        output_path=str(tmp_path / "r"),
        asset=False,
    )
    assert op.execute(CONTEXT)["members"] == 1


# -- property: near misses of every body an operator reads end in a XentreeError (or the operator's own) --

TASK_FAILURES = (XentreeError, MembershipSyncError, MembershipGuardError, MembershipDriftError)
MODULE = {"id": "m1", "title": "M", "level": "B1", "progress_percent": 50.0, "last_activity_at": STARTED}
ROW = {
    "user_id": "u1",
    "email": "a@acme.example",
    "teams": ["T"],
    "progress_percent": 40,
    "learning_minutes": 5,
}
ROSTER = [{"email": "owner@acme.example", "role": "owner"}]  # already in sync with MEMBER: no writes


def _operator_runs(tmp: Path) -> dict[str, tuple[Any, dict[str, Any]]]:
    """name -> (run the task once, the valid bodies it reads)."""
    live = {"/api/live/transcripts": LISTED, "/api/live/transcripts/t1": GOOD_DETAIL}
    xel = {
        "/api/xel/dashboard": {"overall_progress_percent": 10, "recent_activity": []},
        "/api/xel/modules": [MODULE],
    }
    org = {
        "/api/organizations/o1": {"id": "o1", "name": "Acme"},
        "/api/v1/admin/stats/progress/members": {"items": [ROW], "page": 1, "limit": 200, "total": 1},
    }
    report = XentreeXELProgressReportOperator
    return {
        "export-csv": (
            lambda: XentreeTranscriptExportOperator(
                task_id="e", output_path=str(tmp / "o.csv"), export_format="csv"
            ).execute(CONTEXT),
            live,
        ),
        "sync": (
            lambda: XentreeOrgMembershipSyncOperator(
                task_id="s",
                source=ROSTER,
                organization_id="o1",
                report_path=str(tmp / "r.json"),
                reconcile_rounds=1,
            ).execute({}),
            {"/api/organizations/o1/members": [MEMBER]},
        ),
        "report-user": (
            lambda: report(task_id="r", scope="user", output_path=str(tmp / "u"), asset=False).execute(
                CONTEXT
            ),
            xel,
        ),
        "report-org": (
            lambda: report(
                task_id="r",
                scope="organization",
                organization_id="o1",
                output_path=str(tmp / "g"),
                asset=False,
            ).execute(CONTEXT),
            org,
        ),
        "knowledge": (
            lambda: XentreeKnowledgeSearchOperator(
                task_id="k", query="q", output_path=str(tmp / "k.jsonl")
            ).execute({}),
            {"/api/knowledge/search": {"results": [{"id": "k1", "content": "c", "metadata": {"a": 1}}]}},
        ),
        "rag": (
            lambda: XentreeRagQueryOperator(task_id="q", query="q").execute({}),
            {"/api/rag/query": {"answer": "a", "sources": [{"id": "k1"}]}},
        ),
        "chat": (
            lambda: XentreeGenerateResponseOperator(task_id="c", prompt="hi").execute({}),
            {"/api/core/chat": {"content": "x", "usage": {"total_tokens": 2}}},
        ),
        "xel-sensor": (
            lambda: XentreeXELProgressSensor(task_id="w", module_id="m1", threshold=50).poke({}),
            {"/api/xel/modules/m1": {**MODULE, "tasks": [{"id": "x1", "completed": True}]}},
        ),
    }


RUN_PATHS = [
    ("export-csv", "/api/live/transcripts"),
    ("export-csv", "/api/live/transcripts/t1"),
    ("sync", "/api/organizations/o1/members"),
    ("report-user", "/api/xel/dashboard"),
    ("report-user", "/api/xel/modules"),
    ("report-org", "/api/v1/admin/stats/progress/members"),
    ("knowledge", "/api/knowledge/search"),
    ("rag", "/api/rag/query"),
    ("chat", "/api/core/chat"),
    ("xel-sensor", "/api/xel/modules/m1"),
]


@pytest.mark.parametrize(("task", "path"), RUN_PATHS, ids=[f"{t}-{p}" for t, p in RUN_PATHS])
def test_tasks_fail_only_with_xentree_errors_whatever_the_body(task, path, tmp_path_factory, monkeypatch):
    tmp = tmp_path_factory.mktemp(task)
    run, valid = _operator_runs(tmp)[task]
    bodies = dict(valid)

    def answer(request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.path not in bodies:
            return json_answer({"detail": {"error": "NOT_FOUND", "message": request.path}}, 404)
        return (
            200,
            {"content-type": "application/json"},
            json.dumps(bodies[request.path], allow_nan=True).encode(),
        )

    with serve(answer) as server:
        extra = {"api_key": "k-shapes", "max_retries": 0, "organization_id": "o1"}
        monkeypatch.setenv(
            "AIRFLOW_CONN_XENTREE_DEFAULT",
            json.dumps({"conn_type": "xentree", "host": server.url, "extra": extra}),
        )
        run()  # the valid bodies pass

        @settings(max_examples=12, derandomize=True, deadline=None, database=None)
        @given(body=st.one_of(near_misses(valid[path]), JSON))
        def property_holds(body: Any) -> None:
            bodies[path] = body
            with contextlib.suppress(*TASK_FAILURES):
                run()

        property_holds()
