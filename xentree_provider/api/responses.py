"""Turning an HTTP response (status, headers, body bytes) into decoded JSON or the right error.

Shared by the sync and the async transport, so both read bodies and errors the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from xentree_provider.api.errors import (
    XentreeConfigError,
    error_from_response,
    too_large_error,
    unexpected_body_error,
)
from xentree_provider.api.retry import parse_retry_after

__all__ = ["BodyCollector", "decode_response"]


class BodyCollector:
    """Gathers a response body chunk by chunk, refusing it once it passes ``limit`` bytes.

    :param limit: the most bytes accepted (``max_response_bytes``).
    :param status: the response status, for the error.
    :param headers: the response headers: a declared ``Content-Length`` over the limit fails at once.
    """

    def __init__(self, limit: int, *, status: int, headers: Mapping[str, str], method: str, path: str):
        self._limit = limit
        self._error = too_large_error(limit, status=status, method=method, path=path)
        self._chunks: list[bytes] = []
        self._size = 0
        declared = (headers.get("content-length") or "").strip()
        if declared.isdigit() and int(declared) > limit:
            raise self._error

    def add(self, chunk: bytes) -> None:
        """Keep ``chunk``; raise :class:`XentreeResponseError` if the body is now over the limit."""
        self._size += len(chunk)
        if self._size > self._limit:
            self._chunks.clear()
            raise self._error
        self._chunks.append(chunk)

    def body(self) -> bytes:
        """The whole body."""
        return b"".join(self._chunks)


def decode_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    path: str,
    withhold_body: bool = False,
) -> Any:
    """Return the decoded JSON body of a success, None for an empty one; raise a XentreeError otherwise.

    ``headers`` must look names up case-insensitively (requests' and httpx's header maps do). With
    ``withhold_body`` (token endpoints) an unreadable success body is never quoted in the error.
    """
    content_type = headers.get("content-type")
    request_id = headers.get("x-request-id")
    if status >= 400:
        raise error_from_response(
            status,
            body,
            content_type=content_type,
            request_id=request_id,
            method=method,
            path=path,
            retry_after=parse_retry_after(headers.get("retry-after")),
        )
    if 300 <= status < 400:
        # Redirects are not followed (credentials must not travel to another host); a write that was
        # redirected did nothing, so it must not look like a success.
        parts = urlsplit(headers.get("location") or "")
        target = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path or "elsewhere"
        raise XentreeConfigError(
            f"{method} {path} was redirected (HTTP {status}) to {target}; set the connection host to the "
            "final API base URL"
        )
    if status == 204 or not body.strip():
        return None
    if withhold_body:
        body_for_errors = (
            f"<{len(body)} bytes withheld: a token endpoint's body may hold credentials>".encode()
        )
    else:
        body_for_errors = body
    if content_type is not None and "json" not in content_type.lower():
        hint = (
            "; is the connection host the API base URL (e.g. https://my.xentree.com), not a web page?"
            if "html" in content_type.lower()
            else ""
        )
        raise unexpected_body_error(
            f"Xentree API returned {content_type} where JSON was expected{hint}",
            status=status,
            content_type=content_type,
            body=body_for_errors,
            request_id=request_id,
            method=method,
            path=path,
        )
    try:
        payload = json.loads(body)
    except RecursionError:
        raise unexpected_body_error(
            "Xentree API returned JSON nested too deeply to read",
            status=status,
            content_type=content_type,
            body=body_for_errors,
            request_id=request_id,
            method=method,
            path=path,
        ) from None
    except ValueError:
        error = unexpected_body_error(
            "Xentree API returned malformed or truncated JSON",
            status=status,
            content_type=content_type,
            body=body_for_errors,
            request_id=request_id,
            method=method,
            path=path,
        )
        error.retryable_body = True
        raise error from None
    if (_MAY_HOLD_SURROGATES.search(body) or b"\x00" in body[:4]) and _has_unpaired_surrogate(payload):
        raise unexpected_body_error(
            "Xentree API returned JSON with an unpaired UTF-16 surrogate (such as \\ud800) in a "
            "string, which is not valid Unicode and cannot be written out",
            status=status,
            content_type=content_type,
            body=body_for_errors,
            request_id=request_id,
            method=method,
            path=path,
        )
    return payload


#: A ``\uD800``-``\uDFFF`` escape, or those code points encoded as UTF-8 bytes (which ``json.loads``
#: lets through): how a UTF-8 body can carry an unpaired surrogate. UTF-16/32 bodies (NUL bytes in the
#: first four) are always checked.
_MAY_HOLD_SURROGATES = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _has_unpaired_surrogate(payload: Any) -> bool:
    """Whether any string (key or value) in ``payload`` holds a surrogate that UTF-8 cannot encode."""
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
    return False
