"""Typed shapes of the API's records (``TypedDict``; unknown fields are kept, missing ones allowed)."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "ChatResponse",
    "Conversation",
    "Integration",
    "KnowledgeResult",
    "LiveQuota",
    "LiveSession",
    "Member",
    "MemberProgress",
    "Message",
    "Organization",
    "RagAnswer",
    "Transcript",
    "TranscriptTurn",
    "UserProfile",
    "XELDashboard",
    "XELModule",
]

MemberRole = Literal["owner", "admin", "manager", "member"]


class UserProfile(TypedDict, total=False):
    """``GET /api/auth/me``."""

    id: str
    email: str
    full_name: str | None
    username: str | None
    created_at: str


class TranscriptTurn(TypedDict, total=False):
    """One turn of a Live transcript."""

    role: Literal["user", "ai"]
    text: str
    timestamp: str


class Transcript(TypedDict, total=False):
    """A Live transcript; ``transcripts`` (the turns) only on the single-transcript endpoint."""

    id: str
    session_id: str
    session_started_at: str
    session_ended_at: str | None
    created_at: str
    turn_count: int
    transcripts: list[TranscriptTurn]


class LiveQuota(TypedDict, total=False):
    """``GET /api/live/quota``."""

    remaining_seconds: float
    used_seconds: float
    limit_seconds: float
    resets_at: str


class LiveSession(TypedDict, total=False):
    """A started Live session."""

    session_id: str
    session_type: Literal["voice", "avatar"]
    started_at: str
    status: str


class Organization(TypedDict, total=False):
    """An organization."""

    id: str
    name: str
    slug: str
    description: str | None
    created_at: str


class Member(TypedDict, total=False):
    """A member of an organization."""

    user_id: str
    email: str
    full_name: str | None
    role: MemberRole
    team_id: str | None
    joined_at: str


class XELModule(TypedDict, total=False):
    """An XEL module with the caller's progress; ``tasks`` only on the single-module endpoint."""

    id: str
    title: str
    level: str
    skill: str
    total_tasks: int
    completed_tasks: int
    progress_percent: float
    average_score: float | None
    status: Literal["not_started", "in_progress", "completed"]
    last_activity_at: str | None
    tasks: list[dict[str, Any]]


class XELDashboard(TypedDict, total=False):
    """``GET /api/xel/dashboard``."""

    overall_progress_percent: float
    modules_completed: int
    modules_in_progress: int
    modules_total: int
    average_score: float | None
    current_streak: int
    xp_total: int
    recent_activity: list[dict[str, Any]]


class MemberProgress(TypedDict, total=False):
    """One row of the organization progress directory."""

    user_id: str
    email: str
    full_name: str | None
    organizations: list[Any]
    teams: list[Any]
    modules_completed: int
    progress_percent: float
    average_score: float | None
    learning_minutes: float
    last_activity_at: str | None


class KnowledgeResult(TypedDict, total=False):
    """One knowledge-base search hit."""

    id: str
    content: str
    score: float
    source: str | None
    metadata: dict[str, Any]


class RagAnswer(TypedDict, total=False):
    """``POST /api/rag/query``."""

    answer: str
    sources: list[Any]


class ChatResponse(TypedDict, total=False):
    """``POST /api/core/chat``."""

    content: str
    provider: str
    model: str
    usage: dict[str, Any]
    conversation_id: str | None


class Conversation(TypedDict, total=False):
    """A conversation."""

    id: str
    title: str
    created_at: str
    updated_at: str


class Message(TypedDict, total=False):
    """A message of a conversation."""

    id: str
    role: str
    content: str
    created_at: str


class Integration(TypedDict, total=False):
    """A connected integration."""

    provider: str
    status: str
    connected_at: str
