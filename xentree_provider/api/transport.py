"""The sync driver of the request flow: one pooled ``requests.Session`` performs the flow's steps.

No Airflow here: the hook builds a :class:`Transport` from its connection and calls :meth:`Transport.call`
with a route from :mod:`xentree_provider.api.routes`. Auth, retries and decoding are decided by
:mod:`xentree_provider.api.flow`; this module only sends, sleeps and asks the token manager.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import requests
import urllib3.exceptions

from xentree_provider.api.deadline import Deadline, DeadlineAdapter
from xentree_provider.api.driver import POOL_SIZE, DriverCore, ListOptions
from xentree_provider.api.errors import Failure, tls_error, transport_error
from xentree_provider.api.flow import (
    Reply,
    RequestOptions,
    RequestStep,
    Send,
    Sleep,
    check_route_auth,
    deleted_on_an_earlier_try,
)
from xentree_provider.api.pagination import iter_records
from xentree_provider.api.routes import ROUTES, Route, adhoc_route
from xentree_provider.api.steps import run_flow
from xentree_provider.api.tokens import SecretSink, TokenManager

if TYPE_CHECKING:
    from typing import Unpack  # Python 3.11+; annotations only, so 3.10 runs this module too

__all__ = ["POOL_SIZE", "Transport", "adhoc_route", "check_route_auth", "deleted_on_an_earlier_try"]


#: Bytes read from the socket at a time (the deadline and the size cap are checked as they arrive).
CHUNK_BYTES = 64 * 1024


def _failure(error: requests.RequestException) -> tuple[Failure, str]:
    """The kind of failure, and the name of the error that says most about it."""
    if isinstance(error, requests.ConnectTimeout):
        return Failure.CONNECT_TIMEOUT, type(error).__name__
    if isinstance(error, requests.ReadTimeout):
        return Failure.READ_TIMEOUT, type(error).__name__
    reason = error.args[0] if error.args else error
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError):  # raised while streaming the body
        return Failure.READ_TIMEOUT, type(reason).__name__
    if isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.NameResolutionError)):
        return Failure.UNREACHABLE, type(reason).__name__
    return Failure.DROPPED, type(error).__name__


class Transport(DriverCore[TokenManager]):
    """Sends requests for one set of credentials, on one pooled ``requests.Session``; thread-safe.

    :param settings: validated client settings.
    :param user_agent: the ``User-Agent`` header value.
    :param on_secret: called with every secret received (tokens), to mask it in logs.
    :param logger: where retries are logged (WARNING).
    """

    session: requests.Session

    def _open(self, user_agent: str) -> None:
        self.session = requests.Session()
        adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=POOL_SIZE)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
        self.session.verify = self.settings.verify

    def _token_manager(self, on_secret: SecretSink | None) -> TokenManager:
        login, refresh = self._renewal_calls(run_flow, self._perform)
        lead = self.settings.token_refresh_lead
        return TokenManager(login, refresh, refresh_lead=lead, on_secret=on_secret)

    def call(self, route: Route, **options: Unpack[RequestOptions]) -> Any:
        """Send one request for ``route`` with retries; return the decoded JSON body (None if empty)."""
        return run_flow(self.flows.request(route, **options), self._perform)

    def iter_list(self, route: Route, **options: Unpack[ListOptions]) -> Iterator[Any]:
        """Yield every record of a paged list route, one page in memory at a time."""
        return iter_records(*self._paging(self.call, route, options))

    def _perform(self, step: RequestStep) -> Any:
        if isinstance(step, Send):
            return self._send(step)
        if isinstance(step, Sleep):
            return time.sleep(step.seconds)
        assert self.tokens is not None, "the flow asks for a token only in login mode"
        return self.tokens.access_token(replacing=step.stale)

    def _send(self, send: Send) -> Reply:
        with Deadline(self.settings.deadline) as deadline:
            try:
                reply = self._exchange(send)
            except requests.exceptions.SSLError as error:
                if not deadline.expired and not deadline.request_sent:
                    raise tls_error(self.settings.base_url, str(error)) from None
                if not deadline.expired:
                    # The TLS stream broke while the answer was read: the server may have acted on it.
                    cause = type(error).__name__
                    raise transport_error(
                        Failure.DROPPED, method=send.method, path=send.path, cause=cause
                    ) from None
            except requests.RequestException as error:
                failure, cause = _failure(error)
                if not deadline.expired:
                    raise transport_error(failure, method=send.method, path=send.path, cause=cause) from None
            else:
                # A whole reply read just as the clock ran out is still a reply (for a write, a known
                # success); only one the deadline actually cut off is not.
                if not deadline.cut_off:
                    return reply
        # Cut off at the deadline: whatever the exchange gave after that is incomplete.
        cause = f"{deadline.seconds:g} s"
        raise transport_error(
            Failure.DEADLINE,
            method=send.method,
            path=send.path,
            cause=cause,
            request_sent=deadline.request_sent,
        )

    def _exchange(self, send: Send) -> Reply:
        response = self.session.request(
            send.method,
            self.settings.base_url + send.path,
            params=send.params,
            json=send.json,
            data=send.data,
            headers=send.headers,
            timeout=self.settings.timeout,
            # Per request: requests would otherwise let REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override it.
            verify=self.settings.verify,
            allow_redirects=False,
            stream=True,
        )
        with response:
            body = self._collector(send, response.status_code, response.headers)
            for chunk in response.iter_content(CHUNK_BYTES):
                body.add(chunk)
            return Reply(response.status_code, response.headers, body.body())

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
