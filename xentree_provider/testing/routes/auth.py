"""``/api/auth``: register, login, refresh, logout and the caller's profile."""

# No "from __future__ import annotations": FastAPI reads the Annotated aliases at import time.

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError

from xentree_provider.testing.dependencies import Authenticated, CurrentState, Principal
from xentree_provider.testing.responses import fail, profile_view
from xentree_provider.testing.schemas import ProfileUpdate, RegisterBody
from xentree_provider.testing.state import SandboxState

router = APIRouter()
BearerCaller = Annotated[Principal, Depends(Authenticated(None, bearer_only=True))]


def token_response(state: SandboxState, user_id: str, refresh_token: str | None) -> dict[str, Any]:
    """Issue an access token and render the ``TokenResponse`` of the configured variant."""
    state.counters.tokens_issued += 1
    access = state.tokens.issue_access(user_id, refresh_token)
    if state.config.token_response == "expires_in":  # noqa: S105 - a variant name, not a secret
        lifetime = state.config.token_lifetime
        expires_in = int(lifetime) if lifetime == int(lifetime) else lifetime
        return {"access_token": access, "token_type": "bearer", "expires_in": expires_in}
    return {"access_token": access, "token_type": "bearer", "refresh_token": refresh_token}


@router.post("/api/auth/register", status_code=201)
async def register(state: CurrentState, body: RegisterBody) -> dict[str, Any]:
    """Create an account."""
    if state.world.user_by_email(body.email):
        fail(409, "EMAIL_TAKEN", "An account with this e-mail already exists")
    user = state.world.add_user(body.email, body.full_name, body.username, body.password)
    return profile_view(state, user)


@router.post("/api/auth/login")
async def login(state: CurrentState, request: Request) -> dict[str, Any]:
    """Exchange form-encoded ``username``/``password`` for tokens."""
    content_type = request.headers.get("content-type", "")
    raw_body = (await request.body()).decode("utf-8", "replace")
    form = parse_qs(raw_body, keep_blank_values=True) if "form-urlencoded" in content_type else {}
    missing = [name for name in ("username", "password") if not form.get(name)]
    if missing:
        raise RequestValidationError(
            [{"loc": ["body", name], "msg": "Field required", "type": "missing"} for name in missing]
        )
    world = state.world
    username = form["username"][0]
    user = world.user_by_email(username) or next(
        (candidate for candidate in world.users.values() if candidate.username == username), None
    )
    if user is None or user.password is None or user.password != form["password"][0]:
        state.counters.login_failures += 1
        fail(401, "INVALID_CREDENTIALS", "Incorrect username or password")
    state.counters.logins += 1
    refresh_variant = state.config.token_response == "refresh"  # noqa: S105 - a variant name
    refresh_token = state.tokens.issue_refresh(user.id) if refresh_variant else None
    return token_response(state, user.id, refresh_token)


async def _presented_refresh_token(request: Request) -> str:
    """The refresh token sent as bearer, else as ``refresh_token`` in a JSON body, else ``""``."""
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if token:
        return token
    try:
        body = await request.json()
    except ValueError:
        return ""
    return str(body.get("refresh_token") or "") if isinstance(body, dict) else ""


@router.post("/api/auth/refresh")
async def refresh(state: CurrentState, request: Request) -> dict[str, Any]:
    """Issue a new access token for a refresh token sent as bearer (rotating it when configured)."""
    token = await _presented_refresh_token(request)
    if not token:
        state.counters.refresh_rejected += 1
        fail(401, "INVALID_TOKEN", "Refresh requires 'Authorization: Bearer <refresh_token>'")
    record, reason = state.tokens.check_refresh(token)
    if record is None and state.config.token_response == "expires_in":  # noqa: S105 - variant name
        access, reason = state.tokens.check_access(token)  # this variant refreshes with the access token
        if access is not None:
            state.counters.refreshes += 1
            return token_response(state, access.user_id, None)
    if record is None:
        state.counters.refresh_rejected += 1
        fail(401, "INVALID_TOKEN", reason)
    state.counters.refreshes += 1
    new_refresh_token = token
    if state.config.rotate_refresh:
        record.revoked = True
        new_refresh_token = state.tokens.issue_refresh(record.user_id)
    return token_response(state, record.user_id, new_refresh_token)


@router.post("/api/auth/logout", status_code=204)
async def logout(state: CurrentState, caller: BearerCaller) -> Response:
    """Revoke the caller's access token and its refresh token."""
    if caller.access is not None:
        state.tokens.revoke_access(caller.access)
    return Response(status_code=204)


@router.get("/api/auth/me")
async def me(state: CurrentState, caller: BearerCaller) -> dict[str, Any]:
    """Return the caller's profile (bearer only)."""
    return profile_view(state, caller.user)


@router.patch("/api/auth/me")
async def update_me(state: CurrentState, caller: BearerCaller, body: ProfileUpdate) -> dict[str, Any]:
    """Update the caller's profile (bearer only)."""
    for name, value in body.model_dump(exclude_none=True).items():
        setattr(caller.user, name, value)
    return profile_view(state, caller.user)
