"""The async twin of :mod:`xentree_provider.api.transport`, on ``httpx.AsyncClient``.

Same routes, same settings, same retry policy, same token decisions and same response decoding; used
by triggers, where many of them share one event loop in the triggerer.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from xentree_provider.api.errors import (
    XentreeAuthError,
    XentreeConnectionError,
    XentreeNotFoundError,
    XentreeTimeoutError,
    tls_error,
)
from xentree_provider.api.logs import LoggerLike
from xentree_provider.api.pagination import DEFAULT_PAGE_SIZE, PageReader, aiter_records
from xentree_provider.api.responses import decode_response
from xentree_provider.api.routes import ROUTES, Auth, Route
from xentree_provider.api.settings import ClientSettings
from xentree_provider.api.tokens import AsyncTokenManager, SecretSink
from xentree_provider.api.transport import POOL_SIZE, check_route_auth, deleted_on_an_earlier_try

__all__ = ["AsyncTransport"]

log = logging.getLogger(__name__)


def _is_tls_failure(error: BaseException) -> bool:
    """True when the error (or what caused it) is an ``ssl.SSLError``."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _async_connection_error(error: httpx.HTTPError, method: str, path: str) -> XentreeConnectionError:
    where: dict[str, Any] = {"method": method, "path": path}
    if isinstance(error, httpx.ConnectTimeout):
        return XentreeTimeoutError("timed out connecting to the Xentree API", request_sent=False, **where)
    if isinstance(error, httpx.TimeoutException):
        return XentreeTimeoutError("timed out waiting for the Xentree API to answer", **where)
    if isinstance(error, httpx.ConnectError):
        return XentreeConnectionError(
            "could not connect to the Xentree API; check the connection host and that the service is "
            "reachable",
            request_sent=False,
            **where,
        )
    return XentreeConnectionError(
        f"the connection to the Xentree API dropped before a full response arrived ({type(error).__name__})",
        **where,
    )


class AsyncTransport:
    """Sends requests asynchronously for one set of credentials, on one pooled ``httpx.AsyncClient``."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        user_agent: str,
        on_secret: SecretSink | None = None,
        logger: LoggerLike | None = None,
    ) -> None:
        self.settings = settings
        self.log: LoggerLike = logger or log
        connect, read = settings.timeout
        self.client = httpx.AsyncClient(
            base_url=settings.base_url,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            timeout=httpx.Timeout(read, connect=connect),
            verify=settings.verify,
            limits=httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE),
            follow_redirects=False,
        )
        self.tokens: AsyncTokenManager | None = None
        if not settings.api_key:
            self.tokens = AsyncTokenManager(
                self._login, self._refresh, refresh_lead=settings.token_refresh_lead, on_secret=on_secret
            )

    async def _login(self) -> Any:
        data = {"username": self.settings.login or "", "password": self.settings.password or ""}
        try:
            return await self.call(ROUTES["login"], data=data)
        except XentreeAuthError as error:
            raise XentreeAuthError(
                "login was rejected: check the connection's login (the account e-mail) and password",
                status=error.status,
                code=error.code,
                request_id=error.request_id,
                method=error.method,
                path=error.path,
            ) from None

    async def _refresh(self, refresh_token: str) -> Any:
        return await self.call(ROUTES["refresh"], bearer=refresh_token)

    async def call(
        self,
        route: Route,
        *,
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        bearer: str | None = None,
    ) -> Any:
        """Send one request for ``route`` with retries; return the decoded JSON body (None if empty)."""
        check_route_auth(route, self.settings)
        path = route.format_path(**(path_params or {}))
        query = {k: v for k, v in (params or {}).items() if v is not None}
        async for attempt in self.settings.retry.async_retrying(
            safe_to_retry=route.safe_to_retry, log=self.log, what=f"{route.method} {path}"
        ):
            with attempt:
                try:
                    return await self._send(route, path, query, json, data, bearer)
                except XentreeNotFoundError:
                    if deleted_on_an_earlier_try(route, attempt.retry_state.attempt_number):
                        return None
                    raise
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _send(
        self,
        route: Route,
        path: str,
        query: Mapping[str, Any],
        json: Any,
        data: Mapping[str, Any] | None,
        bearer: str | None,
    ) -> Any:
        headers: dict[str, str] = {}
        token: str | None = None
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        elif route.auth is not Auth.NONE:
            if self.settings.api_key:
                headers["X-API-Key"] = self.settings.api_key
            else:
                assert self.tokens is not None
                token = await self.tokens.access_token()
                headers["Authorization"] = f"Bearer {token}"
        try:
            return await self._exchange(route, path, query, json, data, headers)
        except XentreeAuthError:
            if token is None or self.tokens is None:
                raise
            self.tokens.invalidate(token)
            headers["Authorization"] = f"Bearer {await self.tokens.access_token()}"
            return await self._exchange(route, path, query, json, data, headers)

    async def _exchange(
        self,
        route: Route,
        path: str,
        query: Mapping[str, Any],
        json: Any,
        data: Mapping[str, Any] | None,
        headers: Mapping[str, str],
    ) -> Any:
        method = route.method
        try:
            response = await self.client.request(
                method, path, params=dict(query) or None, json=json, data=data, headers=headers
            )
        except httpx.HTTPError as error:
            if isinstance(error, httpx.ConnectError) and _is_tls_failure(error):
                raise tls_error(self.settings.base_url, str(error)) from None
            raise _async_connection_error(error, method, path) from None
        return decode_response(
            response.status_code,
            response.headers,
            response.content,
            method=method,
            path=path,
            withhold_body=route.secret_body,
        )

    def iter_list(
        self,
        route: Route,
        *,
        path_params: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Any]:
        """Yield every record of a paged list route, one page in memory at a time."""
        reader = PageReader.for_route(route, path_params=path_params, params=params, page_size=page_size)
        return aiter_records(lambda query: self.call(route, path_params=path_params, params=query), reader)

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self.client.aclose()
