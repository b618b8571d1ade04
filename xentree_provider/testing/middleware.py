"""ASGI middleware of the sandbox: request ids, counters and fault injection (imported by app.py only)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
from collections.abc import Callable
from email.utils import format_datetime
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xentree_provider.testing.config import FaultConfig
from xentree_provider.testing.state import SandboxState

ADMIN_PREFIX = "/__sandbox"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: POST routes that change nothing; they are not counted as writes.
READ_ONLY_POSTS = frozenset(
    {
        "POST /api/auth/login",
        "POST /api/auth/refresh",
        "POST /api/knowledge/search",
        "POST /api/rag/query",
        "POST /api/xel/evaluate",
    }
)

_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_MALFORMED = b'{"items": [{"id": "sbx_1", "value": nan,}, oops'
_TRUNCATED = b'[{"id": "sbx_1", "session_started_at": "2026-04-16T10:00:00Z"}, {"id": "sbx_2", "sess'


class SandboxConnectionReset(Exception):
    """Raised after a partial response to make the server drop the connection abruptly."""


class _QuietReset(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, SandboxConnectionReset)


def silence_reset_tracebacks() -> None:
    """Keep the server log free of tracebacks for injected connection resets."""
    for name in ("uvicorn.error", "uvicorn"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _QuietReset) for f in logger.filters):
            logger.addFilter(_QuietReset())


def retry_after_header(style: str, wait_seconds: float) -> list[tuple[bytes, bytes]]:
    """Return the ``Retry-After`` header for ``wait_seconds`` in the configured style (maybe none)."""
    seconds = max(1, math.ceil(wait_seconds))
    if style == "none":
        return []
    if style == "date":
        when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds + 1)
        return [(b"retry-after", format_datetime(when, usegmt=True).encode())]
    return [(b"retry-after", str(seconds).encode())]


def _pick_fault(rng_value: float, faults: FaultConfig) -> str | None:
    edge = 0.0
    for kind, rate in (
        ("reset", faults.reset_rate),
        ("error", faults.error_rate),
        ("html_error", faults.html_error_rate),
        ("malformed_json", faults.malformed_json_rate),
        ("truncated_json", faults.truncated_json_rate),
    ):
        edge += rate
        if rng_value < edge:
            return kind
    return None


class SandboxMiddleware:
    """Adds ``X-Request-ID``, counts requests/responses/writes and injects the configured faults."""

    def __init__(self, app: ASGIApp, state: SandboxState, routes: Callable[[], list[BaseRoute]]) -> None:
        self.app = app
        self.state = state
        self.routes = routes

    def _template(self, scope: Scope) -> str:
        partial = None
        for route in self.routes():
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return str(getattr(route, "path", scope["path"]))
            if match == Match.PARTIAL and partial is None:
                partial = str(getattr(route, "path", scope["path"]))
        return partial or "UNMATCHED"

    def _faults_apply(self, path: str, faults: FaultConfig) -> bool:
        if path.startswith(ADMIN_PREFIX) or not faults.active:
            return False
        if faults.fault_routes is None:
            return path.startswith("/api")
        return any(path.startswith(prefix) for prefix in faults.fault_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.state
        path: str = scope["path"]
        method: str = scope["method"]
        request_id = state.next_request_id()
        admin = path.startswith(ADMIN_PREFIX)
        key = f"{method} {self._template(scope)}"
        counters = state.counters
        if not admin:
            counters.requests[key] += 1
        status_box = [0]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_box[0] = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
                if not admin:
                    state.counters.responses[str(status_box[0])] += 1
            await send(message)

        async def apply(target_send: Send) -> None:
            await self.app(scope, receive, target_send)
            if (
                not admin
                and method in WRITE_METHODS
                and key not in READ_ONLY_POSTS
                and 200 <= status_box[0] < 400
            ):
                state.counters.writes[key] += 1

        faults = state.config.faults
        if not self._faults_apply(path, faults):
            await apply(send_with_id)
            return
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000.0)
        wait = state.take_rate_token()
        if wait > 0:
            counters.faults["rate_limit"] += 1
            body = {"detail": {"error": "RATE_LIMITED", "message": "Too many requests; slow down"}}
            extra = retry_after_header(state.config.retry_after, wait)
            await self._send(send_with_id, 429, json.dumps(body).encode(), b"application/json", extra)
            return
        request = f"{method} {path}?{scope.get('query_string', b'').decode('latin-1')}"
        dice, may_fail = state.fault_draw(request)
        kind = _pick_fault(dice.random(), faults) if may_fail else None
        state.record_fault(request, kind is not None)
        if kind is None:
            await apply(send_with_id)
            return
        counters.faults[kind] += 1
        if kind == "reset":
            if faults.reset_phase == "after":

                async def swallow(message: Message) -> None:
                    if message["type"] == "http.response.start":
                        status_box[0] = int(message["status"])

                await apply(swallow)
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", b"4096"),
                (b"x-request-id", request_id.encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"items": [', "more_body": True})
            raise SandboxConnectionReset(f"injected connection reset ({faults.reset_phase})")
        if kind == "error":
            status = faults.error_codes[dice.randrange(len(faults.error_codes))]
            body = {"detail": {"error": "SANDBOX_INJECTED_ERROR", "message": f"Injected HTTP {status}"}}
            extra = retry_after_header(state.config.retry_after, 1.0) if status in (429, 503) else []
            await self._send(send_with_id, status, json.dumps(body).encode(), b"application/json", extra)
        elif kind == "html_error":
            await self._send(send_with_id, 502, _HTML_502, b"text/html; charset=utf-8")
        elif kind == "malformed_json":
            await self._send(send_with_id, 200, _MALFORMED, b"application/json")
        else:
            await self._send(send_with_id, 200, _TRUNCATED, b"application/json")

    @staticmethod
    async def _send(
        send: Send,
        status: int,
        body: bytes,
        content_type: bytes,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        headers: list[Any] = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            *(extra or []),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
