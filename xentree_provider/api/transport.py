"""The sync HTTP transport: one pooled ``requests.Session``, auth, retries and decoding.

No Airflow here: the hook builds a :class:`Transport` from its connection and calls :meth:`Transport.call`
with a route from :mod:`xentree_provider.api.routes`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
from typing import Any

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from xentree_provider.api.errors import (
    XentreeAuthError,
    XentreeConfigError,
    XentreeConnectionError,
    XentreeNotFoundError,
    XentreeTimeoutError,
    tls_error,
)
from xentree_provider.api.logs import LoggerLike
from xentree_provider.api.pagination import DEFAULT_PAGE_SIZE, PageReader, iter_records
from xentree_provider.api.responses import decode_response
from xentree_provider.api.routes import ROUTES, Auth, Route
from xentree_provider.api.settings import ClientSettings
from xentree_provider.api.tokens import SecretSink, TokenManager

__all__ = ["Transport", "adhoc_route", "check_route_auth", "deleted_on_an_earlier_try"]

log = logging.getLogger(__name__)

POOL_SIZE = 32


def adhoc_route(method: str, path: str) -> Route:
    """A route for a path outside the table (the generic ``request``); retried only if safe by method."""
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    return Route(
        name=f"{method.upper()} {path}",
        method=method.upper(),
        path=path.replace("{", "{{").replace("}", "}}"),
    )


def deleted_on_an_earlier_try(route: Route, attempt_number: int) -> bool:
    """A 404 answering a retried DELETE: the first try removed it and only its answer was lost."""
    return route.method == "DELETE" and attempt_number > 1


def check_route_auth(route: Route, settings: ClientSettings) -> None:
    """Refuse early, with a clear message, a bearer-only route on an API-key connection."""
    if route.auth is Auth.BEARER and settings.api_key:
        raise XentreeConfigError(
            f"{route.method} {route.path} accepts only a user login (bearer token), not an API key; "
            "use a connection with login and password for this call"
        )


def _connection_error(error: requests.RequestException, method: str, path: str) -> XentreeConnectionError:
    """Map a requests exception, telling apart requests that never left from those that may have."""
    where: dict[str, Any] = {"method": method, "path": path}
    if isinstance(error, requests.ConnectTimeout):
        return XentreeTimeoutError("timed out connecting to the Xentree API", request_sent=False, **where)
    if isinstance(error, requests.ReadTimeout):
        return XentreeTimeoutError("timed out waiting for the Xentree API to answer", **where)
    reason = error.args[0] if error.args else error
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    if isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.NameResolutionError)):
        return XentreeConnectionError(
            f"could not connect to the Xentree API ({type(reason).__name__}); check the connection host "
            "and that the service is reachable",
            request_sent=False,
            **where,
        )
    return XentreeConnectionError(
        f"the connection to the Xentree API dropped before a full response arrived ({type(error).__name__})",
        **where,
    )


class Transport:
    """Sends requests for one set of credentials; safe to share between threads.

    :param settings: validated client settings.
    :param user_agent: the ``User-Agent`` header value.
    :param on_secret: called with every secret received (tokens), to mask it in logs.
    :param logger: where retries are logged (WARNING).
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
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
        self.session.verify = settings.verify
        self.tokens: TokenManager | None = None
        if not settings.api_key:
            self.tokens = TokenManager(
                self._login,
                self._refresh,
                refresh_lead=settings.token_refresh_lead,
                on_secret=on_secret,
            )

    # -- auth ---------------------------------------------------------------------------------------

    def _login(self) -> Any:
        data = {"username": self.settings.login or "", "password": self.settings.password or ""}
        try:
            return self.call(ROUTES["login"], data=data)
        except XentreeAuthError as error:
            raise XentreeAuthError(
                "login was rejected: check the connection's login (the account e-mail) and password",
                status=error.status,
                code=error.code,
                request_id=error.request_id,
                method=error.method,
                path=error.path,
            ) from None

    def _refresh(self, refresh_token: str) -> Any:
        return self.call(ROUTES["refresh"], bearer=refresh_token)

    # -- requests -----------------------------------------------------------------------------------

    def call(
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
        for attempt in self.settings.retry.retrying(
            safe_to_retry=route.safe_to_retry, log=self.log, what=f"{route.method} {path}"
        ):
            with attempt:
                try:
                    return self._send(route, path, query, json, data, bearer)
                except XentreeNotFoundError:
                    if deleted_on_an_earlier_try(route, attempt.retry_state.attempt_number):
                        return None
                    raise
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _send(
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
                token = self.tokens.access_token()
                headers["Authorization"] = f"Bearer {token}"
        try:
            return self._exchange(route, path, query, json, data, headers)
        except XentreeAuthError:
            if token is None or self.tokens is None:
                raise
            # The token was refused before its known expiry (revoked, clock skew): renew it once.
            self.tokens.invalidate(token)
            headers["Authorization"] = f"Bearer {self.tokens.access_token()}"
            return self._exchange(route, path, query, json, data, headers)

    def _exchange(
        self,
        route: Route,
        path: str,
        query: Mapping[str, Any],
        json: Any,
        data: Mapping[str, Any] | None,
        headers: Mapping[str, str],
    ) -> Any:
        method = route.method
        url = self.settings.base_url + path
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                params=query or None,
                json=json,
                data=data,
                headers=headers,
                timeout=self.settings.timeout,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as error:
            raise tls_error(self.settings.base_url, str(error)) from None
        except requests.RequestException as error:
            raise _connection_error(error, method, path) from None
        self.log.debug(
            "%s %s -> %s in %.0f ms (request id %s)",
            method,
            path,
            response.status_code,
            (time.monotonic() - started) * 1000,
            response.headers.get("x-request-id"),
        )
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
    ) -> Iterator[Any]:
        """Yield every record of a paged list route, one page in memory at a time."""
        reader = PageReader.for_route(route, path_params=path_params, params=params, page_size=page_size)
        return iter_records(lambda query: self.call(route, path_params=path_params, params=query), reader)

    def logout(self) -> None:
        """Revoke the current bearer token (no-op in API-key mode or before login)."""
        if self.tokens is None or self.tokens.state is None:
            return
        self.call(ROUTES["logout"])
        self.tokens.forget()

    def logout_quietly(self) -> None:
        """Log out, ignoring failures (used after probes, where the token is no longer needed)."""
        with contextlib.suppress(Exception):  # best effort: the token expires on its own anyway
            self.logout()

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()
