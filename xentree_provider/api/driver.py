"""What the sync and the async driver share: settings, the request flows, token renewal calls, paging.

A driver (:class:`~xentree_provider.api.transport.Transport`, :class:`~xentree_provider.api.async_transport.
AsyncTransport`) adds only its HTTP client and the way it performs a flow's steps (plain calls or awaits).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypedDict, TypeVar

from xentree_provider.api.flow import RequestFlows, RequestStep, Send
from xentree_provider.api.logs import LoggerLike
from xentree_provider.api.pagination import DEFAULT_PAGE_SIZE, PageReader
from xentree_provider.api.responses import BodyCollector
from xentree_provider.api.routes import Route
from xentree_provider.api.settings import ClientSettings
from xentree_provider.api.steps import Flow
from xentree_provider.api.tokens import SecretSink

__all__ = ["POOL_SIZE", "DriverCore", "ListOptions"]

log = logging.getLogger("xentree_provider.api.transport")

#: Connections kept open per client (one pool shared by every thread or trigger of a hook).
POOL_SIZE = 32

R = TypeVar("R")
TokensT = TypeVar("TokensT")
Runner = Callable[[Flow[RequestStep, Any], Callable[[RequestStep], Any]], R]


class ListOptions(TypedDict, total=False):
    """What a list call may add to its route: path values, filters, and the page size."""

    path_params: Mapping[str, Any] | None
    params: Mapping[str, Any] | None
    page_size: int


class DriverCore(Generic[TokensT]):
    """The I/O-free half of a driver; a subclass opens its HTTP client and builds its token manager.

    :param settings: validated client settings.
    :param user_agent: the ``User-Agent`` header value.
    :param on_secret: called with every secret received (tokens), to mask it in logs.
    :param logger: where retries are logged (WARNING); the module's logger by default.
    """

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
        self.flows = RequestFlows(settings, self.log)
        self._open(user_agent)
        #: The bearer token holder (None in API-key mode).
        self.tokens: TokensT | None = None if settings.api_key else self._token_manager(on_secret)

    def _open(self, user_agent: str) -> None:
        """Open the pooled HTTP client."""
        raise NotImplementedError

    def _token_manager(self, on_secret: SecretSink | None) -> TokensT:
        """Build the token manager, renewing through :meth:`_renewal_calls`."""
        raise NotImplementedError

    def _collector(self, send: Send, status: int, headers: Mapping[str, str]) -> BodyCollector:
        """Where a driver gathers the body of the answer to ``send``, within ``max_response_bytes``."""
        limit = self.settings.max_response_bytes
        return BodyCollector(limit, status=status, headers=headers, method=send.method, path=send.path)

    def _renewal_calls(
        self, run: Runner[R], perform: Callable[[RequestStep], Any]
    ) -> tuple[Callable[[], R], Callable[[str], R]]:
        """The login and refresh calls a token manager makes, run by ``run`` through ``perform``."""
        return (
            lambda: run(self.flows.login(), perform),
            lambda refresh_token: run(self.flows.refresh(refresh_token), perform),
        )

    @staticmethod
    def _paging(
        call: Callable[..., R], route: Route, options: ListOptions
    ) -> tuple[Callable[[Any], R], PageReader]:
        """The page fetcher and reader of a list call, for ``iter_records`` or ``aiter_records``."""
        page_size = options.get("page_size", DEFAULT_PAGE_SIZE)
        path_params = options.get("path_params")
        reader = PageReader.for_route(
            route, path_params=path_params, params=options.get("params"), page_size=page_size
        )
        return (lambda query: call(route, path_params=path_params, params=query)), reader
