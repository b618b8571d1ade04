"""``/api/v1/admin/stats/progress/members``: the organization-wide learning progress directory."""

# No "from __future__ import annotations": FastAPI reads the Annotated aliases at import time.

import datetime as dt
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from xentree_provider.testing.access import visible_organization, visible_organizations
from xentree_provider.testing.dependencies import Authenticated, CurrentState, Principal
from xentree_provider.testing.responses import fail, timestamp
from xentree_provider.testing.seed import DAY_US, US, Organization, User, World

router = APIRouter()
DirectoryReader = Annotated[Principal, Depends(Authenticated("xel:read"))]
SORT_FIELDS = frozenset(
    {
        "full_name",
        "name",
        "email",
        "learning_minutes",
        "progress_percent",
        "average_score",
        "modules_completed",
        "last_activity_at",
    }
)


def parse_day(name: str, value: str | None) -> dt.date | None:
    """Parse a ``YYYY-MM-DD`` query parameter; 400 ``INVALID_DATE`` naming ``name`` otherwise."""
    if value is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(400, "INVALID_DATE", f"{name} must be a date in YYYY-MM-DD format, got {value!r}")


def day_start_us(day: dt.date) -> int:
    """Microseconds since the epoch at the UTC midnight starting ``day``."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()) * US


def directory_row(
    world: World, user: User, organization: Organization, start: int, end: int
) -> dict[str, Any]:
    """One user's directory row: affiliations, and learning within ``[start, end)`` microseconds."""
    organization_names, team_names, affiliations = [], [], []
    for other in world.orgs.values():
        membership = world.members[other.id].get(user.id)
        learners = world.learners.get(other.id, {})
        team = membership.team_id if membership else learners.get(user.id)
        if membership is None and user.id not in learners:
            continue
        team_name = world.team_name(team)
        organization_names.append(other.name)
        if team_name:
            team_names.append(team_name)
        affiliations.append({"organization": other.name, "organization_id": other.id, "team": team_name})
    activity = world.activity(user.id)
    minutes, last = 0, None
    learned_by_end = learned_total = 0
    for day, (day_minutes, at) in activity.days.items():
        day_start = world.start_us + day * DAY_US
        learned_total += day_minutes
        if day_start < end:
            learned_by_end += day_minutes
        if start <= day_start < end:
            minutes += day_minutes
            last = at if last is None or at > last else last
    # Progress as of the window's end: it grows with the learning done so far, so a later report
    # shows change since an earlier one.
    share = learned_by_end / learned_total if learned_total else 0.0
    member = world.members[organization.id].get(user.id)
    return {
        "user_id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "role": member.role if member else "learner",
        "organizations": organization_names,
        "teams": team_names,
        "affiliations": affiliations,
        "modules_completed": int(activity.modules_completed * share),
        "progress_percent": round(activity.progress_percent * share, 1),
        "average_score": activity.average_score,
        "learning_minutes": minutes,
        "last_activity_at": last,
    }


def _directory_organization(world: World, caller: Principal, org_id: str | None) -> Organization:
    if org_id is not None:
        organization = visible_organization(world, caller, org_id)
    else:
        visible = visible_organizations(world, caller)
        if not visible:
            fail(404, "NOT_FOUND", "No organization visible to the caller")
        organization = visible[0]
    if caller.api_key is None:
        role = world.members[organization.id][caller.user.id].role
        if role not in ("owner", "admin", "manager"):
            fail(403, "FORBIDDEN", "Only organization admins and team managers can read the directory")
    return organization


def _sorted_rows(rows: list[dict[str, Any]], sort: str, order: str) -> list[dict[str, Any]]:
    """Rows by ``sort`` (case-insensitive for text), rows without a value last, ties by user id."""
    key = "full_name" if sort == "name" else sort
    rows.sort(key=lambda row: row["user_id"])
    present = [row for row in rows if row[key] is not None]
    absent = [row for row in rows if row[key] is None]
    present.sort(
        key=lambda row: row[key].lower() if isinstance(row[key], str) else row[key], reverse=order == "desc"
    )
    return present + absent


@router.get("/api/v1/admin/stats/progress/members")
async def progress_directory(
    state: CurrentState,
    caller: DirectoryReader,
    org_id: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    sort: str = "full_name",
    order: Literal["asc", "desc"] = "asc",
    q: str | None = None,
    team_id: str | None = None,
) -> dict[str, Any]:
    """Paged member progress directory of one organization for a UTC date window (both ends inclusive)."""
    world = state.world
    organization = _directory_organization(world, caller, org_id)
    first_day, last_day = parse_day("start_date", start_date), parse_day("end_date", end_date)
    if first_day and last_day and first_day > last_day:
        fail(400, "INVALID_DATE_RANGE", "start_date must not be after end_date")
    if sort not in SORT_FIELDS:
        fail(400, "INVALID_SORT", f"sort must be one of {', '.join(sorted(SORT_FIELDS))}")
    window_start = world.start_us if first_day is None else day_start_us(first_day)
    window_end = world.anchor_us if last_day is None else day_start_us(last_day) + DAY_US
    teams_by_user: dict[str, str | None] = {
        user_id: member.team_id for user_id, member in world.members[organization.id].items()
    }
    for user_id, team in world.learners.get(organization.id, {}).items():
        teams_by_user.setdefault(user_id, team)
    rows = []
    needle = (q or "").strip().lower()
    for user_id, team in teams_by_user.items():
        if team_id is not None and team != team_id:
            continue
        user = world.users[user_id]
        if needle and needle not in user.full_name.lower() and needle not in user.email.lower():
            continue
        rows.append(directory_row(world, user, organization, window_start, window_end))
    ordered = _sorted_rows(rows, sort, order)
    offset = (page - 1) * limit
    items = ordered[offset : offset + limit]
    for row in items:
        row["last_activity_at"] = timestamp(state, row["last_activity_at"])
    return {"items": items, "page": page, "limit": limit, "total": len(ordered)}
