"""The Xentree sandbox HTTP application (FastAPI) and a helper to serve it with uvicorn.

This is the only module of ``xentree_provider.testing`` that imports FastAPI, Starlette or uvicorn.
"""

# No "from __future__ import annotations": FastAPI must see the local Annotated dependency aliases.

import datetime as dt
import hashlib
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NoReturn, TypeVar
from urllib.parse import parse_qs, urlencode

import uvicorn
from fastapi import Body, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from xentree_provider.testing.config import FaultConfig, SandboxConfig
from xentree_provider.testing.middleware import SandboxMiddleware, silence_reset_tracebacks
from xentree_provider.testing.seed import (
    DAY_US,
    US,
    ApiKey,
    Conversation,
    Member,
    Organization,
    TranscriptRow,
    User,
    World,
    format_timestamp,
    hashed_id,
    parse_timestamp,
    random_token,
)
from xentree_provider.testing.state import AccessRecord, SandboxState

T = TypeVar("T")
_WORD = re.compile(r"[a-z0-9]+")


def _now_us() -> int:
    return int(time.time() * US)


def fail(
    status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> NoReturn:
    """Raise an ``HTTPException`` with the contract's ``{"detail": {"error", "message"}}`` body."""
    raise HTTPException(status, detail={"error": code, "message": message, **extra}, headers=headers)


@dataclass
class Principal:
    """Who is calling: a user, through a bearer token or an API key."""

    user: User
    api_key: ApiKey | None = None
    access: AccessRecord | None = None


@dataclass
class ListParams:
    """``limit``/``offset``/``page`` of a list request."""

    limit: int
    offset: int
    page: int | None


async def _list_params(
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    page: Annotated[int | None, Query(ge=1)] = None,
) -> ListParams:
    return ListParams(limit, offset, page)


Paging = Annotated[ListParams, Depends(_list_params)]


# ---------------------------------------------------------------------- request bodies
class RegisterBody(BaseModel):
    """``POST /api/auth/register``."""

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
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
    slug: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str | None = None


class OrgUpdate(BaseModel):
    """``PATCH /api/organizations/{org_id}``."""

    name: str | None = Field(default=None, min_length=1)
    slug: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str | None = None


Role = Literal["owner", "admin", "manager", "member"]


class MemberAdd(BaseModel):
    """``POST /api/organizations/{org_id}/members``."""

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
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


# ---------------------------------------------------------------------- helpers shared by routes
class Api:
    """Route helpers bound to the sandbox state: auth dependencies, rendering, list shapes."""

    def __init__(self, state: SandboxState) -> None:
        self.st = state

    @property
    def world(self) -> World:
        """The current data world."""
        return self.st.world

    def ts(self, us: int | None) -> str | None:
        """Render a timestamp in the configured style."""
        return format_timestamp(us, self.st.config.timestamp_style)

    def auth(self, scope: str | None, bearer_only: bool = False) -> Callable[[Request], Any]:
        """Return a dependency that authenticates a bearer token or an API key holding ``scope``."""

        async def dependency(request: Request) -> Principal:
            st = self.st
            authorization = request.headers.get("authorization", "")
            api_key = request.headers.get("x-api-key")
            challenge = {"WWW-Authenticate": "Bearer"}
            if authorization:
                scheme, _, token = authorization.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    st.counters.auth_failures["malformed"] += 1
                    fail(401, "INVALID_TOKEN", "Malformed Authorization header", challenge)
                record, reason = st.tokens.check_access(token.strip())
                if record is None:
                    st.counters.auth_failures["invalid_token"] += 1
                    fail(401, "INVALID_TOKEN", reason, challenge)
                user = self.world.users.get(record.user_id)
                if user is None:
                    fail(401, "INVALID_TOKEN", "Unknown user", challenge)
                return Principal(user, access=record)
            if api_key is not None:
                if bearer_only:
                    st.counters.auth_failures["bearer_required"] += 1
                    fail(
                        401,
                        "BEARER_TOKEN_REQUIRED",
                        "This endpoint requires a bearer token from user login; API keys are not accepted",
                        challenge,
                    )
                key = self.world.api_keys.get(api_key.strip())
                if key is None:
                    st.counters.auth_failures["invalid_api_key"] += 1
                    fail(401, "INVALID_API_KEY", "Invalid or revoked API key")
                if scope is not None and scope not in key.scopes:
                    st.counters.auth_failures["insufficient_scope"] += 1
                    fail(
                        403,
                        "INSUFFICIENT_API_KEY_SCOPE",
                        "API key lacks required scope for this endpoint",
                        required_scope=scope,
                        granted_scopes=list(key.scopes),
                    )
                return Principal(self.world.users[key.user_id], api_key=key)
            st.counters.auth_failures["missing"] += 1
            fail(
                401,
                "NOT_AUTHENTICATED",
                "Authentication required: send a bearer token or X-API-Key",
                challenge,
            )

        return dependency

    def shaped(self, items: Sequence[T], render: Callable[[T], dict[str, Any]], params: ListParams) -> Any:
        """Slice ``items`` per ``params`` and wrap them in the configured list shape."""
        cfg = self.st.config
        offset = params.offset
        if cfg.list_shape == "page" and params.page is not None:
            offset = (params.page - 1) * params.limit
        chunk = [render(item) for item in items[offset : offset + params.limit]]
        total = len(items)
        if cfg.list_shape == "envelope":
            return {cfg.envelope_key: chunk, "total": total, "limit": params.limit, "offset": offset}
        if cfg.list_shape == "page":
            return {"items": chunk, "page": offset // params.limit + 1, "limit": params.limit, "total": total}
        return chunk

    # ------------------------------------------------------------------ renderers
    def profile(self, user: User) -> dict[str, Any]:
        """Render a ``UserProfile``."""
        return {
            "id": user.id,
            "email": user.email,
            "full_name": user.full_name,
            "username": user.username,
            "nickname": user.nickname,
            "created_at": self.ts(user.created_at),
        }

    def org(self, org: Organization) -> dict[str, Any]:
        """Render an organization."""
        return {
            "id": org.id,
            "name": org.name,
            "slug": org.slug,
            "description": org.description,
            "created_at": self.ts(org.created_at),
            "teams": [{"id": t.id, "name": t.name} for t in org.teams],
        }

    def member(self, member: Member) -> dict[str, Any]:
        """Render an organization member."""
        user = self.world.users[member.user_id]
        return {
            "user_id": user.id,
            "email": user.email,
            "full_name": user.full_name,
            "role": member.role,
            "team_id": member.team_id,
            "joined_at": self.ts(member.joined_at),
        }

    def transcript(self, row: TranscriptRow, turns: bool = False) -> dict[str, Any]:
        """Render a transcript, with its turns when ``turns``."""
        data: dict[str, Any] = {
            "id": row.id,
            "session_id": row.session_id,
            "session_started_at": self.ts(row.started),
            "session_ended_at": self.ts(row.ended),
            "created_at": self.ts(row.created),
            "turn_count": row.turn_count,
        }
        if turns:
            data["transcripts"] = [
                {"role": role, "text": text, "timestamp": self.ts(at)}
                for role, text, at in self.world.turns_for(row)
            ]
        return data

    # ------------------------------------------------------------------ organizations
    def visible_orgs(self, p: Principal) -> list[Organization]:
        """Organizations the caller can see (an API key sees its own organization only)."""
        world = self.world
        if p.api_key is not None:
            org = world.orgs.get(p.api_key.org_id)
            return [org] if org else []
        return [org for org in world.orgs.values() if p.user.id in world.members.get(org.id, {})]

    def get_org(self, p: Principal, org_id: str, write: bool = False) -> Organization:
        """Return a visible organization or fail with 404 (403 when a write needs owner/admin)."""
        org = self.world.orgs.get(org_id)
        if org is None or org not in self.visible_orgs(p):
            fail(404, "NOT_FOUND", f"Organization {org_id} not found")
        if write and p.api_key is None:
            role = self.world.members[org.id][p.user.id].role
            if role not in ("owner", "admin"):
                fail(403, "FORBIDDEN", "Only organization owners and admins can change it")
        return org

    def team_of(self, org: Organization, team_id: str | None) -> str | None:
        """Validate a team id against an organization."""
        if team_id is None:
            return None
        if team_id not in {t.id for t in org.teams}:
            fail(400, "INVALID_TEAM", f"Team {team_id} does not belong to organization {org.id}")
        return team_id

    def owners(self, org_id: str) -> int:
        """Number of owners of an organization."""
        return sum(1 for m in self.world.members[org_id].values() if m.role == "owner")


# ---------------------------------------------------------------------- application
def create_app(config: SandboxConfig | None = None) -> FastAPI:
    """Build the sandbox application for ``config`` (defaults to :class:`SandboxConfig()`)."""
    state = SandboxState(config or SandboxConfig())
    app = FastAPI(
        title="Xentree sandbox",
        version="1",
        docs_url="/__sandbox/docs",
        redoc_url=None,
        openapi_url="/__sandbox/openapi.json",
    )
    app.state.sandbox = state
    api = Api(state)
    _auth_routes(app, api)
    _live_routes(app, api)
    _org_routes(app, api)
    _xel_routes(app, api)
    _knowledge_and_core_routes(app, api)
    _admin_routes(app, api)
    app.add_middleware(SandboxMiddleware, state=state, routes=lambda: app.router.routes)
    return app


def _auth_routes(app: FastAPI, api: Api) -> None:
    st = api.st
    bearer = Annotated[Principal, Depends(api.auth(None, bearer_only=True))]

    def token_response(user_id: str, refresh_token: str | None) -> dict[str, Any]:
        st.counters.tokens_issued += 1
        access = st.tokens.issue_access(user_id, refresh_token)
        if st.config.token_response == "expires_in":  # noqa: S105 - a variant name, not a secret
            lifetime = st.config.token_lifetime
            expires_in = int(lifetime) if lifetime == int(lifetime) else lifetime
            return {"access_token": access, "token_type": "bearer", "expires_in": expires_in}
        return {"access_token": access, "token_type": "bearer", "refresh_token": refresh_token}

    @app.post("/api/auth/register", status_code=201)
    async def register(body: RegisterBody) -> dict[str, Any]:
        """Create an account."""
        if api.world.user_by_email(body.email):
            fail(409, "EMAIL_TAKEN", "An account with this e-mail already exists")
        user = api.world.add_user(body.email, body.full_name, body.username, body.password)
        return api.profile(user)

    @app.post("/api/auth/login")
    async def login(request: Request) -> dict[str, Any]:
        """Exchange form-encoded ``username``/``password`` for tokens."""
        ctype = request.headers.get("content-type", "")
        raw = (await request.body()).decode("utf-8", "replace")
        form = parse_qs(raw, keep_blank_values=True) if "form-urlencoded" in ctype else {}
        missing = [name for name in ("username", "password") if not form.get(name)]
        if missing:
            raise RequestValidationError(
                [{"loc": ["body", name], "msg": "Field required", "type": "missing"} for name in missing]
            )
        user = api.world.user_by_email(form["username"][0]) or next(
            (u for u in api.world.users.values() if u.username == form["username"][0]), None
        )
        if user is None or user.password is None or user.password != form["password"][0]:
            st.counters.login_failures += 1
            fail(401, "INVALID_CREDENTIALS", "Incorrect username or password")
        st.counters.logins += 1
        refresh_variant = st.config.token_response == "refresh"  # noqa: S105 - a variant name
        refresh = st.tokens.issue_refresh(user.id) if refresh_variant else None
        return token_response(user.id, refresh)

    @app.post("/api/auth/refresh")
    async def refresh(request: Request) -> dict[str, Any]:
        """Issue a new access token for a refresh token sent as bearer (rotating it when configured)."""
        authorization = request.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        if not token:
            try:
                body = await request.json()
                token = str(body.get("refresh_token") or "") if isinstance(body, dict) else ""
            except ValueError:
                token = ""
        if not token:
            st.counters.refresh_rejected += 1
            fail(401, "INVALID_TOKEN", "Refresh requires 'Authorization: Bearer <refresh_token>'")
        record, reason = st.tokens.check_refresh(token)
        if record is None and st.config.token_response == "expires_in":  # noqa: S105 - variant name
            access, reason = st.tokens.check_access(token)  # this variant refreshes with the access token
            if access is not None:
                st.counters.refreshes += 1
                return token_response(access.user_id, None)
        if record is None:
            st.counters.refresh_rejected += 1
            fail(401, "INVALID_TOKEN", reason)
        st.counters.refreshes += 1
        new_refresh = token
        if st.config.rotate_refresh:
            record.revoked = True
            new_refresh = st.tokens.issue_refresh(record.user_id)
        return token_response(record.user_id, new_refresh)

    @app.post("/api/auth/logout", status_code=204)
    async def logout(p: bearer) -> Response:
        """Revoke the caller's access token and its refresh token."""
        if p.access is not None:
            st.tokens.revoke_access(p.access)
        return Response(status_code=204)

    @app.get("/api/auth/me")
    async def me(p: bearer) -> dict[str, Any]:
        """Return the caller's profile (bearer only)."""
        return api.profile(p.user)

    @app.patch("/api/auth/me")
    async def update_me(p: bearer, body: ProfileUpdate) -> dict[str, Any]:
        """Update the caller's profile (bearer only)."""
        for name, value in body.model_dump(exclude_none=True).items():
            setattr(p.user, name, value)
        return api.profile(p.user)


def _live_routes(app: FastAPI, api: Api) -> None:
    st = api.st
    live_read = Annotated[Principal, Depends(api.auth("live:read"))]
    live_write = Annotated[Principal, Depends(api.auth("live:write"))]

    def quota() -> dict[str, Any]:
        limit = st.config.live_quota_seconds
        used = min(limit, int(api.world.live_used_seconds))
        anchor = st.config.anchor_datetime()
        nxt = (anchor.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        return {
            "remaining_seconds": limit - used,
            "used_seconds": used,
            "limit_seconds": limit,
            "resets_at": api.ts(nxt.timestamp().__int__() * US),
        }

    def session_view(session: dict[str, Any]) -> dict[str, Any]:
        return {
            "session_id": session["session_id"],
            "session_type": session["session_type"],
            "started_at": api.ts(session["started_us"]),
            "status": session["status"],
            "remaining_seconds": quota()["remaining_seconds"],
        }

    def find_session(body: SessionRef | None) -> dict[str, Any]:
        sessions = api.world.live_sessions
        if body is not None and body.session_id:
            session = sessions.get(body.session_id)
        else:
            session = next((s for s in reversed(sessions.values()) if s["status"] == "active"), None)
        if session is None:
            fail(404, "SESSION_NOT_FOUND", "No such live session")
        return session

    def charge(session: dict[str, Any]) -> None:
        now = time.monotonic()
        api.world.live_used_seconds += max(0.0, now - session["last_beat"])
        session["last_beat"] = now

    def quota_exceeded() -> NoReturn:
        fail(429, "live_quota_exceeded", "Monthly Live session quota exceeded")

    @app.get("/api/live/quota")
    async def live_quota(p: live_read) -> dict[str, Any]:
        """Return the monthly Live quota."""
        return quota()

    @app.post("/api/live/session/start")
    async def session_start(p: live_write, body: SessionStart) -> dict[str, Any]:
        """Start a live session (429 ``live_quota_exceeded`` when the quota is used up)."""
        if quota()["remaining_seconds"] <= 0:
            quota_exceeded()
        session_id = hashed_id("lss", st.config.seed, "live", len(api.world.live_sessions), _now_us())
        session = {
            "session_id": session_id,
            "session_type": body.session_type,
            "started_us": _now_us(),
            "last_beat": time.monotonic(),
            "status": "active",
        }
        api.world.live_sessions[session_id] = session
        return session_view(session)

    @app.post("/api/live/session/heartbeat")
    async def session_heartbeat(p: live_write, body: Annotated[SessionRef | None, Body()] = None) -> Any:
        """Keep a live session alive; charges the elapsed time to the quota."""
        session = find_session(body)
        if session["status"] != "active":
            fail(409, "SESSION_ENDED", "The live session has ended")
        charge(session)
        if quota()["remaining_seconds"] <= 0:
            session["status"] = "ended"
            quota_exceeded()
        return session_view(session)

    @app.post("/api/live/session/end")
    async def session_end(p: live_write, body: Annotated[SessionRef | None, Body()] = None) -> Any:
        """End a live session."""
        session = find_session(body)
        if session["status"] == "active":
            charge(session)
            session["status"] = "ended"
        view = session_view(session)
        view["duration_seconds"] = round((_now_us() - session["started_us"]) / US, 3)
        return view

    @app.patch("/api/live/nickname")
    async def nickname(p: live_write, body: Nickname) -> dict[str, Any]:
        """Set the nickname used in Xentree Live."""
        p.user.nickname = body.nickname
        return {"nickname": body.nickname, "user_id": p.user.id}

    @app.get("/api/live/transcripts")
    async def list_transcripts(p: live_read, params: Paging) -> Any:
        """List transcripts, newest first (by ``session_started_at``, then id)."""
        return api.shaped(api.world.transcripts, api.transcript, params)

    @app.post("/api/live/transcripts", status_code=201)
    async def save_transcript(p: live_write, body: TranscriptSave) -> dict[str, Any]:
        """Save a transcript with its turns."""
        now = _now_us()
        try:
            turn_times = [parse_timestamp(t.timestamp) if t.timestamp else None for t in body.transcripts]
            started = parse_timestamp(body.session_started_at) if body.session_started_at else None
            ended = parse_timestamp(body.session_ended_at) if body.session_ended_at else None
        except ValueError:
            fail(400, "INVALID_TIMESTAMP", "Timestamps must be ISO-8601")
        known = [t for t in turn_times if t is not None]
        started = started if started is not None else (min(known) if known else now)
        ended = ended if ended is not None else (max(known) if known else started)
        if ended < started:
            fail(400, "INVALID_RANGE", "session_ended_at is before session_started_at")
        turns = [
            {"role": t.role, "text": t.text, "timestamp": at if at is not None else started}
            for t, at in zip(body.transcripts, turn_times, strict=True)
        ]
        row = api.world.add_transcript(started, ended, turns, now)
        return api.transcript(row, turns=True)

    @app.get("/api/live/transcripts/{transcript_id}")
    async def get_transcript(p: live_read, transcript_id: str) -> dict[str, Any]:
        """Return one transcript with its turns."""
        row = api.world.transcript_index.get(transcript_id)
        if row is None:
            fail(404, "NOT_FOUND", f"Transcript {transcript_id} not found")
        return api.transcript(row, turns=True)


def _org_routes(app: FastAPI, api: Api) -> None:
    st = api.st
    org_read = Annotated[Principal, Depends(api.auth("organizations:read"))]
    org_write = Annotated[Principal, Depends(api.auth("organizations:write"))]

    def target(org: Organization, user_id: str) -> Member:
        member = api.world.members[org.id].get(user_id)
        if member is None:
            fail(404, "NOT_FOUND", f"User {user_id} is not a member of organization {org.id}")
        return member

    def check_demote(org: Organization, member: Member, new_role: str | None) -> None:
        if member.role == "owner" and new_role != "owner" and api.owners(org.id) <= 1:
            fail(409, "LAST_OWNER", "The last owner of an organization cannot be removed or demoted")

    @app.get("/api/organizations")
    async def list_orgs(p: org_read, params: Paging) -> Any:
        """List the caller's organizations."""
        return api.shaped(api.visible_orgs(p), api.org, params)

    @app.post("/api/organizations", status_code=201)
    async def create_org(p: org_write, body: OrgCreate) -> dict[str, Any]:
        """Create an organization; the caller becomes its owner."""
        slug = body.slug or re.sub(r"[^a-z0-9]+", "-", body.name.lower()).strip("-") or "org"
        if any(o.slug == slug for o in api.world.orgs.values()):
            fail(409, "SLUG_TAKEN", f"Slug {slug!r} is already taken")
        org = Organization(
            id=hashed_id("org", st.config.seed, "created", slug, len(api.world.orgs)),
            name=body.name,
            slug=slug,
            description=body.description or "",
            created_at=_now_us(),
        )
        api.world.orgs[org.id] = org
        api.world.members[org.id] = {p.user.id: Member(p.user.id, "owner", None, _now_us())}
        api.world.learners[org.id] = {}
        return api.org(org)

    @app.get("/api/organizations/{org_id}")
    async def get_org(p: org_read, org_id: str) -> dict[str, Any]:
        """Return one organization."""
        return api.org(api.get_org(p, org_id))

    @app.patch("/api/organizations/{org_id}")
    async def patch_org(p: org_write, org_id: str, body: OrgUpdate) -> dict[str, Any]:
        """Update an organization."""
        org = api.get_org(p, org_id, write=True)
        changes = body.model_dump(exclude_none=True)
        slug = changes.get("slug")
        if slug and any(o.slug == slug and o.id != org.id for o in api.world.orgs.values()):
            fail(409, "SLUG_TAKEN", f"Slug {slug!r} is already taken")
        for name, value in changes.items():
            setattr(org, name, value)
        return api.org(org)

    @app.delete("/api/organizations/{org_id}", status_code=204)
    async def delete_org(p: org_write, org_id: str) -> Response:
        """Delete an organization."""
        org = api.get_org(p, org_id, write=True)
        del api.world.orgs[org.id]
        api.world.members.pop(org.id, None)
        api.world.learners.pop(org.id, None)
        return Response(status_code=204)

    @app.get("/api/organizations/{org_id}/members")
    async def list_members(p: org_read, org_id: str, params: Paging) -> Any:
        """List members (by join time, then user id)."""
        org = api.get_org(p, org_id)
        members = sorted(api.world.members[org.id].values(), key=lambda m: (m.joined_at, m.user_id))
        return api.shaped(members, api.member, params)

    @app.post("/api/organizations/{org_id}/members", status_code=201)
    async def add_member(p: org_write, org_id: str, body: MemberAdd) -> dict[str, Any]:
        """Add a member by e-mail (409 ``ALREADY_MEMBER`` when present, compared case-insensitively)."""
        org = api.get_org(p, org_id, write=True)
        roster = api.world.members[org.id]
        user = api.world.user_by_email(body.email)
        if user is not None and user.id in roster:
            fail(
                409,
                "ALREADY_MEMBER",
                f"{body.email} is already a member of this organization",
                user_id=user.id,
            )
        team_id = api.team_of(org, body.team_id)
        if user is None:
            user = api.world.add_user(body.email, body.full_name, None, None)
        api.world.learners[org.id].pop(user.id, None)
        roster[user.id] = Member(user.id, body.role, team_id, _now_us())
        return api.member(roster[user.id])

    @app.patch("/api/organizations/{org_id}/members/{user_id}")
    async def patch_member(p: org_write, org_id: str, user_id: str, body: MemberRole) -> dict[str, Any]:
        """Change a member's role (409 ``LAST_OWNER`` when demoting the last owner)."""
        org = api.get_org(p, org_id, write=True)
        member = target(org, user_id)
        check_demote(org, member, body.role)
        member.role = body.role
        return api.member(member)

    @app.put("/api/organizations/{org_id}/members/{user_id}")
    async def put_member(p: org_write, org_id: str, user_id: str, body: MemberUpdate) -> dict[str, Any]:
        """Comprehensive update: role, team, and moving the member to another organization."""
        org = api.get_org(p, org_id, write=True)
        member = target(org, user_id)
        dest = org
        if body.organization_id and body.organization_id != org.id:
            dest = api.get_org(p, body.organization_id, write=True)
            if user_id in api.world.members[dest.id]:
                fail(409, "ALREADY_MEMBER", "The user is already a member of the target organization")
        team_id = (
            api.team_of(dest, body.team_id)
            if body.team_id is not None
            else (member.team_id if dest is org else None)
        )
        new_role = body.role or member.role
        if dest is not org:
            check_demote(org, member, None)
            del api.world.members[org.id][user_id]
            moved = Member(user_id, new_role, team_id, _now_us())
            api.world.members[dest.id][user_id] = moved
            return api.member(moved)
        check_demote(org, member, new_role)
        member.role = new_role
        member.team_id = team_id
        return api.member(member)

    @app.delete("/api/organizations/{org_id}/members/{user_id}", status_code=204)
    async def delete_member(p: org_write, org_id: str, user_id: str) -> Response:
        """Remove a member (409 ``LAST_OWNER`` for the last owner)."""
        org = api.get_org(p, org_id, write=True)
        member = target(org, user_id)
        check_demote(org, member, None)
        del api.world.members[org.id][user_id]
        return Response(status_code=204)

    directory_auth = Annotated[Principal, Depends(api.auth("xel:read"))]

    def parse_day(name: str, value: str | None) -> dt.date | None:
        if value is None:
            return None
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError(value)
            return dt.date.fromisoformat(value)
        except ValueError:
            fail(400, "INVALID_DATE", f"{name} must be a date in YYYY-MM-DD format, got {value!r}")

    sort_fields = {
        "full_name",
        "name",
        "email",
        "learning_minutes",
        "progress_percent",
        "average_score",
        "modules_completed",
        "last_activity_at",
    }

    @app.get("/api/v1/admin/stats/progress/members")
    async def progress_directory(
        p: directory_auth,
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
        world = api.world
        visible = api.visible_orgs(p)
        if org_id is None:
            if not visible:
                fail(404, "NOT_FOUND", "No organization visible to the caller")
            org = visible[0]
        else:
            org = api.get_org(p, org_id)
        if p.api_key is None and world.members[org.id][p.user.id].role not in ("owner", "admin", "manager"):
            fail(403, "FORBIDDEN", "Only organization admins and team managers can read the directory")
        first, last = parse_day("start_date", start_date), parse_day("end_date", end_date)
        if first and last and first > last:
            fail(400, "INVALID_DATE_RANGE", "start_date must not be after end_date")
        if sort not in sort_fields:
            fail(400, "INVALID_SORT", f"sort must be one of {', '.join(sorted(sort_fields))}")
        window_start = world.start_us if first is None else _day_us(first)
        window_end = world.anchor_us if last is None else _day_us(last) + DAY_US
        people: dict[str, str | None] = {uid: m.team_id for uid, m in world.members[org.id].items()}
        for uid, team in world.learners.get(org.id, {}).items():
            people.setdefault(uid, team)
        rows = []
        needle = (q or "").strip().lower()
        for uid, team in people.items():
            if team_id is not None and team != team_id:
                continue
            user = world.users[uid]
            if needle and needle not in user.full_name.lower() and needle not in user.email.lower():
                continue
            rows.append(_directory_row(api, user, org, window_start, window_end))
        key = "full_name" if sort == "name" else sort
        rows.sort(key=lambda r: r["user_id"])
        present = [r for r in rows if r[key] is not None]
        absent = [r for r in rows if r[key] is None]
        present.sort(
            key=lambda r: r[key].lower() if isinstance(r[key], str) else r[key], reverse=order == "desc"
        )
        ordered = present + absent
        offset = (page - 1) * limit
        items = ordered[offset : offset + limit]
        for row in items:
            row["last_activity_at"] = api.ts(row["last_activity_at"])
        return {"items": items, "page": page, "limit": limit, "total": len(ordered)}


def _day_us(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()) * US


def _directory_row(api: Api, user: User, org: Organization, start: int, end: int) -> dict[str, Any]:
    world = api.world
    orgs, teams, affiliations = [], [], []
    for other in world.orgs.values():
        member = world.members[other.id].get(user.id)
        team = member.team_id if member else world.learners.get(other.id, {}).get(user.id)
        if member is None and user.id not in world.learners.get(other.id, {}):
            continue
        team_name = world.team_name(team)
        orgs.append(other.name)
        if team_name:
            teams.append(team_name)
        affiliations.append({"organization": other.name, "organization_id": other.id, "team": team_name})
    activity = world.activity(user.id)
    minutes, last = 0, None
    learned_by_end = learned_total = 0
    for day, (mins, at) in activity.days.items():
        day_start = world.start_us + day * DAY_US
        learned_total += mins
        if day_start < end:
            learned_by_end += mins
        if start <= day_start < end:
            minutes += mins
            last = at if last is None or at > last else last
    # Progress as of the window's end: it grows with the learning done so far, so a later report
    # shows change since an earlier one.
    share = learned_by_end / learned_total if learned_total else 0.0
    member = world.members[org.id].get(user.id)
    return {
        "user_id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "role": member.role if member else "learner",
        "organizations": orgs,
        "teams": teams,
        "affiliations": affiliations,
        "modules_completed": int(activity.modules_completed * share),
        "progress_percent": round(activity.progress_percent * share, 1),
        "average_score": activity.average_score,
        "learning_minutes": minutes,
        "last_activity_at": last,
    }


def _xel_routes(app: FastAPI, api: Api) -> None:
    xel_read = Annotated[Principal, Depends(api.auth("xel:read"))]
    xel_write = Annotated[Principal, Depends(api.auth("xel:write"))]

    def progress_of(user: User) -> dict[str, tuple[float, int]]:
        return api.world.xel_progress.setdefault(user.id, {})

    def summary(module_id: str, user: User) -> dict[str, Any]:
        module = api.world.modules[module_id]
        progress = progress_of(user)
        done = [progress[t.id] for t in module.tasks if t.id in progress]
        total = len(module.tasks)
        status = "completed" if len(done) == total else ("in_progress" if done else "not_started")
        return {
            "id": module.id,
            "title": module.title,
            "level": module.level,
            "skill": module.skill,
            "total_tasks": total,
            "completed_tasks": len(done),
            "progress_percent": round(100.0 * len(done) / total, 1),
            "average_score": round(sum(s for s, _ in done) / len(done), 1) if done else None,
            "status": status,
            "last_activity_at": api.ts(max(w for _, w in done)) if done else None,
        }

    @app.get("/api/xel/modules")
    async def modules(p: xel_read, params: Paging) -> Any:
        """List modules with the caller's progress."""
        return api.shaped(list(api.world.modules), lambda mid: summary(mid, p.user), params)

    @app.get("/api/xel/modules/{module_id}")
    async def module(p: xel_read, module_id: str) -> dict[str, Any]:
        """Return a module with its tasks."""
        mod = api.world.modules.get(module_id)
        if mod is None:
            fail(404, "NOT_FOUND", f"Module {module_id} not found")
        progress = progress_of(p.user)
        data = summary(module_id, p.user)
        data["tasks"] = [
            {
                "id": t.id,
                "type": t.type,
                "prompt": t.prompt,
                "completed": t.id in progress,
                "score": progress[t.id][0] if t.id in progress else None,
                "submitted_at": api.ts(progress[t.id][1]) if t.id in progress else None,
            }
            for t in mod.tasks
        ]
        return data

    @app.post("/api/xel/tasks/{task_id}/submit")
    async def submit(p: xel_write, task_id: str, body: TaskSubmit) -> dict[str, Any]:
        """Submit a task response; scores deterministically from the response text."""
        task = api.world.tasks.get(task_id)
        if task is None:
            fail(404, "NOT_FOUND", f"Task {task_id} not found")
        digest = hashlib.sha256(f"{task_id}:{body.response}".encode()).digest()
        score = float(50 + digest[0] % 51)
        progress_of(p.user)[task_id] = (score, _now_us())
        module_summary = summary(task.module_id, p.user)
        return {
            "task_id": task_id,
            "accepted": True,
            "score": score,
            "feedback": "Well done." if score >= 75 else "Good effort; review the model answer.",
            "xp_awarded": int(score // 10) * 5,
            "module_progress_percent": module_summary["progress_percent"],
        }

    @app.post("/api/xel/evaluate")
    async def evaluate(p: xel_write, body: Evaluate) -> dict[str, Any]:
        """Evaluate a speaking or writing sample."""
        mode = body.mode or body.type
        if mode is None:
            fail(400, "INVALID_REQUEST", "mode must be 'speaking' or 'writing'")
        sample = body.text or body.audio_url
        if not sample:
            fail(400, "INVALID_REQUEST", "Provide text or audio_url")
        digest = hashlib.sha256(f"{mode}:{sample}".encode()).digest()
        score = float(40 + digest[0] % 61)
        level = ("A1", "A2", "B1", "B2", "C1", "C2")[min(5, int((score - 40) // 10))]
        names = (
            "grammar",
            "vocabulary",
            "fluency" if mode == "speaking" else "coherence",
            "pronunciation" if mode == "speaking" else "task_achievement",
        )
        return {
            "mode": mode,
            "score": score,
            "cefr_level": level,
            "feedback": f"Estimated level {level}.",
            "criteria": {name: float(40 + digest[i + 1] % 61) for i, name in enumerate(names)},
        }

    @app.get("/api/xel/dashboard")
    async def dashboard(p: xel_read) -> dict[str, Any]:
        """Return the caller's XEL overview."""
        world = api.world
        summaries = [summary(mid, p.user) for mid in world.modules]
        progress = progress_of(p.user)
        total_tasks = sum(s["total_tasks"] for s in summaries)
        scores = [s for s, _ in progress.values()]
        activity = world.activity(p.user.id)
        streak = 0
        for day in range(api.st.config.days - 1, -1, -1):
            if day not in activity.days:
                break
            streak += 1
        recent = sorted(progress.items(), key=lambda kv: (-kv[1][1], kv[0]))[:10]
        return {
            "overall_progress_percent": round(100.0 * len(progress) / total_tasks, 1) if total_tasks else 0.0,
            "modules_completed": sum(1 for s in summaries if s["status"] == "completed"),
            "modules_in_progress": sum(1 for s in summaries if s["status"] == "in_progress"),
            "modules_total": len(summaries),
            "average_score": round(sum(scores) / len(scores), 1) if scores else None,
            "current_streak": streak,
            "xp_total": int(sum(scores)) * 10,
            "recent_activity": [
                {
                    "task_id": tid,
                    "module_id": world.tasks[tid].module_id,
                    "score": score,
                    "submitted_at": api.ts(when),
                }
                for tid, (score, when) in recent
            ],
        }


def _score_text(query: str, text: str, salt: str) -> float:
    words = set(_WORD.findall(query.lower()))
    if not words:
        return 0.0
    hay = set(_WORD.findall(text.lower()))
    overlap = len(words & hay) / len(words)
    if overlap == 0:
        return 0.0
    jitter = hashlib.sha256(f"{query}:{salt}".encode()).digest()[0] / 25500.0
    return round(min(1.0, overlap * 0.9 + jitter), 4)


def _knowledge_and_core_routes(app: FastAPI, api: Api) -> None:
    st = api.st
    rag_read = Annotated[Principal, Depends(api.auth("rag:read"))]
    conv_read = Annotated[Principal, Depends(api.auth("conversations:read"))]
    conv_write = Annotated[Principal, Depends(api.auth("conversations:write"))]
    int_read = Annotated[Principal, Depends(api.auth("integrations:read"))]
    int_write = Annotated[Principal, Depends(api.auth("integrations:write"))]

    def hits(query: str, limit: int) -> list[dict[str, Any]]:
        scored = []
        for doc in api.world.documents:
            score = _score_text(query, f"{doc['title']} {doc['content']}", doc["id"])
            if score > 0:
                scored.append((score, doc))
        scored.sort(key=lambda sd: (-sd[0], sd[1]["id"]))
        return [
            {
                "id": doc["id"],
                "content": doc["content"],
                "score": score,
                "source": doc["source"],
                "metadata": {
                    **doc["metadata"],
                    "title": doc["title"],
                    "updated_at": api.ts(doc["metadata"]["updated_at"]),
                },
            }
            for score, doc in scored[:limit]
        ]

    @app.post("/api/knowledge/search")
    async def knowledge_search(p: rag_read, body: KnowledgeQuery) -> dict[str, Any]:
        """Search the knowledge base."""
        return {"results": hits(body.query, body.limit)}

    @app.post("/api/rag/query")
    async def rag_query(p: rag_read, body: KnowledgeQuery) -> dict[str, Any]:
        """Answer a question from the knowledge base."""
        sources = hits(body.query, min(body.limit, 3))
        if sources:
            answer = f"Based on {len(sources)} document(s): " + " ".join(
                s["content"].split(". ")[0] + "." for s in sources
            )
        else:
            answer = "I could not find anything about that in the knowledge base."
        return {"answer": answer, "sources": sources}

    def conversation_view(conv_id: str) -> dict[str, Any]:
        conv = api.world.conversations[conv_id]
        return {
            "id": conv.id,
            "title": conv.title,
            "created_at": api.ts(conv.created_at),
            "updated_at": api.ts(conv.updated_at),
        }

    def message_view(message: dict[str, Any]) -> dict[str, Any]:
        return {**message, "created_at": api.ts(message["created_at"])}

    @app.get("/api/core/providers")
    async def providers(p: conv_read, params: Paging) -> Any:
        """List AI providers."""
        return api.shaped(api.world.providers, dict, params)

    @app.post("/api/core/chat")
    async def chat(p: conv_write, body: ChatBody) -> dict[str, Any]:
        """Answer a chat message deterministically."""
        known = {prov["id"]: prov for prov in api.world.providers}
        if body.provider not in known:
            fail(400, "UNKNOWN_PROVIDER", f"Unknown provider {body.provider!r}")
        model = "gpt-5-mini" if body.provider == "auto" else known[body.provider]["models"][0]
        digest = hashlib.sha256(body.message.encode()).hexdigest()
        content = f"Here is a structured answer to: {body.message[:80]} (ref {digest[:8]})"
        if body.conversation_id is not None:
            conv = api.world.conversations.get(body.conversation_id)
            if conv is None:
                fail(404, "NOT_FOUND", f"Conversation {body.conversation_id} not found")
            now = _now_us()
            for role, text in (("user", body.message), ("assistant", content)):
                conv.messages.append(
                    {
                        "id": hashed_id("msg", st.config.seed, conv.id, len(conv.messages)),
                        "role": role,
                        "content": text,
                        "created_at": now,
                    }
                )
            conv.updated_at = now
        prompt = len(body.message.split()) + sum(len(t.content.split()) for t in body.conversation_history)
        completion = len(content.split())
        return {
            "content": content,
            "provider": body.provider,
            "model": model,
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
            "conversation_id": body.conversation_id,
        }

    @app.get("/api/core/conversations")
    async def conversations(p: conv_read, params: Paging) -> Any:
        """List conversations, most recently updated first."""
        convs = sorted(api.world.conversations.values(), key=lambda c: (-c.updated_at, c.id))
        return api.shaped([c.id for c in convs], conversation_view, params)

    @app.post("/api/core/conversations", status_code=201)
    async def create_conversation(p: conv_write, body: ConversationCreate) -> dict[str, Any]:
        """Create a conversation."""
        now = _now_us()
        conv_id = hashed_id("conv", st.config.seed, "new", len(api.world.conversations), now)
        api.world.conversations[conv_id] = Conversation(conv_id, body.title, now, now, [])
        return conversation_view(conv_id)

    @app.get("/api/core/conversations/{conversation_id}/messages")
    async def messages(p: conv_read, conversation_id: str, params: Paging) -> Any:
        """List a conversation's messages, oldest first."""
        conv = api.world.conversations.get(conversation_id)
        if conv is None:
            fail(404, "NOT_FOUND", f"Conversation {conversation_id} not found")
        return api.shaped(conv.messages, message_view, params)

    @app.get("/api/core/search")
    async def search(
        p: conv_read, q: Annotated[str, Query(min_length=1)], limit: Annotated[int, Query(ge=1, le=200)] = 20
    ) -> dict[str, Any]:
        """Search conversations and messages."""
        results: list[dict[str, Any]] = []
        for conv in api.world.conversations.values():
            score = _score_text(q, conv.title, conv.id)
            if score:
                results.append(
                    {
                        "type": "conversation",
                        "id": conv.id,
                        "conversation_id": conv.id,
                        "snippet": conv.title,
                        "score": score,
                        "created_at": conv.created_at,
                    }
                )
            for msg in conv.messages:
                score = _score_text(q, msg["content"], msg["id"])
                if score:
                    results.append(
                        {
                            "type": "message",
                            "id": msg["id"],
                            "conversation_id": conv.id,
                            "snippet": msg["content"][:120],
                            "score": score,
                            "created_at": msg["created_at"],
                        }
                    )
        results.sort(key=lambda r: (-r["score"], r["id"]))
        return {"results": [{**r, "created_at": api.ts(r["created_at"])} for r in results[:limit]]}

    @app.get("/api/integrations")
    async def integrations(p: int_read, params: Paging) -> Any:
        """List the caller's integrations."""
        return api.shaped(
            api.world.integrations, lambda i: {**i, "connected_at": api.ts(i["connected_at"])}, params
        )

    @app.get("/api/integrations/google-calendar/connect")
    async def google_connect(p: int_write) -> dict[str, Any]:
        """Return the Google OAuth URL a user must open in a browser."""
        state = random_token(st.tokens.rng, 12)
        query = urlencode(
            {
                "client_id": "xentree-sandbox.apps.googleusercontent.com",
                "response_type": "code",
                "scope": "https://www.googleapis.com/auth/calendar.readonly",
                "state": state,
            }
        )
        return {"auth_url": f"https://accounts.google.com/o/oauth2/v2/auth?{query}"}


def _admin_routes(app: FastAPI, api: Api) -> None:
    st = api.st
    started = time.time()

    @app.get("/__sandbox/health")
    async def health() -> dict[str, Any]:
        """Liveness probe."""
        return {
            "status": "ok",
            "seed": st.config.seed,
            "transcripts": len(api.world.transcripts),
            "uptime_seconds": round(time.time() - started, 3),
        }

    @app.get("/__sandbox/credentials")
    async def credentials(request: Request) -> dict[str, Any]:
        """Login, password, API keys (with scopes) and organization ids of the seeded world."""
        return {"base_url": str(request.base_url).rstrip("/"), **_credentials(api.world)}

    @app.get("/__sandbox/counters")
    async def counters() -> dict[str, Any]:
        """Counters since start or the last reset."""
        return st.counters.to_dict()

    @app.post("/__sandbox/counters/reset")
    async def counters_reset() -> dict[str, Any]:
        """Zero the counters."""
        st.counters.reset()
        return st.counters.to_dict()

    @app.get("/__sandbox/faults")
    async def get_faults() -> dict[str, Any]:
        """The active fault configuration."""
        return st.config.faults.to_dict()

    @app.put("/__sandbox/faults")
    async def put_faults(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """Replace the fault configuration (fields left out take their defaults)."""
        try:
            faults = FaultConfig.from_dict(body)
        except (ValueError, TypeError) as exc:
            fail(400, "INVALID_FAULTS", str(exc))
        st.set_faults(faults)
        return faults.to_dict()

    @app.post("/__sandbox/revoke-tokens")
    async def revoke_tokens() -> dict[str, Any]:
        """Revoke every access and refresh token."""
        return {"revoked": st.tokens.revoke_all()}

    @app.get("/__sandbox/secrets")
    async def secrets() -> dict[str, Any]:
        """Every secret the sandbox ever handed out (for secret-leak scans)."""
        world = api.world
        tokens = st.tokens
        keys = [k.key for k in world.api_keys.values()]
        passwords = [u.password for u in world.users.values() if u.password]
        access = [r.token for r in tokens.access.values()]
        refresh = list(tokens.refresh)
        return {
            "access_tokens": access,
            "refresh_tokens": refresh,
            "password": world.password,
            "passwords": passwords,
            "api_keys": keys,
            "all": [*tokens.issued, *passwords, *keys],
        }

    @app.post("/__sandbox/reset")
    async def reset(body: Annotated[dict[str, Any] | None, Body()] = None) -> dict[str, Any]:
        """Rebuild data, tokens, counters and faults from the start-up config plus ``body`` overrides."""
        try:
            config = st.base_config.merged(body or {})
        except (ValueError, TypeError) as exc:
            fail(400, "INVALID_CONFIG", str(exc))
        st.load(config)
        return st.config.to_dict()

    @app.get("/__sandbox/config")
    async def get_config() -> dict[str, Any]:
        """The active configuration."""
        return st.config.to_dict()

    @app.get("/__sandbox/state/members/{org_id}")
    async def state_members(org_id: str) -> list[dict[str, Any]]:
        """Current members of an organization, bypassing auth."""
        roster = api.world.members.get(org_id)
        if roster is None:
            fail(404, "NOT_FOUND", f"Organization {org_id} not found")
        return [api.member(m) for m in sorted(roster.values(), key=lambda m: (m.joined_at, m.user_id))]


def _credentials(world: World) -> dict[str, Any]:
    return {
        "email": world.primary.email,
        "login": world.primary.email,
        "username": world.primary.username,
        "password": world.password,
        "user_id": world.primary.id,
        "api_keys": {
            k.name: {"key": k.key, "scopes": list(k.scopes), "organization_id": k.org_id}
            for k in world.api_keys.values()
        },
        "organizations": {
            o.slug: {"id": o.id, "name": o.name, "teams": {t.name: t.id for t in o.teams}}
            for o in world.orgs.values()
        },
        "org_ids": {o.slug: o.id for o in world.orgs.values()},
        "first_org_id": world.first_org.id,
    }


def world_credentials(app: Any) -> dict[str, Any]:
    """Return the credentials of a running sandbox app (what ``/__sandbox/credentials`` serves)."""
    state: SandboxState = app.state.sandbox
    return _credentials(state.world)


# ---------------------------------------------------------------------- serving
class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None] | None) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self._on_ready is not None and not self.should_exit:
            self._on_ready()


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket (``port=0`` picks a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def build_server(
    config: SandboxConfig, on_ready: Callable[[], None] | None = None, log_level: str = "warning"
) -> uvicorn.Server:
    """Return a uvicorn server for the sandbox app; run it with ``server.run(sockets=[bind_socket(...)])``.

    ``on_ready`` is called once the server accepts connections.
    """
    silence_reset_tracebacks()
    uv_config = uvicorn.Config(
        create_app(config),
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
        timeout_keep_alive=30,
    )
    return _Server(uv_config, on_ready)
