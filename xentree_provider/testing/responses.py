"""How the sandbox answers: contract errors, timestamps, list shapes and the records it renders."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from fastapi import HTTPException

from xentree_provider.testing.schemas import ListParams
from xentree_provider.testing.seed import US, Member, Organization, TranscriptRow, User, format_timestamp
from xentree_provider.testing.state import SandboxState

Item = TypeVar("Item")


def fail(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> NoReturn:
    """Raise an ``HTTPException`` with the contract's ``{"detail": {"error", "message"}}`` body."""
    raise HTTPException(status, detail={"error": code, "message": message, **extra}, headers=headers)


def now_us() -> int:
    """The current time in microseconds since the epoch."""
    return int(time.time() * US)


def timestamp(state: SandboxState, micros: int | None) -> str | None:
    """Render a timestamp in the configured style."""
    return format_timestamp(micros, state.config.timestamp_style)


def shaped_list(
    state: SandboxState, items: Sequence[Item], render: Callable[[Item], dict[str, Any]], params: ListParams
) -> Any:
    """Slice ``items`` per ``params`` and wrap them in the configured list shape."""
    config = state.config
    offset = 0 if config.ignore_offset else params.offset
    if config.list_shape == "page" and params.page is not None:
        offset = (params.page - 1) * params.limit
    chunk = [render(item) for item in items[offset : offset + params.limit]]
    total = len(items)
    if config.list_shape == "envelope":
        return {config.envelope_key: chunk, "total": total, "limit": params.limit, "offset": offset}
    if config.list_shape == "page":
        return {"items": chunk, "page": offset // params.limit + 1, "limit": params.limit, "total": total}
    return chunk


def profile_view(state: SandboxState, user: User) -> dict[str, Any]:
    """Render a ``UserProfile``."""
    return {
        "id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "username": user.username,
        "nickname": user.nickname,
        "created_at": timestamp(state, user.created_at),
    }


def organization_view(state: SandboxState, organization: Organization) -> dict[str, Any]:
    """Render an organization."""
    return {
        "id": organization.id,
        "name": organization.name,
        "slug": organization.slug,
        "description": organization.description,
        "created_at": timestamp(state, organization.created_at),
        "teams": [{"id": team.id, "name": team.name} for team in organization.teams],
    }


def member_view(state: SandboxState, member: Member) -> dict[str, Any]:
    """Render an organization member."""
    user = state.world.users[member.user_id]
    view = {
        "user_id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "role": member.role,
        "team_id": member.team_id,
        "joined_at": timestamp(state, member.joined_at),
    }
    if member.role is None:
        del view["role"]
    return view


def transcript_view(state: SandboxState, row: TranscriptRow, turns: bool = False) -> dict[str, Any]:
    """Render a transcript, with its turns when ``turns``."""
    data: dict[str, Any] = {
        "id": row.id,
        "session_id": row.session_id,
        "session_started_at": timestamp(state, row.started),
        "session_ended_at": timestamp(state, row.ended),
        "created_at": timestamp(state, row.created),
        "turn_count": row.turn_count,
    }
    if turns:
        data["transcripts"] = [
            {"role": role, "text": text, "timestamp": timestamp(state, at)}
            for role, text, at in state.world.turns_for(row)
        ]
    return data
