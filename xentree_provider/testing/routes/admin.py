"""``/__sandbox``: the sandbox's own admin API (health, credentials, counters, faults, reset, state)."""

# No "from __future__ import annotations": FastAPI reads the Annotated aliases at import time.

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from xentree_provider.testing.config import FaultConfig
from xentree_provider.testing.dependencies import CurrentState
from xentree_provider.testing.responses import fail, member_view
from xentree_provider.testing.seed import World

router = APIRouter(prefix="/__sandbox")


def world_credentials(world: World) -> dict[str, Any]:
    """Login, password, API keys (with scopes) and organization ids of ``world``."""
    return {
        "email": world.primary.email,
        "login": world.primary.email,
        "username": world.primary.username,
        "password": world.password,
        "user_id": world.primary.id,
        "api_keys": {
            key.name: {
                "key": key.key,
                "scopes": list(key.scopes),
                "organization_id": key.org_id,
                "organization_ids": list(key.organization_ids),
            }
            for key in world.api_keys.values()
        },
        "organizations": {
            org.slug: {"id": org.id, "name": org.name, "teams": {team.name: team.id for team in org.teams}}
            for org in world.orgs.values()
        },
        "org_ids": {org.slug: org.id for org in world.orgs.values()},
        "first_org_id": world.first_org.id,
    }


@router.get("/health")
async def health(state: CurrentState) -> dict[str, Any]:
    """Liveness probe."""
    return {
        "status": "ok",
        "seed": state.config.seed,
        "transcripts": len(state.world.transcripts),
        "uptime_seconds": round(time.time() - state.started_at, 3),
    }


@router.get("/credentials")
async def credentials(state: CurrentState, request: Request) -> dict[str, Any]:
    """Login, password, API keys (with scopes) and organization ids of the seeded world."""
    return {"base_url": str(request.base_url).rstrip("/"), **world_credentials(state.world)}


@router.get("/counters")
async def counters(state: CurrentState) -> dict[str, Any]:
    """Counters since start or the last reset."""
    return state.counters.to_dict()


@router.post("/counters/reset")
async def reset_counters(state: CurrentState) -> dict[str, Any]:
    """Zero the counters."""
    state.counters.reset()
    return state.counters.to_dict()


@router.get("/faults")
async def get_faults(state: CurrentState) -> dict[str, Any]:
    """The active fault configuration."""
    return state.config.faults.to_dict()


@router.put("/faults")
async def put_faults(state: CurrentState, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Replace the fault configuration (fields left out take their defaults)."""
    try:
        faults = FaultConfig.from_dict(body)
    except (ValueError, TypeError) as exc:
        fail(400, "INVALID_FAULTS", str(exc))
    state.set_faults(faults)
    return faults.to_dict()


@router.post("/revoke-tokens")
async def revoke_tokens(state: CurrentState) -> dict[str, Any]:
    """Revoke every access and refresh token."""
    return {"revoked": state.tokens.revoke_all()}


@router.get("/secrets")
async def secrets(state: CurrentState) -> dict[str, Any]:
    """Every secret the sandbox ever handed out (for secret-leak scans)."""
    world = state.world
    tokens = state.tokens
    keys = [key.key for key in world.api_keys.values()]
    passwords = [user.password for user in world.users.values() if user.password]
    return {
        "access_tokens": [record.token for record in tokens.access.values()],
        "refresh_tokens": list(tokens.refresh),
        "password": world.password,
        "passwords": passwords,
        "api_keys": keys,
        "all": [*tokens.issued, *passwords, *keys],
    }


@router.post("/reset")
async def reset(state: CurrentState, body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
    """Rebuild data, tokens, counters and faults from the start-up config plus ``body`` overrides."""
    try:
        config = state.base_config.merged(body or {})
    except (ValueError, TypeError) as exc:
        fail(400, "INVALID_CONFIG", str(exc))
    state.load(config)
    return state.config.to_dict()


@router.get("/config")
async def get_config(state: CurrentState) -> dict[str, Any]:
    """The active configuration."""
    return state.config.to_dict()


@router.get("/state/members/{org_id}")
async def members(state: CurrentState, org_id: str) -> list[dict[str, Any]]:
    """Current members of an organization, bypassing auth."""
    roster = state.world.members.get(org_id)
    if roster is None:
        fail(404, "NOT_FOUND", f"Organization {org_id} not found")
    ordered = sorted(roster.values(), key=lambda member: (member.joined_at, member.user_id))
    return [member_view(state, member) for member in ordered]


@router.put("/state/members/{org_id}/{user_id}/role")
async def set_member_role(
    state: CurrentState, org_id: str, user_id: str, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Set the role a member is listed with, unchecked: any text, or null to list no role at all.

    For tests of clients that must cope with roles the API does not document (``"Owner"``,
    ``"billing_admin"``, a missing role).
    """
    roster = state.world.members.get(org_id)
    if roster is None or user_id not in roster:
        fail(404, "NOT_FOUND", f"No member {user_id} in organization {org_id}")
    role = body.get("role")
    if role is not None and not isinstance(role, str):
        fail(400, "INVALID_ROLE", "role must be text or null")
    roster[user_id].role = role
    return member_view(state, roster[user_id])
