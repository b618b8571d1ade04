"""Unit tests for ``xentree_provider.api.errors`` and ``xentree_provider.api.responses``."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from requests.structures import CaseInsensitiveDict

from xentree_provider.api.errors import (
    BODY_PREVIEW_CHARS,
    XentreeAuthError,
    XentreeConflictError,
    XentreeConnectionError,
    XentreeError,
    XentreeNotFoundError,
    XentreePermissionError,
    XentreeQuotaExceededError,
    XentreeRateLimitError,
    XentreeResponseError,
    XentreeServerError,
    XentreeTimeoutError,
    XentreeValidationError,
    error_from_response,
)
from xentree_provider.api.responses import decode_response

JSON = "application/json"


def body(payload: Any) -> bytes:
    """Encode a payload as a JSON body."""
    return json.dumps(payload).encode()


def coded(code: str = "SOME_CODE", message: str = "some message") -> bytes:
    """The documented error body ``{"detail": {"error", "message"}}``."""
    return body({"detail": {"error": code, "message": message}})


# --------------------------------------------------------------------------- status -> type


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, XentreeValidationError),
        (401, XentreeAuthError),
        (403, XentreePermissionError),
        (404, XentreeNotFoundError),
        (409, XentreeConflictError),
        (422, XentreeValidationError),
        (429, XentreeRateLimitError),
        (500, XentreeServerError),
        (502, XentreeServerError),
        (503, XentreeServerError),
        (504, XentreeServerError),
        (418, XentreeError),
    ],
)
def test_status_maps_to_type(status: int, expected: type[XentreeError]) -> None:
    error = error_from_response(status, coded(), content_type=JSON)
    assert type(error) is expected
    assert error.status == status
    assert error.code == "SOME_CODE"
    assert "some message" in error.message


def test_plain_429_is_not_quota() -> None:
    error = error_from_response(429, coded("rate_limited", "slow down"), content_type=JSON)
    assert type(error) is XentreeRateLimitError


def test_live_quota_exceeded_is_quota_error() -> None:
    error = error_from_response(
        429, coded("live_quota_exceeded", "monthly Live quota used up"), content_type=JSON
    )
    assert isinstance(error, XentreeQuotaExceededError)
    assert isinstance(error, XentreeRateLimitError)
    assert error.code == "live_quota_exceeded"


# --------------------------------------------------------------------------- body shapes


def test_detail_object_shape() -> None:
    error = error_from_response(404, coded("NOT_FOUND", "transcript t1 not found"), content_type=JSON)
    assert error.code == "NOT_FOUND"
    assert error.message == "transcript t1 not found"


def test_detail_string_shape() -> None:
    error = error_from_response(409, body({"detail": "already a member"}), content_type=JSON)
    assert isinstance(error, XentreeConflictError)
    assert error.code is None
    assert error.message == "already a member"


def test_validation_list_shape_gives_field_errors() -> None:
    payload = {
        "detail": [
            {"loc": ["body", "email"], "msg": "value is not a valid email address", "type": "value_error"},
            {"loc": ["body", "role"], "msg": "field required", "type": "missing"},
            {"loc": ["query", "limit"], "msg": "must be <= 200", "type": "less_than_equal"},
            {"loc": ["body", "email"], "msg": "too long", "type": "too_long"},
        ]
    }
    error = error_from_response(422, body(payload), content_type=JSON)
    assert isinstance(error, XentreeValidationError)
    assert error.field_errors == {
        "email": ["value is not a valid email address", "too long"],
        "role": ["field required"],
        "limit": ["must be <= 200"],
    }
    assert "email" in error.message
    assert "field required" in error.message


def test_validation_list_without_loc_goes_to_request() -> None:
    error = error_from_response(422, body({"detail": [{"msg": "bad"}]}), content_type=JSON)
    assert isinstance(error, XentreeValidationError)
    assert error.field_errors == {"request": ["bad"]}


def test_html_502_shows_status_content_type_and_body_start() -> None:
    html = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 1000 + "</body></html>"
    error = error_from_response(
        502, html.encode(), content_type="text/html; charset=utf-8", method="GET", path="/api/live/quota"
    )
    assert isinstance(error, XentreeServerError)
    assert error.status == 502
    assert "502" in error.message
    assert "text/html" in error.message
    assert "<html><head><title>502 Bad Gateway</title>" in error.message
    # only the start of the body is shown
    assert "x" * (BODY_PREVIEW_CHARS + 10) not in error.message
    assert "</body>" not in error.message


def test_empty_body_still_has_a_message() -> None:
    error = error_from_response(500, b"", content_type=None)
    assert isinstance(error, XentreeServerError)
    assert "500" in error.message


def test_scope_error_explains_in_plain_words() -> None:
    payload = {
        "detail": {
            "error": "INSUFFICIENT_API_KEY_SCOPE",
            "message": "API key lacks scope",
            "required_scope": "organizations:write",
            "granted_scopes": ["organizations:read", "live:read"],
        }
    }
    error = error_from_response(403, body(payload), content_type=JSON)
    assert isinstance(error, XentreePermissionError)
    assert error.code == "INSUFFICIENT_API_KEY_SCOPE"
    assert error.required_scope == "organizations:write"
    assert error.granted_scopes == ["organizations:read", "live:read"]
    assert "organizations:write" in error.message
    assert "organizations:read, live:read" in error.message
    assert "login connection" in error.message


def test_plain_403_has_no_scope_details() -> None:
    error = error_from_response(403, body({"detail": "not an admin"}), content_type=JSON)
    assert isinstance(error, XentreePermissionError)
    assert error.required_scope is None
    assert error.granted_scopes == []
    assert error.message == "not an admin"


def test_401_message_says_what_to_check() -> None:
    error = error_from_response(401, body({"detail": "Could not validate credentials"}), content_type=JSON)
    assert "Could not validate credentials" in error.message
    assert "credentials" in error.message and "api_key" in error.message


# --------------------------------------------------------------------------- str / pickle


def test_str_has_method_path_status_code_and_request_id() -> None:
    error = error_from_response(
        404,
        coded("NOT_FOUND", "no such transcript"),
        content_type=JSON,
        request_id="req-123",
        method="GET",
        path="/api/live/transcripts/t9",
    )
    text = str(error)
    assert text.startswith("GET /api/live/transcripts/t9 HTTP 404 NOT_FOUND: no such transcript")
    assert text.endswith("(request id req-123)")


def test_str_of_bare_error_is_the_message() -> None:
    assert str(XentreeError("just this")) == "just this"


@pytest.mark.parametrize(
    "error",
    [
        error_from_response(
            403,
            body(
                {
                    "detail": {
                        "error": "INSUFFICIENT_API_KEY_SCOPE",
                        "message": "m",
                        "required_scope": "xel:read",
                        "granted_scopes": ["live:read"],
                    }
                }
            ),
            content_type=JSON,
            request_id="r1",
            method="GET",
            path="/api/xel/modules",
        ),
        error_from_response(
            422, body({"detail": [{"loc": ["body", "role"], "msg": "bad role"}]}), content_type=JSON
        ),
        error_from_response(429, coded("live_quota_exceeded"), content_type=JSON, retry_after=12.5),
        XentreeResponseError("garbled", content_type="text/html", retryable_body=True, status=200),
        XentreeTimeoutError("slow", request_sent=False, method="GET", path="/x"),
        XentreeConnectionError("dropped", method="POST", path="/y"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_pickle_round_trip_keeps_attributes(error: XentreeError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert copy.__dict__ == error.__dict__
    assert str(copy) == str(error)
    assert copy.args == error.args


# --------------------------------------------------------------------------- decode_response


def headers(**values: str) -> CaseInsensitiveDict[str]:
    """Case-insensitive headers, like requests' and httpx's."""
    return CaseInsensitiveDict({k.replace("_", "-"): v for k, v in values.items()})


def decode(status: int, hdrs: CaseInsensitiveDict[str], raw: bytes) -> Any:
    return decode_response(status, hdrs, raw, method="GET", path="/api/live/quota")


def test_decode_json() -> None:
    assert decode(200, headers(Content_Type=JSON), b'{"a": 1}') == {"a": 1}


@pytest.mark.parametrize(("status", "raw"), [(204, b""), (200, b""), (200, b"  \n"), (204, b"{}")])
def test_decode_empty_is_none(status: int, raw: bytes) -> None:
    assert decode(status, headers(Content_Type=JSON), raw) is None


def test_decode_html_success_has_hint() -> None:
    with pytest.raises(XentreeResponseError) as info:
        decode(200, headers(Content_Type="text/html; charset=utf-8"), b"<!doctype html><p>Welcome</p>")
    error = info.value
    assert "text/html" in error.message
    assert "API base URL" in error.message
    assert "<!doctype html>" in error.message
    assert error.content_type == "text/html; charset=utf-8"
    assert error.retryable_body is False
    assert error.method == "GET" and error.path == "/api/live/quota"


def test_decode_other_non_json_has_no_html_hint() -> None:
    with pytest.raises(XentreeResponseError) as info:
        decode(200, headers(Content_Type="text/plain"), b"ok")
    assert "text/plain" in info.value.message
    assert "API base URL" not in info.value.message


@pytest.mark.parametrize("raw", [b'{"remaining_seconds": 12, "used', b"{not json}", b"\xff\xfe garbage"])
def test_decode_malformed_json_is_retryable(raw: bytes) -> None:
    with pytest.raises(XentreeResponseError) as info:
        decode(200, headers(Content_Type=JSON, X_Request_ID="rid-7"), raw)
    assert info.value.retryable_body is True
    assert info.value.request_id == "rid-7"
    assert "malformed or truncated JSON" in info.value.message


def test_decode_error_carries_retry_after_and_request_id() -> None:
    with pytest.raises(XentreeRateLimitError) as info:
        decode(429, headers(Content_Type=JSON, Retry_After="7", X_Request_ID="abc"), coded("rate_limited"))
    assert info.value.retry_after == 7.0
    assert info.value.request_id == "abc"
    assert info.value.path == "/api/live/quota"


def test_decode_error_without_retry_after() -> None:
    with pytest.raises(XentreeServerError) as info:
        decode(503, headers(Content_Type=JSON), coded("unavailable"))
    assert info.value.retry_after is None


def test_decode_headers_are_case_insensitive() -> None:
    with pytest.raises(XentreeNotFoundError) as info:
        decode(404, headers(CONTENT_TYPE=JSON, x_request_id="lower"), coded("NOT_FOUND"))
    assert info.value.request_id == "lower"
