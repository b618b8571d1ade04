"""The one auth + retry flow of every request, written once and free of I/O (as httpx's ``Auth.auth_flow``).

:meth:`RequestFlows.request` returns a generator that yields what must happen next and is sent the result:

* :class:`Send` - send this request; the driver sends back a :class:`Reply`, or throws in the
  :class:`~xentree_provider.api.errors.XentreeConnectionError` (or TLS config error) it failed with;
* :class:`Sleep` - wait this long before the next try;
* :class:`NeedToken` - a usable bearer token is needed (replacing ``stale``, which got a 401).

The flow adds credentials, decodes every reply (:func:`~xentree_provider.api.responses.decode_response`),
renews a refused token once, and retries under the connection's
:class:`~xentree_provider.api.retry.RetryPolicy`. The sync :class:`~xentree_provider.api.transport.Transport`
and the async :class:`~xentree_provider.api.async_transport.AsyncTransport` only perform the steps.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from xentree_provider.api.errors import (
    XentreeAuthError,
    XentreeConfigError,
    XentreeError,
    XentreeMaybeAppliedError,
    XentreeNotFoundError,
)
from xentree_provider.api.logs import LoggerLike
from xentree_provider.api.responses import decode_response
from xentree_provider.api.retry import may_have_applied
from xentree_provider.api.routes import ROUTES, Auth, Route
from xentree_provider.api.settings import ClientSettings
from xentree_provider.api.steps import Flow
from xentree_provider.api.throttle import Throttle
from xentree_provider.api.timestamps import parse_http_date
from xentree_provider.api.tokens import TokenReply

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11+; annotations only, so 3.10 runs this module too

__all__ = [
    "NeedToken",
    "Reply",
    "RequestFlows",
    "RequestOptions",
    "RequestStep",
    "Send",
    "Sleep",
    "check_route_auth",
    "deleted_on_an_earlier_try",
]


class RequestOptions(TypedDict, total=False):
    """What a call may add to its route: path values, query, JSON or form body, an explicit bearer."""

    path_params: Mapping[str, Any] | None
    params: Mapping[str, Any] | None
    json: Any
    data: Mapping[str, Any] | None
    #: Send this bearer token instead of the connection's credentials (the token refresh).
    bearer: str | None


@dataclass(frozen=True)
class Send:
    """Send this request once (``path`` is relative to the base URL, without the query string)."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    data: Mapping[str, Any] | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` before the next try."""

    seconds: float


@dataclass(frozen=True)
class NeedToken:
    """A usable bearer token is needed; ``stale`` was just refused with a 401 and must not come back."""

    stale: str | None = field(default=None, repr=False)


RequestStep = Send | Sleep | NeedToken


@dataclass(frozen=True)
class Reply:
    """What the server answered: status, headers (looked up case-insensitively) and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class _NoToken(Exception):
    """No token could be had for a request (the login or refresh failed): ``error`` says why."""

    def __init__(self, error: XentreeError) -> None:
        super().__init__(str(error))
        self.error = error


def deleted_on_an_earlier_try(route: Route, attempt_number: int) -> bool:
    """A 404 answering a retried DELETE: the first try removed it and only its answer was lost."""
    return route.method == "DELETE" and attempt_number > 1


def explain_organization_not_found(flow: Flow[RequestStep, Any], org_id: str) -> Flow[RequestStep, Any]:
    """``flow`` of an API-key call about organization ``org_id``, its 404 saying the key may not cover it."""
    try:
        return (yield from flow)
    except XentreeNotFoundError as error:
        raise XentreeNotFoundError(
            f"{error.message}. With an API key this often means the key does not cover organization "
            f"{org_id!r} (a key belongs to one organization): use an API key of that organization, or a "
            "login connection of one of its admins",
            status=error.status,
            code=error.code,
            request_id=error.request_id,
            method=error.method,
            path=error.path,
            retry_after=error.retry_after,
        ) from error


def check_route_auth(route: Route, settings: ClientSettings) -> None:
    """Refuse early, with a clear message, a bearer-only route on an API-key connection."""
    if route.auth is Auth.BEARER and settings.api_key:
        raise XentreeConfigError(
            f"{route.method} {route.path} accepts only a user login (bearer token), not an API key; "
            "use a connection with login and password for this call"
        )


class RequestFlows:
    """Builds the flow of each request for one set of settings.

    :param settings: validated client settings (credentials, retry policy).
    :param log: where retries (WARNING) and exchanges (DEBUG) are logged.
    :param clock: a monotonic clock, for the timings in the log.
    """

    def __init__(
        self, settings: ClientSettings, log: LoggerLike, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.log = log
        self.clock = clock
        #: The rate limit shared by every request of these flows (every thread of one hook).
        self.throttle = Throttle(settings.max_requests_per_second, clock=clock)

    def request(self, route: Route, **options: Unpack[RequestOptions]) -> Flow[RequestStep, Any]:
        """The flow of one call of ``route``; it returns the decoded JSON body (None if empty)."""
        send = self._prepare(route, options)
        flow = self._with_retries(route, send, options.get("bearer"), False)
        org_id = (options.get("path_params") or {}).get("org_id") or (send.params or {}).get("org_id")
        if org_id and self.settings.api_key:
            return explain_organization_not_found(flow, str(org_id))
        return flow

    def login(self) -> Flow[RequestStep, Any]:
        """The login flow with the connection's login and password.

        Returns a :class:`~xentree_provider.api.tokens.TokenReply`.
        """
        data = {"username": self.settings.login or "", "password": self.settings.password or ""}
        route = ROUTES["login"]
        try:
            return (yield from self._with_retries(route, self._prepare(route, {"data": data}), None, True))
        except XentreeAuthError as error:
            raise XentreeAuthError(
                "login was rejected: check the connection's login (the account e-mail) and password",
                status=error.status,
                code=error.code,
                request_id=error.request_id,
                method=error.method,
                path=error.path,
            ) from None

    def refresh(self, refresh_token: str) -> Flow[RequestStep, Any]:
        """The token refresh flow; returns a :class:`~xentree_provider.api.tokens.TokenReply`."""
        route = ROUTES["refresh"]
        return self._with_retries(route, self._prepare(route, {}), refresh_token, True)

    def _prepare(self, route: Route, options: RequestOptions) -> Send:
        check_route_auth(route, self.settings)
        path = route.format_path(**(options.get("path_params") or {}))
        query = {k: v for k, v in (options.get("params") or {}).items() if v is not None}
        return Send(
            route.method, path, params=query or None, json=options.get("json"), data=options.get("data")
        )

    def _with_retries(
        self, route: Route, send: Send, bearer: str | None, token_reply: bool
    ) -> Flow[RequestStep, Any]:
        policy = self.settings.retry
        started = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return (yield from self._authorised(route, send, bearer, token_reply))
            except _NoToken as failed:
                # The login or refresh behind it made its own retries, and this request never left.
                raise failed.error from None
            except XentreeNotFoundError:
                if deleted_on_an_earlier_try(route, attempt):
                    return None
                raise
            except XentreeError as error:
                decision = policy.decide(
                    error, attempt, safe_to_retry=route.safe_to_retry, elapsed=self.clock() - started
                )
                if decision is None and not route.safe_to_retry and may_have_applied(error):
                    raise XentreeMaybeAppliedError.after(error, send.method, send.path) from error
                if decision is None:
                    raise
                self.log.warning(
                    "Retrying %s %s after %s (try %d of %d failed; waiting %.2f s): %s",
                    send.method,
                    send.path,
                    decision.reason,
                    attempt,
                    policy.max_attempts,
                    decision.wait,
                    error,
                )
            yield Sleep(decision.wait)

    def _authorised(
        self, route: Route, send: Send, bearer: str | None, token_reply: bool
    ) -> Flow[RequestStep, Any]:
        headers: dict[str, str] = {}
        token: str | None = None
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        elif route.auth is not Auth.NONE and self.settings.api_key:
            headers["X-API-Key"] = self.settings.api_key
        elif route.auth is not Auth.NONE:
            token = yield from self._token(NeedToken())
            headers["Authorization"] = f"Bearer {token}"
        try:
            return (yield from self._exchange(route, dataclasses.replace(send, headers=headers), token_reply))
        except XentreeAuthError:
            if token is None:
                raise
            # The token was refused before its known expiry (revoked, clock skew): renew it once.
            renewed = {**headers, "Authorization": f"Bearer {(yield from self._token(NeedToken(token)))}"}
            return (yield from self._exchange(route, dataclasses.replace(send, headers=renewed), token_reply))

    @staticmethod
    def _token(step: NeedToken) -> Flow[RequestStep, str]:
        try:
            token: str = yield step
        except XentreeError as error:
            raise _NoToken(error) from None
        return token

    def _exchange(self, route: Route, send: Send, token_reply: bool) -> Flow[RequestStep, Any]:
        ticket = self.throttle.reserve()
        if ticket.wait > 0:
            yield Sleep(ticket.wait)
        started = self.clock()
        reply: Reply = yield send
        if reply.status == 429:
            self.throttle.throttled(ticket)
        else:
            self.throttle.accepted(ticket)
        self.log.debug(
            "%s %s -> %s in %.0f ms (request id %s)",
            send.method,
            send.path,
            reply.status,
            (self.clock() - started) * 1000,
            reply.headers.get("x-request-id"),
        )
        decoded = decode_response(
            reply.status,
            reply.headers,
            reply.body,
            method=send.method,
            path=send.path,
            withhold_body=route.secret_body,
        )
        if token_reply:
            return TokenReply(decoded, server_time=parse_http_date(reply.headers.get("date")))
        return decoded
