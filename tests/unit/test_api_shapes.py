"""Unit tests for ``xentree_provider.api.shapes``: the table covers every route, and each kind of
wrong shape is a XentreeResponseError naming the route, the place and a short excerpt."""

from __future__ import annotations

from typing import Any

import pytest

from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.api.routes import ROUTES, Paging
from xentree_provider.api.shapes import (
    SHAPES,
    UNCHECKED_ROUTES,
    ListOf,
    Number,
    Obj,
    OneOf,
    ShapeMismatch,
    Text,
    check_records,
    check_response,
    json_kind,
)
from xentree_provider.api.transport import adhoc_route

TURN = {"role": "user", "text": "Hi", "timestamp": "2026-11-01T10:00:00Z"}
DETAIL = {"id": "t1", "session_started_at": "2026-11-01T10:00:00Z", "transcripts": [TURN]}


def detail_error(payload: Any) -> str:
    with pytest.raises(XentreeResponseError) as caught:
        check_response(ROUTES["get_transcript"], payload, path="/api/live/transcripts/t1")
    error = caught.value
    assert (error.method, error.path) == ("GET", "/api/live/transcripts/t1")
    return str(error)


# --------------------------------------------------------------------------- the table


def test_every_route_has_a_shape_or_is_checked_elsewhere() -> None:
    assert set(SHAPES) | UNCHECKED_ROUTES == set(ROUTES)
    assert not set(SHAPES) & UNCHECKED_ROUTES


def test_no_route_whose_body_holds_credentials_is_quoted() -> None:
    assert not [name for name in SHAPES if ROUTES[name].secret_body]


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_list_routes_shape_their_records_and_others_their_body(name: str) -> None:
    shape = SHAPES[name]
    if ROUTES[name].paging is Paging.NONE:
        assert shape.body is not None and shape.record is None
    else:
        assert shape.record is not None and shape.body is None


# --------------------------------------------------------------------------- wrong shapes


def test_a_valid_detail_passes_and_is_returned_unchanged() -> None:
    payload = {**DETAIL, "unknown": {"nested": [1]}, "session_ended_at": None}
    assert check_response(ROUTES["get_transcript"], payload) is payload


def test_missing_and_null_optional_fields_are_fine() -> None:
    check_response(ROUTES["get_xel_dashboard"], {})
    check_response(ROUTES["get_xel_dashboard"], {"overall_progress_percent": None, "recent_activity": None})


@pytest.mark.parametrize(
    ("payload", "where", "got"),
    [
        ({**DETAIL, "transcripts": None}, "$.transcripts", "an object where it is null"),
        ({"id": "t1"}, "$.transcripts", "an object without it"),
        ({**DETAIL, "transcripts": [TURN, None]}, "$.transcripts[1]", "got null"),
        ({**DETAIL, "transcripts": ["hello"]}, "$.transcripts[0]", "got a string"),
        ({**DETAIL, "transcripts": TURN}, "$.transcripts", "got an object"),
        ([DETAIL], "$:", "got a list"),
        ("text", "$:", "got a string"),
        ({**DETAIL, "transcripts": [{"role": "user", "text": 5}]}, "$.transcripts[0].text", "got a number"),
        ({**DETAIL, "turn_count": True}, "$.turn_count", "got a boolean"),
        ({**DETAIL, "turn_count": float("nan")}, "$.turn_count", "non-finite"),
        ({**DETAIL, "turn_count": 10**400}, "$.turn_count", "non-finite"),
        ({**DETAIL, "id": "  "}, "$.id", "an empty string"),
    ],
)
def test_each_wrong_shape_names_the_place_and_what_came(payload: Any, where: str, got: str) -> None:
    message = detail_error(payload)
    assert message.startswith("GET /api/live/transcripts/t1: unexpected response shape at ")
    assert where in message
    assert got in message


def test_the_excerpt_is_short() -> None:
    message = detail_error({**DETAIL, "transcripts": {"role": "x" * 5000}})
    assert "xxxx" in message
    assert len(message) < 400


def test_an_empty_body_is_an_error_unless_the_route_allows_it() -> None:
    with pytest.raises(XentreeResponseError, match="the response is empty"):
        check_response(ROUTES["get_live_quota"], None)
    assert check_response(ROUTES["update_member_role"], None) is None
    assert check_response(ROUTES["remove_member"], None) is None


@pytest.mark.parametrize("name", ["search_knowledge", "search_content"])
def test_search_answers_are_a_list_or_an_object_with_results(name: str) -> None:
    route = ROUTES[name]
    check_response(route, [{"id": "a"}])
    check_response(route, {"results": [{"id": "a"}]})
    for bad in ({"hits": []}, {"results": None}, {"results": ["a"]}, [None], "results"):
        with pytest.raises(XentreeResponseError, match=f"^{route.method} {route.path}: "):
            check_response(route, bad)


def test_the_generic_request_route_is_not_checked() -> None:
    assert check_response(adhoc_route("GET", "/api/anything"), [None, "x"]) == [None, "x"]


def test_records_of_a_page_are_located_by_index() -> None:
    route = ROUTES["list_members"]
    check_records(route, [{"user_id": "u1", "email": "a@b.example"}, {"unknown": 1}])
    for bad, where in (
        ([{"user_id": "u1"}, ["u2"]], "$[1]:"),
        ([{"email": {"address": "a"}}], "$[0].email"),
        ([None], "$[0]:"),
    ):
        with pytest.raises(XentreeResponseError, match="unexpected response shape") as caught:
            check_records(route, bad, path="/api/organizations/o1/members")
        assert str(caught.value).startswith("GET /api/organizations/o1/members: ")
        assert where in str(caught.value)


# --------------------------------------------------------------------------- the building blocks


def test_one_of_picks_the_option_of_the_values_kind() -> None:
    spec = OneOf(Text(), ListOf(Number()))
    spec.check("a")
    spec.check([1, 2.5])
    with pytest.raises(ShapeMismatch) as caught:
        spec.check([1, "x"])
    assert caught.value.at == "$[1]"


def test_required_fields_must_have_a_shape() -> None:
    with pytest.raises(ValueError, match="required fields"):
        Obj("thing", {"a": Text()}, required=("b",))


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (None, "null"),
        (True, "a boolean"),
        (1, "a number"),
        (1.5, "a number"),
        ("", "a string"),
        ([], "a list"),
    ],
)
def test_json_kind(value: Any, kind: str) -> None:
    assert json_kind(value) == kind
