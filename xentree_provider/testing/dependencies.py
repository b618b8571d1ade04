"""FastAPI dependencies of the sandbox routes: the sandbox state, the calling principal, list paging."""

# No "from __future__ import annotations": FastAPI reads these Annotated aliases at import time.

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from xentree_provider.testing.responses import fail
from xentree_provider.testing.schemas import ListParams
from xentree_provider.testing.seed import ApiKey, User
from xentree_provider.testing.state import AccessRecord, SandboxState

_BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def sandbox_state(request: Request) -> SandboxState:
    """Return the state of the sandbox application serving ``request``."""
    state: SandboxState = request.app.state.sandbox
    return state


CurrentState = Annotated[SandboxState, Depends(sandbox_state)]


@dataclass
class Principal:
    """Who is calling: a user, through a bearer token or an API key."""

    user: User
    api_key: ApiKey | None = None
    access: AccessRecord | None = None


class Authenticated:
    """Dependency that authenticates a bearer token, or an API key holding ``scope``.

    ``bearer_only`` refuses API keys (401 ``BEARER_TOKEN_REQUIRED``), as ``/api/auth/me`` does.
    """

    def __init__(self, scope: str | None, bearer_only: bool = False) -> None:
        self.scope = scope
        self.bearer_only = bearer_only

    async def __call__(self, request: Request, state: CurrentState) -> Principal:
        """Return the caller, or fail with the contract's 401/403 error."""
        authorization = request.headers.get("authorization", "")
        api_key = request.headers.get("x-api-key")
        if authorization:
            return self._bearer_principal(state, authorization)
        if api_key is not None:
            return self._api_key_principal(state, api_key)
        state.counters.auth_failures["missing"] += 1
        fail(
            401,
            "NOT_AUTHENTICATED",
            "Authentication required: send a bearer token or X-API-Key",
            _BEARER_CHALLENGE,
        )

    @staticmethod
    def _bearer_principal(state: SandboxState, authorization: str) -> Principal:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            state.counters.auth_failures["malformed"] += 1
            fail(401, "INVALID_TOKEN", "Malformed Authorization header", _BEARER_CHALLENGE)
        record, reason = state.tokens.check_access(token.strip())
        if record is None:
            state.counters.auth_failures["invalid_token"] += 1
            fail(401, "INVALID_TOKEN", reason, _BEARER_CHALLENGE)
        user = state.world.users.get(record.user_id)
        if user is None:
            fail(401, "INVALID_TOKEN", "Unknown user", _BEARER_CHALLENGE)
        return Principal(user, access=record)

    def _api_key_principal(self, state: SandboxState, api_key: str) -> Principal:
        if self.bearer_only:
            state.counters.auth_failures["bearer_required"] += 1
            fail(
                401,
                "BEARER_TOKEN_REQUIRED",
                "This endpoint requires a bearer token from user login; API keys are not accepted",
                _BEARER_CHALLENGE,
            )
        key = state.world.api_keys.get(api_key.strip())
        if key is None:
            state.counters.auth_failures["invalid_api_key"] += 1
            fail(401, "INVALID_API_KEY", "Invalid or revoked API key")
        if self.scope is not None and self.scope not in key.scopes:
            state.counters.auth_failures["insufficient_scope"] += 1
            fail(
                403,
                "INSUFFICIENT_API_KEY_SCOPE",
                "API key lacks required scope for this endpoint",
                required_scope=self.scope,
                granted_scopes=list(key.scopes),
            )
        return Principal(state.world.users[key.user_id], api_key=key)


async def list_params(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    page: Annotated[int | None, Query(ge=1)] = None,
) -> ListParams:
    """Read ``limit``, ``offset`` and ``page`` from the query string."""
    return ListParams(limit, offset, page)


Paging = Annotated[ListParams, Depends(list_params)]
