"""The async driver of the request flow, on ``httpx.AsyncClient``.

The same flow as the sync :mod:`xentree_provider.api.transport` (routes, settings, retry policy, token
decisions, response decoding: :mod:`xentree_provider.api.flow`), its steps awaited; used by triggers,
where many of them share one event loop in the triggerer.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from xentree_provider.api.driver import POOL_SIZE, DriverCore, ListOptions
from xentree_provider.api.errors import Failure, tls_error, transport_error
from xentree_provider.api.flow import Reply, RequestOptions, RequestStep, Send, Sleep
from xentree_provider.api.pagination import aiter_records
from xentree_provider.api.routes import Route
from xentree_provider.api.steps import arun_flow
from xentree_provider.api.tokens import AsyncTokenManager, SecretSink

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11+; annotations only, so 3.10 runs this module too

__all__ = ["AsyncTransport"]


def _is_tls_failure(error: BaseException) -> bool:
    """True when the error (or what caused it) is an ``ssl.SSLError``."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _failure(error: httpx.HTTPError) -> Failure:
    if isinstance(error, httpx.ConnectTimeout):
        return Failure.CONNECT_TIMEOUT
    if isinstance(error, httpx.TimeoutException):
        return Failure.READ_TIMEOUT
    return Failure.UNREACHABLE if isinstance(error, httpx.ConnectError) else Failure.DROPPED


class AsyncTransport(DriverCore[AsyncTokenManager]):
    """Sends requests asynchronously for one set of credentials, on one pooled ``httpx.AsyncClient``.

    Takes the same arguments as :class:`~xentree_provider.api.transport.Transport`.
    """

    client: httpx.AsyncClient

    def _open(self, user_agent: str) -> None:
        connect, read = self.settings.timeout
        self.client = httpx.AsyncClient(
            base_url=self.settings.base_url,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            timeout=httpx.Timeout(read, connect=connect),
            verify=self.settings.verify,
            limits=httpx.Limits(max_connections=POOL_SIZE, max_keepalive_connections=POOL_SIZE),
            follow_redirects=False,
        )

    def _token_manager(self, on_secret: SecretSink | None) -> AsyncTokenManager:
        login, refresh = self._renewal_calls(arun_flow, self._perform)
        lead = self.settings.token_refresh_lead
        return AsyncTokenManager(login, refresh, refresh_lead=lead, on_secret=on_secret)

    async def call(self, route: Route, **options: Unpack[RequestOptions]) -> Any:
        """Send one request for ``route`` with retries; return the decoded JSON body (None if empty)."""
        return await arun_flow(self.flows.request(route, **options), self._perform)

    def iter_list(self, route: Route, **options: Unpack[ListOptions]) -> AsyncIterator[Any]:
        """Yield every record of a paged list route, one page in memory at a time."""
        return aiter_records(*self._paging(self.call, route, options))

    async def _perform(self, step: RequestStep) -> Any:
        if isinstance(step, Send):
            return await self._send(step)
        if isinstance(step, Sleep):
            return await asyncio.sleep(step.seconds)
        assert self.tokens is not None, "the flow asks for a token only in login mode"
        return await self.tokens.access_token(replacing=step.stale)

    async def _send(self, send: Send) -> Reply:
        deadline = self.settings.deadline
        try:
            return await asyncio.wait_for(self._exchange(send), deadline)
        except asyncio.TimeoutError:
            failure, cause = Failure.DEADLINE, f"{deadline:g} s"
        except httpx.HTTPError as error:
            if isinstance(error, httpx.ConnectError) and _is_tls_failure(error):
                raise tls_error(self.settings.base_url, str(error)) from None
            failure, cause = _failure(error), type(error).__name__
        raise transport_error(failure, method=send.method, path=send.path, cause=cause)

    async def _exchange(self, send: Send) -> Reply:
        request = self.client.build_request(
            send.method,
            send.path,
            params=dict(send.params or {}) or None,
            json=send.json,
            data=send.data,
            headers=send.headers,
        )
        response = await self.client.send(request, stream=True)
        try:
            body = self._collector(send, response.status_code, response.headers)
            async for chunk in response.aiter_bytes():
                body.add(chunk)
            return Reply(response.status_code, response.headers, body.body())
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self.client.aclose()
