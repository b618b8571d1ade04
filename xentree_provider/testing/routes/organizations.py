"""``/api/organizations``: organizations and their members."""

# No "from __future__ import annotations": FastAPI reads the Annotated aliases at import time.

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from xentree_provider.testing.access import visible_organization, visible_organizations
from xentree_provider.testing.dependencies import Authenticated, CurrentState, Paging, Principal
from xentree_provider.testing.responses import fail, member_view, now_us, organization_view, shaped_list
from xentree_provider.testing.schemas import MemberAdd, MemberRole, MemberUpdate, OrgCreate, OrgUpdate
from xentree_provider.testing.seed import Member, Organization, World, hashed_id

router = APIRouter()
OrganizationReader = Annotated[Principal, Depends(Authenticated("organizations:read"))]
OrganizationWriter = Annotated[Principal, Depends(Authenticated("organizations:write"))]


def team_in(organization: Organization, team_id: str | None) -> str | None:
    """Return ``team_id`` if it is one of the organization's teams (or ``None``); 400 otherwise."""
    if team_id is None:
        return None
    if team_id not in {team.id for team in organization.teams}:
        fail(400, "INVALID_TEAM", f"Team {team_id} does not belong to organization {organization.id}")
    return team_id


def member_of(world: World, organization: Organization, user_id: str) -> Member:
    """Return the member ``user_id`` of the organization; 404 when not a member."""
    member = world.members[organization.id].get(user_id)
    if member is None:
        fail(404, "NOT_FOUND", f"User {user_id} is not a member of organization {organization.id}")
    return member


def member_to_change(
    world: World, caller: Principal, org_id: str, user_id: str
) -> tuple[Organization, Member]:
    """The organization the caller may change and its member ``user_id`` (404/403 otherwise)."""
    organization = visible_organization(world, caller, org_id, write=True)
    return organization, member_of(world, organization, user_id)


def refuse_last_owner_loss(
    world: World, organization: Organization, member: Member, new_role: str | None
) -> None:
    """Fail with 409 ``LAST_OWNER`` when the change would leave the organization without an owner."""
    owner_count = sum(1 for other in world.members[organization.id].values() if other.role == "owner")
    if member.role == "owner" and new_role != "owner" and owner_count <= 1:
        fail(409, "LAST_OWNER", "The last owner of an organization cannot be removed or demoted")


def _slug_taken(world: World, slug: str, except_id: str | None = None) -> bool:
    return any(org.slug == slug and org.id != except_id for org in world.orgs.values())


@router.get("/api/organizations")
async def list_organizations(state: CurrentState, caller: OrganizationReader, params: Paging) -> Any:
    """List the caller's organizations."""
    organizations = visible_organizations(state.world, caller)
    return shaped_list(state, organizations, lambda org: organization_view(state, org), params)


@router.post("/api/organizations", status_code=201)
async def create_organization(
    state: CurrentState, caller: OrganizationWriter, body: OrgCreate
) -> dict[str, Any]:
    """Create an organization; the caller becomes its owner."""
    world = state.world
    slug = body.slug or re.sub(r"[^a-z0-9]+", "-", body.name.lower()).strip("-") or "org"
    if _slug_taken(world, slug):
        fail(409, "SLUG_TAKEN", f"Slug {slug!r} is already taken")
    organization = Organization(
        id=hashed_id("org", state.config.seed, "created", slug, len(world.orgs)),
        name=body.name,
        slug=slug,
        description=body.description or "",
        created_at=now_us(),
    )
    world.orgs[organization.id] = organization
    world.members[organization.id] = {caller.user.id: Member(caller.user.id, "owner", None, now_us())}
    world.learners[organization.id] = {}
    return organization_view(state, organization)


@router.get("/api/organizations/{org_id}")
async def get_organization(state: CurrentState, caller: OrganizationReader, org_id: str) -> dict[str, Any]:
    """Return one organization."""
    return organization_view(state, visible_organization(state.world, caller, org_id))


@router.patch("/api/organizations/{org_id}")
async def update_organization(
    state: CurrentState, caller: OrganizationWriter, org_id: str, body: OrgUpdate
) -> dict[str, Any]:
    """Update an organization."""
    organization = visible_organization(state.world, caller, org_id, write=True)
    changes = body.model_dump(exclude_none=True)
    slug = changes.get("slug")
    if slug and _slug_taken(state.world, slug, except_id=organization.id):
        fail(409, "SLUG_TAKEN", f"Slug {slug!r} is already taken")
    for name, value in changes.items():
        setattr(organization, name, value)
    return organization_view(state, organization)


@router.delete("/api/organizations/{org_id}", status_code=204)
async def delete_organization(state: CurrentState, caller: OrganizationWriter, org_id: str) -> Response:
    """Delete an organization."""
    world = state.world
    organization = visible_organization(world, caller, org_id, write=True)
    del world.orgs[organization.id]
    world.members.pop(organization.id, None)
    world.learners.pop(organization.id, None)
    return Response(status_code=204)


@router.get("/api/organizations/{org_id}/members")
async def list_members(state: CurrentState, caller: OrganizationReader, org_id: str, params: Paging) -> Any:
    """List members (by join time, then user id)."""
    organization = visible_organization(state.world, caller, org_id)
    members = sorted(
        state.world.members[organization.id].values(), key=lambda member: (member.joined_at, member.user_id)
    )
    return shaped_list(state, members, lambda member: member_view(state, member), params)


@router.post("/api/organizations/{org_id}/members", status_code=201)
async def add_member(
    state: CurrentState, caller: OrganizationWriter, org_id: str, body: MemberAdd
) -> dict[str, Any]:
    """Add a member by e-mail (409 ``ALREADY_MEMBER`` when present, compared case-insensitively)."""
    world = state.world
    organization = visible_organization(world, caller, org_id, write=True)
    roster = world.members[organization.id]
    user = world.user_by_email(body.email)
    if user is not None and user.id in roster:
        fail(
            409,
            "ALREADY_MEMBER",
            f"{body.email} is already a member of this organization",
            user_id=user.id,
        )
    team_id = team_in(organization, body.team_id)
    if user is None:
        user = world.add_user(body.email, body.full_name, None, None)
    world.learners[organization.id].pop(user.id, None)
    roster[user.id] = Member(user.id, body.role, team_id, now_us())
    state.counters.member_changed(organization.id, user.email, "add")
    return member_view(state, roster[user.id])


@router.patch("/api/organizations/{org_id}/members/{user_id}")
async def change_member_role(
    state: CurrentState, caller: OrganizationWriter, org_id: str, user_id: str, body: MemberRole
) -> dict[str, Any]:
    """Change a member's role (409 ``LAST_OWNER`` when demoting the last owner)."""
    world = state.world
    organization, member = member_to_change(world, caller, org_id, user_id)
    refuse_last_owner_loss(world, organization, member, body.role)
    member.role = body.role
    state.counters.member_changed(organization.id, world.users[user_id].email, "role")
    return member_view(state, member)


@router.put("/api/organizations/{org_id}/members/{user_id}")
async def update_member(
    state: CurrentState, caller: OrganizationWriter, org_id: str, user_id: str, body: MemberUpdate
) -> dict[str, Any]:
    """Comprehensive update: role, team, and moving the member to another organization."""
    world = state.world
    organization, member = member_to_change(world, caller, org_id, user_id)
    destination = organization
    if body.organization_id and body.organization_id != organization.id:
        destination = visible_organization(world, caller, body.organization_id, write=True)
        if user_id in world.members[destination.id]:
            fail(409, "ALREADY_MEMBER", "The user is already a member of the target organization")
    if body.team_id is not None:
        team_id = team_in(destination, body.team_id)
    else:
        team_id = member.team_id if destination is organization else None
    new_role = body.role or member.role
    if destination is not organization:
        refuse_last_owner_loss(world, organization, member, None)
        del world.members[organization.id][user_id]
        moved = Member(user_id, new_role, team_id, now_us())
        world.members[destination.id][user_id] = moved
        state.counters.member_changed(organization.id, world.users[user_id].email, "move")
        return member_view(state, moved)
    refuse_last_owner_loss(world, organization, member, new_role)
    member.role = new_role
    member.team_id = team_id
    state.counters.member_changed(organization.id, world.users[user_id].email, "update")
    return member_view(state, member)


@router.delete("/api/organizations/{org_id}/members/{user_id}", status_code=204)
async def remove_member(
    state: CurrentState, caller: OrganizationWriter, org_id: str, user_id: str
) -> Response:
    """Remove a member (409 ``LAST_OWNER`` for the last owner)."""
    world = state.world
    organization, member = member_to_change(world, caller, org_id, user_id)
    refuse_last_owner_loss(world, organization, member, None)
    del world.members[organization.id][user_id]
    state.counters.member_changed(organization.id, world.users[user_id].email, "remove")
    return Response(status_code=204)
