"""Bearer-token state: expiry from the JWT, refresh ahead of time, rotation, re-login.

The decisions are pure (:class:`TokenState`) and the renewal is one sans-IO flow (it yields
:class:`Refresh` or :class:`Login` and is sent the token response). :class:`TokenManager` (threads) and
:class:`AsyncTokenManager` (one event loop) only perform those steps, under a lock, so that an expiry
causes exactly one refresh however many callers notice it at once.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from xentree_provider.api.errors import XentreeAuthError, XentreePermissionError, XentreeResponseError
from xentree_provider.api.steps import Flow, arun_flow, run_flow

__all__ = [
    "AsyncTokenManager",
    "Login",
    "Refresh",
    "TokenAction",
    "TokenManager",
    "TokenReply",
    "TokenState",
    "TokenStep",
    "jwt_expiry",
    "parse_token_response",
]

log = logging.getLogger(__name__)

DEFAULT_REFRESH_LEAD = 60.0
SecretSink = Callable[[str], None]


def jwt_expiry(token: str) -> tuple[float | None, float | None]:
    """Return ``(exp, iat)`` from a JWT's payload, without checking its signature; None when absent."""
    parts = token.split(".")
    if len(parts) != 3:
        return None, None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return None, None
    if not isinstance(claims, Mapping):
        return None, None
    exp, iat = claims.get("exp"), claims.get("iat")
    return (
        float(exp) if isinstance(exp, (int, float)) else None,
        float(iat) if isinstance(iat, (int, float)) else None,
    )


class TokenAction(str, Enum):
    """What a caller must do before using the token."""

    USE = "use"
    REFRESH = "refresh"
    LOGIN = "login"


@dataclass(frozen=True)
class TokenState:
    """One access token with what we know of its lifetime, and the newest refresh token."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    received_at: float
    expires_at: float | None
    stale: bool = False

    @property
    def lifetime(self) -> float | None:
        """Seconds between receipt and expiry, when the expiry is known."""
        if self.expires_at is None:
            return None
        return max(self.expires_at - self.received_at, 0.0)

    def refresh_at(self, lead: float) -> float | None:
        """When to refresh: ``lead`` seconds before expiry, but never earlier than half the lifetime."""
        if self.expires_at is None:
            return None
        lifetime = self.lifetime or 0.0
        return self.expires_at - min(lead, lifetime / 2)

    def action(self, now: float, lead: float) -> TokenAction:
        """Decide whether this token can be used at ``now``, or must be refreshed or replaced."""
        due = self.refresh_at(lead)
        if not self.stale and (due is None or now < due):
            return TokenAction.USE
        return TokenAction.REFRESH if self.refresh_token else TokenAction.LOGIN


@dataclass(frozen=True)
class TokenReply:
    """A token response payload with the server's clock reading when it was sent (its ``Date``)."""

    payload: Any = field(repr=False)
    server_time: float | None = None


def _expiry(payload: Mapping[str, Any], access: str, now: float, server_time: float | None) -> float | None:
    """When the token expires on our clock, whatever the skew between our clock and the server's."""
    exp, iat = jwt_expiry(access)
    expires_in = payload.get("expires_in")
    lifetime: float | None = None
    if exp is not None and iat is not None and exp > iat:
        lifetime = exp - iat  # counted from receipt: a skewed client clock cannot make it look due
    elif exp is not None and server_time is not None:
        lifetime = exp - server_time  # exp on the server's clock, read against its Date header
    elif exp is not None and exp > now:
        lifetime = exp - now
    elif isinstance(expires_in, (int, float)) and not isinstance(expires_in, bool):
        lifetime = float(expires_in)  # from receipt; also when exp looks past on our (skewed) clock
    if lifetime is None or not math.isfinite(lifetime) or lifetime <= 0:
        return None
    return now + lifetime


def parse_token_response(
    payload: Any,
    *,
    now: float,
    previous_refresh_token: str | None = None,
    server_time: float | None = None,
) -> TokenState:
    """Build a :class:`TokenState` from a ``TokenResponse``; keep the old refresh token if none came.

    :param now: our clock when the response arrived.
    :param server_time: the server's clock then (its ``Date`` header), to read a JWT ``exp`` that has no
        ``iat`` even when our clock is off.
    """
    if not isinstance(payload, Mapping) or not isinstance(payload.get("access_token"), str):
        keys = sorted(payload) if isinstance(payload, Mapping) else type(payload).__name__
        raise XentreeResponseError(f"token response has no access_token (got {keys})")
    access = str(payload["access_token"])
    refresh = payload.get("refresh_token")
    # Both go back in an Authorization header: anything not printable ASCII could not be sent.
    for name, token in (("access_token", access), ("refresh_token", refresh)):
        if isinstance(token, str) and not (token.isascii() and token.isprintable()):
            raise XentreeResponseError(
                f"token response's {name} holds characters an HTTP header cannot carry (not printable "
                "ASCII); the server's token is unusable"
            )
    return TokenState(
        access_token=access,
        refresh_token=str(refresh) if isinstance(refresh, str) and refresh else previous_refresh_token,
        received_at=now,
        expires_at=_expiry(payload, access, now, server_time),
    )


@dataclass(frozen=True)
class Login:
    """Step of the renewal flow: log in; send back the token response payload."""


@dataclass(frozen=True)
class Refresh:
    """Step of the renewal flow: refresh with ``refresh_token``; send back the token response payload."""

    refresh_token: str = field(repr=False)


TokenStep = Login | Refresh


def _refresh_rejected(error: Exception) -> bool:
    return isinstance(error, (XentreeAuthError, XentreePermissionError))


PayloadT = TypeVar("PayloadT")
LockT = TypeVar("LockT")


class _TokenKeeper(Generic[PayloadT, LockT]):
    """The token state and the one renewal flow; the managers below add only their lock and the I/O."""

    def __init__(
        self,
        login: Callable[[], PayloadT],
        refresh: Callable[[str], PayloadT],
        *,
        refresh_lead: float = DEFAULT_REFRESH_LEAD,
        on_secret: SecretSink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if refresh_lead < 0:
            raise ValueError(f"token refresh lead must not be negative, got {refresh_lead}")
        self.refresh_lead = refresh_lead
        self._login = login
        self._refresh = refresh
        self._on_secret = on_secret
        self._clock = clock
        self._state: TokenState | None = None
        self._state_lock = threading.Lock()
        #: Held while renewing, so that an expiry causes one renewal however many callers notice it.
        self._lock: LockT = self._new_lock()
        self.logins = 0
        self.refreshes = 0

    def _new_lock(self) -> LockT:
        raise NotImplementedError

    @property
    def state(self) -> TokenState | None:
        """The current token state (None before the first login)."""
        return self._state

    def _usable(self, replacing: str | None) -> str | None:
        """The current token if it can be used now; ``replacing`` (just refused) is invalidated first."""
        if replacing is not None:
            self.invalidate(replacing)
        state = self._state
        if state is not None and state.action(self._clock(), self.refresh_lead) is TokenAction.USE:
            return state.access_token
        return None

    def _renewal(self) -> Flow[TokenStep, str]:
        """Return a usable token: the current one if another caller renewed it meanwhile, else a
        refreshed one, else (no refresh token, or the refresh was rejected) one from a new login."""
        token = self._usable(None)
        if token is not None:
            return token
        state = self._state
        if state is not None and state.refresh_token:
            try:
                payload = yield Refresh(state.refresh_token)
            except Exception as error:
                if not _refresh_rejected(error):
                    raise
                log.warning("Token refresh was rejected (%s); logging in again", error)
            else:
                self.refreshes += 1
                return self._accept(payload, state.refresh_token)
        payload = yield Login()
        self.logins += 1
        return self._accept(payload, None)

    def _perform(self, step: TokenStep) -> PayloadT:
        return self._refresh(step.refresh_token) if isinstance(step, Refresh) else self._login()

    def _accept(self, reply: Any, previous_refresh: str | None) -> str:
        """Take a token response (a :class:`TokenReply`, or the bare payload) as the current token."""
        payload, server_time = (
            (reply.payload, reply.server_time) if isinstance(reply, TokenReply) else (reply, None)
        )
        state = parse_token_response(
            payload, now=self._clock(), previous_refresh_token=previous_refresh, server_time=server_time
        )
        if self._on_secret is not None:
            self._on_secret(state.access_token)
            if state.refresh_token:
                self._on_secret(state.refresh_token)
        with self._state_lock:
            self._state = state
        return state.access_token

    def invalidate(self, used_token: str) -> None:
        """Mark ``used_token`` as no longer valid (it got a 401); a no-op if it was already replaced."""
        with self._state_lock:
            state = self._state
            if state is not None and state.access_token == used_token and not state.stale:
                self._state = dataclasses.replace(state, stale=True)

    def forget(self) -> None:
        """Drop all tokens (after logout)."""
        with self._state_lock:
            self._state = None


class TokenManager(_TokenKeeper[Any, threading.Lock]):
    """Thread-safe holder of the bearer token of one hook.

    :param login: performs the login request and returns the token response payload.
    :param refresh: performs the refresh request with the given refresh token and returns the payload.
    :param refresh_lead: seconds before expiry to refresh (capped at half the token's lifetime).
    :param on_secret: called with every new access and refresh token (to mask it in logs).
    :param clock: the wall clock (epoch seconds).
    """

    def _new_lock(self) -> threading.Lock:
        return threading.Lock()

    def access_token(self, *, replacing: str | None = None) -> str:
        """Return a usable access token, logging in or refreshing first when needed.

        :param replacing: a token that was just refused (401): it is invalidated first.
        """
        token = self._usable(replacing)
        if token is not None:
            return token
        with self._lock:
            return run_flow(self._renewal(), self._perform)


class AsyncTokenManager(_TokenKeeper[Awaitable[Any], asyncio.Lock]):
    """The asyncio face of :class:`TokenManager`, for triggers sharing one event loop."""

    def _new_lock(self) -> asyncio.Lock:
        return asyncio.Lock()  # binds to the loop that first waits on it, not to any loop now

    async def access_token(self, *, replacing: str | None = None) -> str:
        """Await a usable access token (see :meth:`TokenManager.access_token`)."""
        token = self._usable(replacing)
        if token is not None:
            return token
        async with self._lock:
            return await arun_flow(self._renewal(), self._perform)
