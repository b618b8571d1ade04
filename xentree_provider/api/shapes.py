"""The JSON shape every route's response must have, in one table, and the check that enforces it.

A shape lists the fields the provider and its callers read, with the JSON type each must have when it
is present. Unknown fields are ignored, and an optional field that is missing or null counts as absent
(the contract: missing optional fields must not crash). What does not fit raises
:class:`~xentree_provider.api.errors.XentreeResponseError` naming the route, where in the body the
mismatch is, and a short excerpt of the offending JSON, instead of an ``AttributeError`` or
``TypeError`` somewhere downstream.

Single responses are checked with :func:`check_response` (by the hooks); the records of paged lists
with :func:`check_records` (by :class:`~xentree_provider.api.pagination.PageReader`, page by page).
"""

from __future__ import annotations

import json
import math
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from xentree_provider.api.errors import XentreeResponseError, body_preview
from xentree_provider.api.routes import ROUTES, Route

__all__ = [
    "SHAPES",
    "UNCHECKED_ROUTES",
    "AnyValue",
    "Flag",
    "ListOf",
    "Number",
    "Obj",
    "OneOf",
    "RouteShape",
    "ShapeMismatch",
    "Spec",
    "Text",
    "check_records",
    "check_response",
    "json_kind",
]


def json_kind(value: Any) -> str:
    """The JSON type of a decoded value, as a message names it (``null``, ``a string``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


class ShapeMismatch(Exception):
    """Raised inside a check: where, what was expected, what came instead, and the JSON to quote.

    Containers add their step to ``steps`` as the error passes through them, so a check that succeeds
    never builds a location string.

    :param expected: what the shape wanted there.
    :param shown: the JSON to quote: the offending value, or the object missing a field.
    :param problem: what came instead (default: the JSON kind of ``shown``).
    """

    def __init__(self, expected: str, shown: Any, problem: str | None = None) -> None:
        super().__init__(expected)
        self.expected = expected
        self.shown = shown
        self.problem = problem or json_kind(shown)
        #: The location's steps, innermost first (``.transcripts``, ``[2]``).
        self.steps: list[str] = []

    @property
    def at(self) -> str:
        """The location, ``$`` being the value checked (``$.transcripts[2]``)."""
        return "$" + "".join(reversed(self.steps))


class Spec(ABC):
    """A JSON shape: ``check(value)`` raises :class:`ShapeMismatch` when ``value`` does not fit."""

    #: How the shape is named in messages (``"a string"``, ``"an object (a member)"``).
    expected: str = "a value"
    #: The JSON kinds this shape can ever accept (used by :class:`OneOf` to pick an option).
    kinds: frozenset[str] = frozenset()
    #: Exact Python types that fit without looking further (a fast path for plain fields).
    trusted: frozenset[type] = frozenset()

    @abstractmethod
    def check(self, value: Any) -> None:
        """Raise :class:`ShapeMismatch` unless ``value`` fits."""


class AnyValue(Spec):
    """Any JSON value (the provider passes it on without reading it)."""

    expected = "any JSON value"
    kinds = frozenset({"null", "a boolean", "a number", "a string", "a list", "an object"})
    trusted = frozenset({type(None), bool, int, float, str, list, dict})

    def check(self, value: Any) -> None:
        """Accept everything."""


class Text(Spec):
    """A string; with ``non_empty`` it must not be blank (ids, URLs).

    (Unpaired surrogates, which no file can hold, are refused for the whole body when it is decoded.)
    """

    kinds = frozenset({"a string"})

    def __init__(self, *, non_empty: bool = False) -> None:
        self.non_empty = non_empty
        self.expected = "a non-empty string" if non_empty else "a string"
        self.trusted = frozenset() if non_empty else frozenset({str})

    def check(self, value: Any) -> None:
        """Accept a string (a non-blank one with ``non_empty``)."""
        if not isinstance(value, str):
            raise ShapeMismatch(self.expected, value)
        if self.non_empty and not value.strip():
            raise ShapeMismatch(self.expected, value, "an empty string")


#: The largest magnitude a float holds: a JSON integer beyond it cannot become a float.
_FLOAT_MAX = sys.float_info.max


class Number(Spec):
    """A finite number (an integer or a decimal; not a boolean, not NaN or infinity)."""

    expected = "a finite number"
    kinds = frozenset({"a number"})

    def check(self, value: Any) -> None:
        """Accept an int or float whose value is finite."""
        kind = type(value)
        if kind is float:
            finite = math.isfinite(value)
        elif kind is int:
            finite = -_FLOAT_MAX <= value <= _FLOAT_MAX
        else:
            raise ShapeMismatch(self.expected, value)
        if not finite:
            raise ShapeMismatch(self.expected, value, f"the non-finite number {value!r:.40}")


class Flag(Spec):
    """A boolean."""

    expected = "true or false"
    kinds = frozenset({"a boolean"})
    trusted = frozenset({bool})

    def check(self, value: Any) -> None:
        """Accept True or False."""
        if not isinstance(value, bool):
            raise ShapeMismatch(self.expected, value)


class ListOf(Spec):
    """A list whose every item fits ``item`` (a null item fits only :class:`AnyValue`)."""

    kinds = frozenset({"a list"})

    def __init__(self, item: Spec) -> None:
        self.item = item
        self.expected = (
            "a list" if isinstance(item, AnyValue) else f"a list whose items are each {item.expected}"
        )

    def check(self, value: Any) -> None:
        """Accept a list and check each item."""
        if not isinstance(value, list):
            raise ShapeMismatch(self.expected, value)
        item_spec, trusted = self.item, self.item.trusted
        for index, item in enumerate(value):
            if type(item) in trusted:
                continue
            try:
                item_spec.check(item)
            except ShapeMismatch as mismatch:
                mismatch.steps.append(f"[{index}]")
                raise


class Obj(Spec):
    """A JSON object: the ``fields`` listed must fit when present; ``required`` ones must be present and
    not null. Other keys are ignored.

    :param name: what the object is, for messages (``"a member"``).
    :param fields: field name -> shape.
    :param required: names of the fields that must be present and not null.
    """

    kinds = frozenset({"an object"})

    def __init__(self, name: str, fields: Mapping[str, Spec] | None = None, required: tuple[str, ...] = ()):
        self.name = name
        self.fields = dict(fields or {})
        self.required = required
        unknown = [f for f in required if f not in self.fields]
        if unknown:
            raise ValueError(f"{name}: required fields {unknown} have no shape")
        self.expected = f"an object ({name})"
        self._checks = tuple(
            (field, spec, spec.trusted | {type(None)}) for field, spec in self.fields.items()
        )

    def extend(self, name: str, required: tuple[str, ...] | None = None, **fields: Spec) -> Obj:
        """This object's fields plus ``fields``, under a new name (and new required fields if given)."""
        return Obj(name, {**self.fields, **fields}, self.required if required is None else required)

    def check(self, value: Any) -> None:
        """Accept an object whose listed fields fit."""
        if not isinstance(value, Mapping):
            raise ShapeMismatch(self.expected, value)
        for field in self.required:
            if value.get(field) is None:
                problem = "an object where it is null" if field in value else "an object without it"
                mismatch = ShapeMismatch(
                    f"{self.fields[field].expected}, required in {self.name};", value, problem
                )
                mismatch.steps.append(f".{field}")
                raise mismatch
        for field, spec, trusted in self._checks:
            item = value.get(field)
            if type(item) in trusted:
                continue
            try:
                spec.check(item)
            except ShapeMismatch as mismatch:
                mismatch.steps.append(f".{field}")
                raise


class OneOf(Spec):
    """One of several shapes, chosen by the value's JSON kind (e.g. a bare list or an envelope)."""

    def __init__(self, *options: Spec) -> None:
        self.options = options
        self.kinds = frozenset().union(*(o.kinds for o in options))
        self.expected = " or ".join(o.expected for o in options)

    def check(self, value: Any) -> None:
        """Check ``value`` against the option of its kind."""
        kind = json_kind(value)
        for option in self.options:
            if kind in option.kinds:
                option.check(value)
                return
        raise ShapeMismatch(self.expected, value)


@dataclass(frozen=True)
class RouteShape:
    """What one route answers: a single ``body``, or for a paged list the shape of each ``record``.

    :param body: the shape of a single response.
    :param record: the shape of each record of a paged list (the page envelope is the reader's job).
    :param empty_ok: an empty body (204, or no content) is a valid answer.
    """

    body: Spec | None = None
    record: Spec | None = None
    empty_ok: bool = False


# -- the shapes ----------------------------------------------------------------------------------

TEXT = Text()
ID = Text(non_empty=True)
NUMBER = Number()
FLAG = Flag()
ANY = AnyValue()
OBJECT = Obj("any object")

PROFILE = Obj(
    "a user profile",
    {"id": ID, "email": TEXT, "full_name": TEXT, "username": TEXT, "nickname": TEXT, "created_at": TEXT},
)
TURN = Obj("a transcript turn", {"role": TEXT, "text": TEXT, "timestamp": TEXT}, required=("role", "text"))
TRANSCRIPT = Obj(
    "a transcript",
    {
        "id": ID,
        "session_id": TEXT,
        "session_started_at": TEXT,
        "session_ended_at": TEXT,
        "created_at": TEXT,
        "turn_count": NUMBER,
    },
    required=("id", "session_started_at"),
)
TRANSCRIPT_WITH_TURNS = TRANSCRIPT.extend(
    "a transcript with its turns", required=("id", "transcripts"), transcripts=ListOf(TURN)
)
SAVED_TRANSCRIPT = TRANSCRIPT.extend("the saved transcript", required=("id",), transcripts=ListOf(TURN))
QUOTA = Obj(
    "the Live quota",
    {"remaining_seconds": NUMBER, "used_seconds": NUMBER, "limit_seconds": NUMBER, "resets_at": TEXT},
)
SESSION = Obj(
    "a Live session",
    {"session_id": ID, "session_type": TEXT, "started_at": TEXT, "status": TEXT},
    required=("session_id",),
)
ORGANIZATION = Obj(
    "an organization",
    {"id": ID, "name": TEXT, "slug": TEXT, "description": TEXT, "created_at": TEXT},
    required=("id",),
)
MEMBER = Obj(
    "a member",
    {"user_id": ID, "email": TEXT, "full_name": TEXT, "role": TEXT, "team_id": TEXT, "joined_at": TEXT},
)
TEAM_REF = OneOf(TEXT, Obj("a team", {"id": TEXT, "name": TEXT}))
MEMBER_PROGRESS = Obj(
    "a member's progress",
    {
        "user_id": ID,
        "email": TEXT,
        "full_name": TEXT,
        "role": TEXT,
        "organizations": ListOf(ANY),
        "teams": ListOf(TEAM_REF),
        "team": TEAM_REF,
        "modules_completed": NUMBER,
        "progress_percent": NUMBER,
        "average_score": NUMBER,
        "learning_minutes": NUMBER,
        "last_activity_at": TEXT,
    },
)
XEL_MODULE = Obj(
    "an XEL module",
    {
        "id": ID,
        "title": TEXT,
        "level": TEXT,
        "skill": TEXT,
        "total_tasks": NUMBER,
        "completed_tasks": NUMBER,
        "progress_percent": NUMBER,
        "average_score": NUMBER,
        "status": TEXT,
        "last_activity_at": TEXT,
    },
)
XEL_TASK = Obj(
    "an XEL task",
    {"id": ID, "type": TEXT, "prompt": TEXT, "completed": FLAG, "score": NUMBER, "submitted_at": TEXT},
)
XEL_MODULE_WITH_TASKS = XEL_MODULE.extend("an XEL module with its tasks", tasks=ListOf(XEL_TASK))
XEL_DASHBOARD = Obj(
    "the XEL dashboard",
    {
        "overall_progress_percent": NUMBER,
        "modules_completed": NUMBER,
        "modules_in_progress": NUMBER,
        "modules_total": NUMBER,
        "average_score": NUMBER,
        "current_streak": NUMBER,
        "xp_total": NUMBER,
        "recent_activity": ListOf(Obj("an activity")),
    },
)
XEL_SUBMISSION = Obj(
    "a task submission result", {"task_id": ID, "accepted": FLAG, "score": NUMBER, "feedback": TEXT}
)
XEL_EVALUATION = Obj(
    "an evaluation",
    {"mode": TEXT, "score": NUMBER, "cefr_level": TEXT, "feedback": TEXT, "criteria": OBJECT},
)
KNOWLEDGE_HIT = Obj(
    "a knowledge-base hit",
    {"id": ID, "content": TEXT, "score": NUMBER, "source": TEXT, "metadata": OBJECT},
)
RAG_ANSWER = Obj("a RAG answer", {"answer": TEXT, "sources": ListOf(ANY)}, required=("answer",))
AI_PROVIDER = Obj("an AI provider", {"id": ID, "name": TEXT, "models": ListOf(ANY)})
CHAT_REPLY = Obj(
    "a chat reply",
    {"content": TEXT, "provider": TEXT, "model": TEXT, "usage": OBJECT, "conversation_id": TEXT},
    required=("content",),
)
CONVERSATION = Obj(
    "a conversation", {"id": ID, "title": TEXT, "created_at": TEXT, "updated_at": TEXT}, required=("id",)
)
MESSAGE = Obj("a message", {"id": ID, "role": TEXT, "content": TEXT, "created_at": TEXT})
CONTENT_HIT = Obj(
    "a search hit",
    {"type": TEXT, "id": ID, "conversation_id": TEXT, "snippet": TEXT, "score": NUMBER, "created_at": TEXT},
)
INTEGRATION = Obj("an integration", {"provider": TEXT, "status": TEXT, "connected_at": TEXT})
CALENDAR_CONNECT = Obj("an OAuth start", {"auth_url": ID}, required=("auth_url",))


def _results(item: Obj) -> OneOf:
    """``{"results": [item, ...]}``, or the bare list."""
    return OneOf(ListOf(item), Obj(f"results of {item.name}", {"results": ListOf(item)}, ("results",)))


#: Route name -> the shape of its response. Every route of :data:`~xentree_provider.api.routes.ROUTES`
#: is here or in :data:`UNCHECKED_ROUTES` (a test holds this).
SHAPES: dict[str, RouteShape] = {
    "register": RouteShape(PROFILE),
    "get_me": RouteShape(PROFILE),
    "update_me": RouteShape(PROFILE),
    "logout": RouteShape(ANY, empty_ok=True),
    "list_ai_providers": RouteShape(record=AI_PROVIDER),
    "generate_response": RouteShape(CHAT_REPLY),
    "list_conversations": RouteShape(record=CONVERSATION),
    "create_conversation": RouteShape(CONVERSATION),
    "list_conversation_messages": RouteShape(record=MESSAGE),
    "search_content": RouteShape(_results(CONTENT_HIT)),
    "search_knowledge": RouteShape(_results(KNOWLEDGE_HIT)),
    "rag_query": RouteShape(RAG_ANSWER),
    "get_live_quota": RouteShape(QUOTA),
    "start_live_session": RouteShape(SESSION),
    "live_session_heartbeat": RouteShape(ANY, empty_ok=True),
    "end_live_session": RouteShape(ANY, empty_ok=True),
    "update_live_nickname": RouteShape(ANY, empty_ok=True),
    "list_transcripts": RouteShape(record=TRANSCRIPT),
    "save_transcript": RouteShape(SAVED_TRANSCRIPT),
    "get_transcript": RouteShape(TRANSCRIPT_WITH_TURNS),
    "list_organizations": RouteShape(record=ORGANIZATION),
    "create_organization": RouteShape(ORGANIZATION),
    "get_organization": RouteShape(ORGANIZATION),
    "update_organization": RouteShape(ORGANIZATION.extend("an organization", required=())),
    "delete_organization": RouteShape(ANY, empty_ok=True),
    "list_members": RouteShape(record=MEMBER),
    "add_member": RouteShape(MEMBER),
    # The contract names no answer for these two writes: an empty one is fine.
    "update_member_role": RouteShape(MEMBER, empty_ok=True),
    "replace_member": RouteShape(MEMBER, empty_ok=True),
    "remove_member": RouteShape(ANY, empty_ok=True),
    "list_integrations": RouteShape(record=INTEGRATION),
    "connect_google_calendar": RouteShape(CALENDAR_CONNECT),
    "list_xel_modules": RouteShape(record=XEL_MODULE),
    "get_xel_module": RouteShape(XEL_MODULE_WITH_TASKS),
    "submit_xel_task": RouteShape(XEL_SUBMISSION),
    "evaluate_xel": RouteShape(XEL_EVALUATION),
    "get_xel_dashboard": RouteShape(XEL_DASHBOARD),
    "list_member_progress": RouteShape(record=MEMBER_PROGRESS),
}

#: Routes whose bodies are checked elsewhere: the token responses, by :mod:`xentree_provider.api.tokens`.
#: Their bodies hold credentials, so no route here may quote them (a test holds that no route with
#: ``secret_body`` has a shape).
UNCHECKED_ROUTES = frozenset({"login", "refresh"})


def _excerpt(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (ValueError, RecursionError):
        text = json_kind(value)
    return body_preview(text.encode("utf-8", "backslashreplace"))


def _shape_error(route: Route, path: str | None, mismatch: ShapeMismatch) -> XentreeResponseError:
    expected = mismatch.expected if mismatch.expected.endswith(";") else mismatch.expected + ","
    message = (
        f"unexpected response shape at {mismatch.at}: expected {expected} got "
        f"{mismatch.problem}: {_excerpt(mismatch.shown)}"
    )
    return XentreeResponseError(message, method=route.method, path=path or route.path)


def _shape_of(route: Route) -> RouteShape | None:
    if ROUTES.get(route.name) != route:
        return None  # an ad-hoc route (the generic request): nothing is assumed about its body
    return SHAPES.get(route.name)


def check_response(route: Route, payload: Any, *, path: str | None = None) -> Any:
    """Return ``payload`` if it has ``route``'s shape; raise ``XentreeResponseError`` otherwise.

    ``path`` is the request's path (placeholders filled), named in the error.
    """
    shape = _shape_of(route)
    if shape is None:
        return payload
    if payload is None:
        if shape.empty_ok or shape.record is not None:
            return payload
        raise XentreeResponseError(
            f"the response is empty, expected {shape.body.expected if shape.body else 'a body'}",
            method=route.method,
            path=path or route.path,
        )
    if shape.body is not None:
        try:
            shape.body.check(payload)
        except ShapeMismatch as mismatch:
            raise _shape_error(route, path, mismatch) from None
    return payload


def check_records(route: Route, records: list[Any], *, path: str | None = None) -> None:
    """Raise ``XentreeResponseError`` unless every record of a page of ``route`` has its shape.

    Records are located as ``$[i]``, counted from 0 within the page.
    """
    shape = _shape_of(route)
    if shape is None or shape.record is None:
        return
    try:
        ListOf(shape.record).check(records)
    except ShapeMismatch as mismatch:
        raise _shape_error(route, path, mismatch) from None
