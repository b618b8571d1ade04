"""The exception tree of the Xentree provider and the mapping from HTTP responses to it.

Every error carries the HTTP status, the server's error code and message, and the request id, and
never a credential: messages are built only from the response body and the request's method and path
(never its headers or query string).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum
from typing import Any

__all__ = [
    "Failure",
    "XentreeAuthError",
    "XentreeConfigError",
    "XentreeConflictError",
    "XentreeConnectionError",
    "XentreeError",
    "XentreeMaybeAppliedError",
    "XentreeNotFoundError",
    "XentreePermissionError",
    "XentreeQuotaExceededError",
    "XentreeRateLimitError",
    "XentreeResponseError",
    "XentreeServerError",
    "XentreeTimeoutError",
    "XentreeValidationError",
    "error_from_response",
    "tls_error",
    "too_large_error",
    "transport_error",
]

BODY_PREVIEW_CHARS = 200


class XentreeError(Exception):
    """Base class of every error raised by the Xentree provider.

    :param message: human-readable explanation, safe to log.
    :param status: HTTP status code, when the error comes from a response.
    :param code: the server's error code (``detail.error``), when it gave one.
    :param request_id: the ``X-Request-ID`` of the response, when present.
    :param method: HTTP method of the failed request.
    :param path: path of the failed request (no query string).
    :param retry_after: the delay in seconds the server asked for (``Retry-After``), if any.
    :param from_api: the body was the API's own error JSON (``{"detail": ...}``), not a proxy's page.
    """

    #: True only on :class:`XentreeMaybeAppliedError`: a write may have taken effect.
    maybe_applied = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        retry_after: float | None = None,
        from_api: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.from_api = from_api
        self.retry_after = retry_after
        self.status = status
        self.code = code
        self.request_id = request_id
        self.method = method
        self.path = path

    def __str__(self) -> str:
        parts = []
        if self.method and self.path:
            parts.append(f"{self.method} {self.path}")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        prefix = " ".join(parts)
        text = f"{prefix}: {self.message}" if prefix else self.message
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Keeps the keyword-only attributes when the error crosses a process boundary (triggers, XCom).
        return (_rebuild_error, (type(self), self.message, self.__dict__.copy()))


def _rebuild_error(cls: type[XentreeError], message: str, state: dict[str, Any]) -> XentreeError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class XentreeConfigError(XentreeError, ValueError):
    """The connection or a parameter is set up wrongly; the message says what to change."""


class XentreeConnectionError(XentreeError):
    """The API could not be reached, or the connection dropped before a full response arrived.

    :param request_sent: False when the request certainly never reached the server (DNS failure,
        refused connection, connect timeout), so even a non-idempotent request may be sent again.
    """

    def __init__(self, message: str, *, request_sent: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.request_sent = request_sent


class XentreeTimeoutError(XentreeConnectionError):
    """The API did not answer within the configured timeout."""


class XentreeAuthError(XentreeError):
    """401: credentials are missing, wrong, expired or revoked."""


class XentreePermissionError(XentreeError):
    """403: authenticated but not allowed; for API keys, usually a missing scope.

    :param required_scope: the scope the endpoint needs, when the server said.
    :param granted_scopes: the scopes the API key has, when the server said.
    """

    def __init__(
        self,
        message: str,
        *,
        required_scope: str | None = None,
        granted_scopes: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.required_scope = required_scope
        self.granted_scopes = list(granted_scopes or [])


class XentreeNotFoundError(XentreeError):
    """404: the object does not exist or is not visible to these credentials."""


class XentreeConflictError(XentreeError):
    """409: the request conflicts with the current state (already a member, last owner, ...)."""


class XentreeRateLimitError(XentreeError):
    """429: too many requests. ``retry_after`` is the delay the server asked for, in seconds, if any."""


class XentreeQuotaExceededError(XentreeRateLimitError):
    """429 ``live_quota_exceeded``: the monthly Xentree Live quota is used up; retrying will not help."""


class XentreeValidationError(XentreeError):
    """400/422: the request was rejected as invalid. ``field_errors`` maps a field path to its messages."""

    def __init__(self, message: str, *, field_errors: dict[str, list[str]] | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.field_errors = dict(field_errors or {})


class XentreeServerError(XentreeError):
    """5xx: the server or a proxy in front of it failed."""


class XentreeMaybeAppliedError(XentreeError):
    """A write (POST, PATCH, DELETE not idempotent by nature) was sent and its outcome is unknown: the
    connection dropped, a proxy answered 5xx, or the answer could not be read. It was not sent again, so
    that it cannot be applied twice; check the server's state before retrying. ``maybe_applied`` is True.
    """

    maybe_applied = True

    @classmethod
    def after(cls, error: XentreeError, method: str, path: str) -> XentreeMaybeAppliedError:
        """The error replacing ``error``, which ended a write to ``method path``."""
        return cls(
            f"the write may have been applied: the request reached the server, then failed "
            f"({error.message.rstrip('.')}). It was not sent again, so that it cannot be applied twice; "
            "check whether it took effect before retrying",
            status=error.status,
            code=error.code,
            request_id=error.request_id,
            method=method,
            path=path,
        )


class XentreeResponseError(XentreeError):
    """The response body is not the JSON we expect (an HTML page, truncated or malformed JSON)."""

    def __init__(
        self, message: str, *, content_type: str | None = None, retryable_body: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.content_type = content_type
        #: True for a JSON body cut short or garbled on the way, which a repeat may fix.
        self.retryable_body = retryable_body


def body_preview(body: bytes | str) -> str:
    """Return the first characters of a body, decoded leniently, on one line."""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = " ".join(text[: BODY_PREVIEW_CHARS * 2].split())
    if len(text) > BODY_PREVIEW_CHARS:
        return text[:BODY_PREVIEW_CHARS] + "..."
    return text


def unexpected_body_error(
    reason: str,
    *,
    status: int,
    content_type: str | None,
    body: bytes | str,
    request_id: str | None = None,
    method: str | None = None,
    path: str | None = None,
) -> XentreeResponseError:
    """Build the error for a body that is not the JSON we expect, showing what came instead."""
    message = (
        f"{reason} (status {status}, content type {content_type or 'none'}); "
        f"the body starts with: {body_preview(body)!r}"
    )
    return XentreeResponseError(
        message,
        status=status,
        content_type=content_type,
        request_id=request_id,
        method=method,
        path=path,
    )


def _is_api_error_body(body: bytes) -> bool:
    """True for the contract's error shape: a JSON object with a ``detail`` (object, text or list)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return isinstance(payload, Mapping) and isinstance(payload.get("detail"), (Mapping, str, list))


def _parse_error_body(body: bytes) -> tuple[str | None, str | None, dict[str, Any], dict[str, list[str]]]:
    """Return (code, message, extra detail fields, field errors) from any of the error body shapes."""
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        return None, None, {}, {}
    detail = payload.get("detail", payload) if isinstance(payload, Mapping) else payload
    if isinstance(detail, str):
        return None, detail, {}, {}
    if isinstance(detail, Mapping):
        code = detail.get("error") or detail.get("code")
        message = detail.get("message") or detail.get("msg")
        return (
            str(code) if code is not None else None,
            str(message) if message is not None else None,
            dict(detail),
            {},
        )
    if isinstance(detail, list):
        field_errors: dict[str, list[str]] = {}
        for item in detail:
            if not isinstance(item, Mapping):
                continue
            loc = item.get("loc") or []
            field = ".".join(str(part) for part in loc if part not in ("body", "query", "path"))
            field_errors.setdefault(field or "request", []).append(str(item.get("msg", "invalid")))
        summary = "; ".join(f"{field}: {', '.join(msgs)}" for field, msgs in field_errors.items())
        return None, summary or None, {}, field_errors
    return None, None, {}, {}


class Failure(str, Enum):
    """How an exchange failed before a full response arrived (the drivers map their own errors to it)."""

    #: The connection could not be opened in time: the request never left.
    CONNECT_TIMEOUT = "connect_timeout"
    #: No connection at all (refused, DNS failure): the request never left.
    UNREACHABLE = "unreachable"
    #: The server stopped answering mid-way (read timeout): it may have acted on the request.
    READ_TIMEOUT = "read_timeout"
    #: The connection dropped after the request was sent: it may have acted on the request.
    DROPPED = "dropped"
    #: The whole exchange outlasted the request's total deadline: it may have acted on the request.
    DEADLINE = "deadline"


def transport_error(
    failure: Failure, *, method: str, path: str, cause: str, request_sent: bool = True
) -> XentreeConnectionError:
    """The error for a failed exchange; ``cause`` names the client library's error type (or, for
    :attr:`Failure.DEADLINE`, the deadline), never a URL. ``request_sent`` (for the deadline): False
    when the time ran out while connecting or in the TLS handshake, before anything was sent."""
    where: dict[str, Any] = {"method": method, "path": path}
    if failure is Failure.DEADLINE and not request_sent:
        return XentreeTimeoutError(
            f"could not connect to the Xentree API (TCP connect and TLS handshake) within the request's "
            f"total deadline of {cause} (connection extra 'request_deadline'; by default the connect "
            "timeout plus twice the read timeout); check the connection host and that the service is "
            "reachable",
            request_sent=False,
            **where,
        )
    if failure is Failure.DEADLINE:
        return XentreeTimeoutError(
            f"the Xentree API did not finish answering within the request's total deadline of {cause} "
            "(connection extra 'request_deadline'; by default the connect timeout plus twice the read "
            "timeout)",
            **where,
        )
    if failure is Failure.CONNECT_TIMEOUT:
        return XentreeTimeoutError("timed out connecting to the Xentree API", request_sent=False, **where)
    if failure is Failure.READ_TIMEOUT:
        return XentreeTimeoutError("timed out waiting for the Xentree API to answer", **where)
    if failure is Failure.UNREACHABLE:
        return XentreeConnectionError(
            f"could not connect to the Xentree API ({cause}); check the connection host and that the "
            "service is reachable",
            request_sent=False,
            **where,
        )
    return XentreeConnectionError(
        f"the connection to the Xentree API dropped before a full response arrived ({cause})", **where
    )


def too_large_error(limit: int, *, status: int, method: str, path: str) -> XentreeResponseError:
    """The error for a response body over ``limit`` bytes (read no further than that)."""
    return XentreeResponseError(
        f"the response is larger than {limit} bytes (connection extra 'max_response_bytes'); it was not "
        "read further. Raise the limit if such a response is expected, or ask for less (smaller pages)",
        status=status,
        method=method,
        path=path,
    )


def tls_error(base_url: str, detail: str) -> XentreeConfigError:
    """The error for a failed TLS handshake: a certificate problem, or not TLS at all on that port."""
    if "CERTIFICATE_VERIFY_FAILED" in detail or "certificate verify failed" in detail:
        return XentreeConfigError(
            f"TLS failed talking to {base_url}: the certificate could not be verified. Fix the server "
            "certificate, or set the extra 'verify' to the path of a CA bundle file that trusts it."
        )
    return XentreeConfigError(
        f"TLS handshake with {base_url} failed ({detail[:120]}); is the server plain http:// rather than "
        "https://, or is the port wrong?"
    )


def error_from_response(
    status: int,
    body: bytes,
    *,
    content_type: str | None = None,
    request_id: str | None = None,
    method: str | None = None,
    path: str | None = None,
    retry_after: float | None = None,
) -> XentreeError:
    """Map an error response (status >= 400) to the matching exception type."""
    code, message, detail, field_errors = _parse_error_body(body)
    is_json = content_type is not None and "json" in content_type
    common: dict[str, Any] = {
        "from_api": is_json and _is_api_error_body(body),
        "status": status,
        "code": code,
        "request_id": request_id,
        "method": method,
        "path": path,
        "retry_after": retry_after,
    }
    if message is None and not is_json and body:
        # A proxy's HTML page or other non-JSON error: show what it was.
        reason = {502: "bad gateway", 503: "service unavailable", 504: "gateway timeout"}.get(
            status, "error response"
        )
        preview_error = unexpected_body_error(
            f"Xentree API returned a non-JSON {reason}",
            status=status,
            content_type=content_type,
            body=body,
            request_id=request_id,
        )
        message = preview_error.message
    message = message or f"HTTP {status} without an error message"

    if status == 401:
        return XentreeAuthError(
            f"{message}. Check the connection's credentials (login/password or the api_key extra).",
            **common,
        )
    if status == 403:
        required = detail.get("required_scope")
        granted = detail.get("granted_scopes")
        if required:
            granted_list = [str(s) for s in granted] if isinstance(granted, list) else []
            message = (
                f"The API key lacks the scope {required!r} (it has: "
                f"{', '.join(granted_list) or 'no scopes'}). Create a key with {required!r} in Xentree "
                f"or use a login connection. Server said: {message}"
            )
        return XentreePermissionError(
            message,
            required_scope=str(required) if required else None,
            granted_scopes=[str(s) for s in granted] if isinstance(granted, list) else None,
            **common,
        )
    if status == 404:
        return XentreeNotFoundError(message, **common)
    if status == 409:
        return XentreeConflictError(message, **common)
    if status == 429:
        if code == "live_quota_exceeded":
            return XentreeQuotaExceededError(message, **common)
        return XentreeRateLimitError(message, **common)
    if status in (400, 422):
        return XentreeValidationError(message, field_errors=field_errors, **common)
    if status >= 500:
        return XentreeServerError(message, **common)
    return XentreeError(message, **common)
