"""Every typed hook method, sync and async, against a server answering random JSON over real HTTP.

Property: whatever JSON comes back (random values, and "near misses": the valid answer with one field
replaced or removed), a typed method either returns or raises a ``XentreeError``; never an
``AttributeError``, ``TypeError``, ``KeyError`` or ``ValueError`` from deeper down. Valid answers pass.
Hypothesis runs derandomized with a bounded number of examples, so the test is deterministic.
"""

from __future__ import annotations

import asyncio
import base64
import collections.abc
import copy
import inspect
import json
import math
import os
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_http import Request, TinyServer, json_answer, serve

from xentree_provider.api.errors import XentreeError, XentreeResponseError
from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.hooks.xentree_async import XentreeAsyncHook

CONN_ID = "xentree_shapes"
STAMP = "2026-11-01T10:00:00Z"


def _token() -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part({'sub': 'u1', 'exp': 4102444800})}.c2ln"


# -- valid answers, one per route, with every field the shapes know --------------------------------

PROFILE = {"id": "u1", "email": "a@b.example", "full_name": "A B", "username": "ab", "created_at": STAMP}
TURN = {"role": "user", "text": "Hello", "timestamp": STAMP}
TRANSCRIPT = {
    "id": "t1",
    "session_id": "s1",
    "session_started_at": STAMP,
    "session_ended_at": STAMP,
    "created_at": STAMP,
    "turn_count": 1,
}
ORGANIZATION = {"id": "o1", "name": "Org", "slug": "org", "description": "d", "created_at": STAMP}
MEMBER = {
    "user_id": "u1",
    "email": "a@b.example",
    "full_name": "A B",
    "role": "member",
    "team_id": "team1",
    "joined_at": STAMP,
}
MODULE = {
    "id": "m1",
    "title": "Module",
    "level": "B1",
    "skill": "speaking",
    "total_tasks": 4,
    "completed_tasks": 2,
    "progress_percent": 50.0,
    "average_score": 80.5,
    "status": "in_progress",
    "last_activity_at": STAMP,
}
TASK = {
    "id": "x1",
    "type": "speaking",
    "prompt": "Say",
    "completed": True,
    "score": 90,
    "submitted_at": STAMP,
}
PROGRESS = {
    "user_id": "u1",
    "email": "a@b.example",
    "full_name": "A B",
    "role": "member",
    "organizations": ["Org"],
    "teams": ["Team", {"id": "team1", "name": "Team"}],
    "modules_completed": 3,
    "progress_percent": 42.5,
    "average_score": None,
    "learning_minutes": 12,
    "last_activity_at": STAMP,
}
KNOWLEDGE_HIT = {"id": "k1", "content": "text", "score": 0.5, "source": "doc", "metadata": {"title": "T"}}
CONTENT_HIT = {
    "type": "message",
    "id": "msg1",
    "conversation_id": "c1",
    "snippet": "s",
    "score": 0.3,
    "created_at": STAMP,
}


@dataclass(frozen=True)
class Case:
    """One typed method: how to call it (sync and, if it has one, async) and a valid answer."""

    name: str
    valid: Any
    call: Callable[[XentreeHook], Any]
    acall: Callable[[XentreeAsyncHook], Any] | None = None


async def _alist(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


CASES = [
    Case("register_user", PROFILE, lambda h: h.register_user("a@b.example", "pw-123456")),
    Case("get_me", PROFILE, lambda h: h.get_me()),
    Case("update_me", PROFILE, lambda h: h.update_me(full_name="A B")),
    Case(
        "list_ai_providers",
        [{"id": "auto", "name": "Auto", "models": ["auto"]}],
        lambda h: h.list_ai_providers(),
    ),
    Case(
        "generate_response",
        {
            "content": "hi",
            "provider": "auto",
            "model": "m",
            "usage": {"total_tokens": 3},
            "conversation_id": "c1",
        },
        lambda h: h.generate_response("hello"),
    ),
    Case(
        "iter_conversations",
        [{"id": "c1", "title": "T", "created_at": STAMP, "updated_at": STAMP}],
        lambda h: list(h.iter_conversations()),
    ),
    Case(
        "create_conversation",
        {"id": "c1", "title": "T", "created_at": STAMP, "updated_at": STAMP},
        lambda h: h.create_conversation("T"),
    ),
    Case(
        "iter_conversation_messages",
        [{"id": "msg1", "role": "user", "content": "hi", "created_at": STAMP}],
        lambda h: list(h.iter_conversation_messages("c1")),
    ),
    Case("search_content", {"results": [CONTENT_HIT]}, lambda h: h.search_content("q")),
    Case("search_knowledge", {"results": [KNOWLEDGE_HIT]}, lambda h: h.search_knowledge("q")),
    Case("rag_query", {"answer": "A.", "sources": [KNOWLEDGE_HIT]}, lambda h: h.rag_query("q")),
    Case(
        "get_live_quota",
        {"remaining_seconds": 10, "used_seconds": 5, "limit_seconds": 15, "resets_at": STAMP},
        lambda h: h.get_live_quota(),
    ),
    Case(
        "start_live_session",
        {"session_id": "s1", "session_type": "voice", "started_at": STAMP, "status": "active"},
        lambda h: h.start_live_session(),
    ),
    Case("live_session_heartbeat", {"session_id": "s1"}, lambda h: h.live_session_heartbeat("s1")),
    Case("end_live_session", {"session_id": "s1"}, lambda h: h.end_live_session("s1")),
    Case("update_live_nickname", {"nickname": "n"}, lambda h: h.update_live_nickname("n")),
    Case("list_transcripts", [TRANSCRIPT], lambda h: h.list_transcripts(limit=5)),
    Case(
        "iter_transcripts",
        [TRANSCRIPT],
        lambda h: list(h.iter_transcripts(page_size=5)),
        lambda a: _alist(a.iter_transcripts(page_size=5)),
    ),
    Case("get_transcript", {**TRANSCRIPT, "transcripts": [TURN]}, lambda h: h.get_transcript("t1")),
    Case(
        "save_transcript",
        {**TRANSCRIPT, "transcripts": [TURN]},
        lambda h: h.save_transcript(STAMP, STAMP, [TURN]),
    ),
    Case("iter_organizations", [ORGANIZATION], lambda h: list(h.iter_organizations())),
    Case("create_organization", ORGANIZATION, lambda h: h.create_organization("Org", "org")),
    Case("get_organization", ORGANIZATION, lambda h: h.get_organization("o1")),
    Case("update_organization", ORGANIZATION, lambda h: h.update_organization("o1", name="Org")),
    Case("delete_organization", None, lambda h: h.delete_organization("o1")),
    Case("iter_members", [MEMBER], lambda h: list(h.iter_members("o1"))),
    Case("add_member", MEMBER, lambda h: h.add_member("a@b.example", "member", org_id="o1")),
    Case("update_member_role", MEMBER, lambda h: h.update_member_role("u1", "admin", org_id="o1")),
    Case("replace_member", MEMBER, lambda h: h.replace_member("u1", "admin", team_id="team1", org_id="o1")),
    Case("remove_member", None, lambda h: h.remove_member("u1", org_id="o1")),
    Case(
        "iter_integrations",
        [{"provider": "google_calendar", "status": "active", "connected_at": STAMP}],
        lambda h: list(h.iter_integrations()),
    ),
    Case(
        "connect_google_calendar",
        {"auth_url": "https://accounts.example/auth"},
        lambda h: h.connect_google_calendar(),
    ),
    Case("iter_modules", [MODULE], lambda h: list(h.iter_modules())),
    Case(
        "get_module",
        {**MODULE, "tasks": [TASK]},
        lambda h: h.get_module("m1"),
        lambda a: a.get_module("m1"),
    ),
    Case(
        "submit_task",
        {"task_id": "x1", "accepted": True, "score": 80.0, "feedback": "Good"},
        lambda h: h.submit_task("x1", "answer"),
    ),
    Case(
        "evaluate",
        {"mode": "writing", "score": 70.0, "cefr_level": "B2", "feedback": "f", "criteria": {"grammar": 70}},
        lambda h: h.evaluate("writing", text="Some text"),
    ),
    Case(
        "get_dashboard",
        {
            "overall_progress_percent": 12.5,
            "modules_completed": 1,
            "modules_in_progress": 2,
            "modules_total": 5,
            "average_score": 70.0,
            "current_streak": 3,
            "xp_total": 100,
            "recent_activity": [{"task_id": "x1", "score": 80}],
        },
        lambda h: h.get_dashboard(),
        lambda a: a.get_dashboard(),
    ),
    Case(
        "iter_member_progress",
        {"items": [PROGRESS], "page": 1, "limit": 50, "total": 1},
        lambda h: list(h.iter_member_progress("o1")),
        lambda a: _alist(a.iter_member_progress("o1")),
    ),
]

#: Public hook methods that are not typed reads of a response shape: plumbing, token handling (the
#: token bodies are checked by api/tokens.py), the generic request, the connection test and form.
NOT_SHAPE_METHODS = {
    "close",
    "get_conn",
    "request",
    "login",
    "logout",
    "refresh_token",
    "test_connection",
    "get_connection_form_widgets",
    "get_ui_field_behaviour",
}


def test_every_typed_method_of_both_hooks_is_exercised() -> None:
    own = {name for name, _ in inspect.getmembers(XentreeHook) if name in vars(XentreeHook)}
    public = {name for name in own if not name.startswith("_") and callable(getattr(XentreeHook, name))}
    assert public - NOT_SHAPE_METHODS == {case.name for case in CASES}
    async_own = {
        n for n in vars(XentreeAsyncHook) if not n.startswith("_") and callable(vars(XentreeAsyncHook)[n])
    }
    async_typed = async_own - {"transport", "aclose", "call", "iter_list"}
    assert async_typed == {case.name for case in CASES if case.acall is not None}


# -- the server and the hooks ----------------------------------------------------------------------


class Answers:
    """What the server answers next for any route other than login."""

    def __init__(self) -> None:
        self.body = b"null"

    def set(self, value: Any) -> None:
        self.body = json.dumps(value, allow_nan=True).encode()

    def __call__(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        if request.path == "/api/auth/login":
            return json_answer({"access_token": _token(), "token_type": "bearer"})
        return 200, {"content-type": "application/json"}, self.body


@dataclass
class World:
    server: TinyServer
    answers: Answers
    hook: XentreeHook
    runner: asyncio.AbstractEventLoop  # one loop for the module (asyncio.Runner is Python 3.11+)
    ahook: XentreeAsyncHook


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    answers = Answers()
    with serve(answers) as server:
        conn = {
            "conn_type": "xentree",
            "host": server.url,
            "login": "a@b.example",
            "password": "pw-123456",
            "extra": {"max_retries": 0, "organization_id": "o1"},
        }
        key = f"AIRFLOW_CONN_{CONN_ID.upper()}"
        os.environ[key] = json.dumps(conn)
        hook = XentreeHook(CONN_ID)
        runner = asyncio.new_event_loop()
        ahook = XentreeAsyncHook(CONN_ID, shared=False)
        try:
            yield World(server, answers, hook, runner, ahook)
        finally:
            runner.run_until_complete(ahook.aclose())
            runner.close()
            hook.close()
            del os.environ[key]


# -- what callers rely on: the method's declared return type (records.py), checked independently ----


def misfit(value: Any, annotation: Any, at: str = "result") -> str | None:
    """Why ``value`` does not fit the type ``annotation`` (None if it does).

    Lenient where the API may differ harmlessly: a ``Literal`` is any string, any number fits ``int`` or
    ``float``, and a TypedDict's keys may be missing (``total=False``) or null.
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return None
    if annotation is None or annotation is type(None):
        return None if value is None else f"{at} is {value!r:.60}, expected None"
    if origin in (typing.Union, types.UnionType):
        reasons = [misfit(value, option, at) for option in args]
        return None if any(r is None for r in reasons) else " / ".join(r for r in reasons if r)
    if origin is typing.Literal or annotation is str:
        return None if isinstance(value, str) else f"{at} is {value!r:.60}, expected a string"
    if annotation in (int, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else f"{at} is {value!r:.60}, expected a finite number"
    if annotation is bool:
        return None if isinstance(value, bool) else f"{at} is {value!r:.60}, expected a boolean"
    if origin in (list, collections.abc.Iterator, collections.abc.AsyncIterator):
        if not isinstance(value, list):
            return f"{at} is {value!r:.60}, expected a list"
        return next((r for i, v in enumerate(value) if (r := misfit(v, args[0], f"{at}[{i}]"))), None)
    if origin is dict or typing.is_typeddict(annotation):
        if not isinstance(value, Mapping):
            return f"{at} is {value!r:.60}, expected an object"
        if origin is dict:
            return None
        hints = typing.get_type_hints(annotation)
        for key, hint in hints.items():
            if value.get(key) is not None and (reason := misfit(value[key], hint, f"{at}.{key}")):
                return reason
        return None
    raise AssertionError(f"the oracle does not know {annotation!r}")


def returns(case: Case, mode: str) -> Any:
    """The declared return type of the method under test."""
    owner = XentreeHook if mode == "sync" else XentreeAsyncHook
    return typing.get_type_hints(getattr(owner, case.name))["return"]


def outcome(world: World, case: Case, body: Any, mode: str) -> Any:
    """Serve ``body`` and call the method: it returns what its type promises, or raises a XentreeError
    that names the route (any other exception fails the test). Returns the result or the error."""
    world.answers.set(body)
    try:
        if mode == "sync":
            result = case.call(world.hook)
        else:
            assert case.acall is not None
            result = world.runner.run_until_complete(case.acall(world.ahook))
    except XentreeError as error:
        failure = error
    else:
        reason = misfit(result, returns(case, mode))
        assert reason is None, f"{case.name} returned what its type does not promise: {reason}"
        return result
    if isinstance(failure, XentreeResponseError):
        assert failure.method and failure.path, f"the error does not name the route: {failure}"
        assert len(failure.message) < 700, "the excerpt is not kept short"
    return failure


SYNC = [pytest.param(case, "sync", id=f"sync-{case.name}") for case in CASES]
ASYNC = [pytest.param(case, "async", id=f"async-{case.name}") for case in CASES if case.acall is not None]


@pytest.mark.parametrize(("case", "mode"), SYNC + ASYNC)
def test_valid_answers_pass(world: World, case: Case, mode: str) -> None:
    result = outcome(world, case, case.valid, mode)
    assert not isinstance(result, XentreeError), result


# -- random JSON and near misses -------------------------------------------------------------------

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["", " ", STAMP, "not a date", "\ud800", "\u200b", "[]", "{}"])
)
JSON = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
REMOVE = object()


def locations(value: Any, where: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value (the root is ``()``)."""
    yield where
    if isinstance(value, dict):
        for key, item in value.items():
            yield from locations(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from locations(item, (*where, index))


def replaced(value: Any, where: tuple[Any, ...], new: Any) -> Any:
    """A copy of ``value`` with the item at ``where`` replaced by ``new`` (or removed, for REMOVE)."""
    if not where:
        return None if new is REMOVE else new
    result = copy.deepcopy(value)
    parent = result
    for step in where[:-1]:
        parent = parent[step]
    if new is REMOVE:
        del parent[where[-1]]
    else:
        parent[where[-1]] = new
    return result


@st.composite
def near_misses(draw: st.DrawFn, valid: Any) -> Any:
    """The valid answer with one place replaced by random JSON, or removed."""
    where = draw(st.sampled_from(list(locations(valid))))
    return replaced(valid, where, draw(JSON | st.just(REMOVE)))


PROPERTY = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize(("case", "mode"), SYNC + ASYNC)
@PROPERTY
@given(data=st.data())
def test_random_json_only_ever_raises_xentree_errors(world: World, case: Case, mode: str, data: Any) -> None:
    body = data.draw(JSON, label="body")
    outcome(world, case, body, mode)  # raises anything that is not a XentreeError


@pytest.mark.parametrize(("case", "mode"), SYNC + ASYNC)
@PROPERTY
@given(data=st.data())
def test_near_misses_only_ever_raise_xentree_errors(world: World, case: Case, mode: str, data: Any) -> None:
    body = data.draw(near_misses(case.valid), label="body")
    outcome(world, case, body, mode)
