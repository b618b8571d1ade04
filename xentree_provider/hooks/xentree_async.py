"""XentreeAsyncHook: the async twin of XentreeHook, for triggers running in the triggerer's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any, cast

from airflow.sdk import BaseHook

from xentree_provider.api.async_transport import AsyncTransport
from xentree_provider.api.pagination import DEFAULT_PAGE_SIZE
from xentree_provider.api.records import MemberProgress, Transcript, XELDashboard, XELModule
from xentree_provider.api.routes import ROUTES
from xentree_provider.api.shapes import check_response
from xentree_provider.api.timestamps import day_param
from xentree_provider.hooks._airflow import amask_secret_soon, settings_from_connection, user_agent
from xentree_provider.hooks._async_pool import acquire_transport, release_transport

__all__ = ["HOOK_OVERRIDES", "XentreeAsyncHook"]

#: The keyword overrides both hooks accept (they win over the connection's extras).
HOOK_OVERRIDES = frozenset(
    {
        "timeout",
        "max_retries",
        "retry_max_wait",
        "token_refresh_lead",
        "verify",
        "organization_id",
        "retry_budget_seconds",
        "request_deadline",
        "max_response_bytes",
        "max_requests_per_second",
    }
)


class XentreeAsyncHook(BaseHook):
    """Async client for one Xentree connection: same settings, auth, retry policy and errors as the
    sync :class:`~xentree_provider.hooks.xentree.XentreeHook`.

    The connection is fetched asynchronously on first use. By default every hook of the same connection
    (and overrides) in one event loop shares one pooled ``httpx.AsyncClient`` and one bearer token, so
    hundreds of triggers in the triggerer make one login and hold a bounded pool of connections. Call
    :meth:`aclose` when done; the shared client closes when its last user is done.

    :param xentree_conn_id: the Airflow connection id (connection type ``xentree``).
    :param shared: share the client with other hooks of the same connection in this event loop.
    :param hook_overrides: the same keyword overrides ``XentreeHook`` accepts (timeout, max_retries, ...).
    """

    conn_name_attr = "xentree_conn_id"
    default_conn_name = "xentree_default"
    conn_type = "xentree"
    hook_name = "Xentree (async)"

    def __init__(
        self, xentree_conn_id: str = default_conn_name, *, shared: bool = True, **hook_overrides: Any
    ) -> None:
        unknown = sorted(set(hook_overrides) - HOOK_OVERRIDES)
        if unknown:
            raise TypeError(
                f"XentreeAsyncHook got unknown argument(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(HOOK_OVERRIDES))}"
            )
        super().__init__()
        self.xentree_conn_id = xentree_conn_id
        self.shared = shared
        self._overrides = hook_overrides
        self._transport: AsyncTransport | None = None
        self._transport_lock: asyncio.Lock | None = None

    async def _build_transport(self) -> AsyncTransport:
        conn = await self.aget_connection(self.xentree_conn_id)
        settings = settings_from_connection(conn, self._overrides, amask_secret_soon)
        return AsyncTransport(settings, user_agent=user_agent(), on_secret=amask_secret_soon, logger=self.log)

    @property
    def _pool_key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.xentree_conn_id, tuple(sorted((k, repr(v)) for k, v in self._overrides.items()))

    async def transport(self) -> AsyncTransport:
        """The async transport, built on first use from the connection (fetched asynchronously)."""
        if self._transport is not None:
            return self._transport
        if self._transport_lock is None:
            self._transport_lock = asyncio.Lock()
        async with self._transport_lock:  # concurrent first callers get one transport, not one each
            if self._transport is None:
                if self.shared:
                    self._transport = await acquire_transport(self._pool_key, self._build_transport)
                else:
                    self._transport = await self._build_transport()
        return self._transport

    async def aclose(self) -> None:
        """Release the client (a shared one closes when its last user releases it)."""
        transport, self._transport = self._transport, None
        if transport is None:
            return
        if self.shared:
            await release_transport(self._pool_key, transport)
        else:
            await transport.aclose()

    async def call(self, route_name: str, **kwargs: Any) -> Any:
        """Call the route named ``route_name`` (see :mod:`xentree_provider.api.routes`); its answer is
        checked against the route's shape (:mod:`xentree_provider.api.shapes`)."""
        route = ROUTES[route_name]
        payload = await (await self.transport()).call(route, **kwargs)
        return check_response(route, payload, path=route.format_path(**(kwargs.get("path_params") or {})))

    async def iter_list(
        self, route_name: str, *, page_size: int = DEFAULT_PAGE_SIZE, **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Yield every record of the list route named ``route_name``, page by page (each page's records
        checked against the route's shape)."""
        transport = await self.transport()
        async for record in transport.iter_list(ROUTES[route_name], page_size=page_size, **kwargs):
            yield record

    def iter_transcripts(self, *, page_size: int = DEFAULT_PAGE_SIZE) -> AsyncIterator[Transcript]:
        """Every transcript, newest first, without turns."""
        return self.iter_list("list_transcripts", page_size=page_size)

    async def get_dashboard(self) -> XELDashboard:
        """The caller's XEL dashboard."""
        return cast(XELDashboard, await self.call("get_xel_dashboard"))

    async def get_module(self, module_id: str) -> XELModule:
        """One XEL module with the caller's progress."""
        return cast(XELModule, await self.call("get_xel_module", path_params={"module_id": module_id}))

    async def iter_member_progress(
        self,
        org_id: str | None = None,
        *,
        start_date: date | str | None = None,
        end_date: date | str | None = None,
        team_id: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[MemberProgress]:
        """The organization's progress directory (UTC days, both ends inclusive)."""
        transport = await self.transport()
        params: Mapping[str, Any] = {
            "org_id": transport.settings.organization(org_id, self.xentree_conn_id),
            "start_date": day_param(start_date),
            "end_date": day_param(end_date),
            "team_id": team_id,
        }
        async for record in self.iter_list("list_member_progress", page_size=page_size, params=params):
            yield record
