"""Request bodies and list parameters of the sandbox routes (pydantic models, validated by FastAPI)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["owner", "admin", "manager", "member"]
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+$"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]*$"


@dataclass
class ListParams:
    """``limit``/``offset``/``page`` of a list request."""

    limit: int
    offset: int
    page: int | None


class RegisterBody(BaseModel):
    """``POST /api/auth/register``."""

    email: str = Field(pattern=EMAIL_PATTERN)
    password: str = Field(min_length=8)
    full_name: str | None = None
    username: str | None = None


class ProfileUpdate(BaseModel):
    """``PATCH /api/auth/me``."""

    full_name: str | None = None
    username: str | None = None
    nickname: str | None = None


class OrgCreate(BaseModel):
    """``POST /api/organizations``."""

    name: str = Field(min_length=1)
    slug: str | None = Field(default=None, pattern=SLUG_PATTERN)
    description: str | None = None


class OrgUpdate(BaseModel):
    """``PATCH /api/organizations/{org_id}``."""

    name: str | None = Field(default=None, min_length=1)
    slug: str | None = Field(default=None, pattern=SLUG_PATTERN)
    description: str | None = None


class MemberAdd(BaseModel):
    """``POST /api/organizations/{org_id}/members``."""

    email: str = Field(pattern=EMAIL_PATTERN)
    role: Role = "member"
    team_id: str | None = None
    full_name: str | None = None


class MemberRole(BaseModel):
    """``PATCH .../members/{user_id}``."""

    role: Role


class MemberUpdate(BaseModel):
    """``PUT .../members/{user_id}``."""

    role: Role | None = None
    organization_id: str | None = None
    team_id: str | None = None


class SessionStart(BaseModel):
    """``POST /api/live/session/start``."""

    session_type: Literal["voice", "avatar"]


class SessionRef(BaseModel):
    """``{session_id}`` for heartbeat/end."""

    session_id: str | None = None


class Nickname(BaseModel):
    """``PATCH /api/live/nickname``."""

    nickname: str = Field(min_length=1, max_length=64)


class Turn(BaseModel):
    """One transcript turn."""

    role: Literal["user", "ai"]
    text: str
    timestamp: str | None = None


class TranscriptSave(BaseModel):
    """``POST /api/live/transcripts``."""

    session_id: str | None = None
    session_started_at: str | None = None
    session_ended_at: str | None = None
    transcripts: list[Turn]


class KnowledgeQuery(BaseModel):
    """``POST /api/knowledge/search`` and ``/api/rag/query``."""

    query: str = Field(min_length=1)
    limit: int = Field(default=5, ge=1, le=50)
    conversation_id: str | None = None


class ChatTurn(BaseModel):
    """A prior chat turn."""

    role: str
    content: str


class ChatBody(BaseModel):
    """``POST /api/core/chat``."""

    message: str = Field(min_length=1)
    provider: str = "auto"
    conversation_history: list[ChatTurn] = Field(default_factory=list)
    user_language: str | None = None
    conversation_id: str | None = None


class ConversationCreate(BaseModel):
    """``POST /api/core/conversations``."""

    title: str = Field(default="New conversation", min_length=1)


class TaskSubmit(BaseModel):
    """``POST /api/xel/tasks/{task_id}/submit``."""

    response: str = Field(min_length=1)
    audio_url: str | None = None


class Evaluate(BaseModel):
    """``POST /api/xel/evaluate`` (``type`` is accepted as an alias of ``mode``)."""

    mode: Literal["speaking", "writing"] | None = None
    type: Literal["speaking", "writing"] | None = None
    text: str | None = None
    audio_url: str | None = None
    task_id: str | None = None
