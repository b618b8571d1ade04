"""Which organizations a caller may see and change in the sandbox (shared by several route areas)."""

from __future__ import annotations

from xentree_provider.testing.dependencies import Principal
from xentree_provider.testing.responses import fail
from xentree_provider.testing.seed import Organization, World


def visible_organizations(world: World, principal: Principal) -> list[Organization]:
    """Organizations the caller can see (an API key sees its own organization only)."""
    if principal.api_key is not None:
        organization = world.orgs.get(principal.api_key.org_id)
        return [organization] if organization else []
    return [org for org in world.orgs.values() if principal.user.id in world.members.get(org.id, {})]


def visible_organization(
    world: World, principal: Principal, org_id: str, write: bool = False
) -> Organization:
    """Return a visible organization or fail with 404 (403 when a write needs owner/admin)."""
    organization = world.orgs.get(org_id)
    if organization is None or organization not in visible_organizations(world, principal):
        fail(404, "NOT_FOUND", f"Organization {org_id} not found")
    if write and principal.api_key is None:
        role = world.members[organization.id][principal.user.id].role
        if role not in ("owner", "admin"):
            fail(403, "FORBIDDEN", "Only organization owners and admins can change it")
    return organization
