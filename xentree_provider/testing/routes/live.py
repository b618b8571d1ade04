"""``/api/live``: quota, live sessions, nickname and transcripts."""

# No "from __future__ import annotations": FastAPI reads the Annotated aliases at import time.

import datetime as dt
import time
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Body, Depends

from xentree_provider.testing.dependencies import Authenticated, CurrentState, Paging, Principal
from xentree_provider.testing.responses import fail, now_us, shaped_list, timestamp, transcript_view
from xentree_provider.testing.schemas import Nickname, SessionRef, SessionStart, TranscriptSave
from xentree_provider.testing.seed import US, hashed_id, parse_timestamp
from xentree_provider.testing.state import SandboxState

router = APIRouter()
LiveReader = Annotated[Principal, Depends(Authenticated("live:read"))]
LiveWriter = Annotated[Principal, Depends(Authenticated("live:write"))]
OptionalSessionRef = Annotated[SessionRef | None, Body()]


def quota_view(state: SandboxState) -> dict[str, Any]:
    """The monthly Live quota: used and remaining seconds, and when it resets."""
    limit = state.config.live_quota_seconds
    used = min(limit, int(state.world.live_used_seconds))
    anchor = state.config.anchor_datetime()
    next_month = (anchor.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return {
        "remaining_seconds": limit - used,
        "used_seconds": used,
        "limit_seconds": limit,
        "resets_at": timestamp(state, int(next_month.timestamp()) * US),
    }


def session_view(state: SandboxState, session: dict[str, Any]) -> dict[str, Any]:
    """Render a live session with the quota left."""
    return {
        "session_id": session["session_id"],
        "session_type": session["session_type"],
        "started_at": timestamp(state, session["started_us"]),
        "status": session["status"],
        "remaining_seconds": quota_view(state)["remaining_seconds"],
    }


def find_session(state: SandboxState, body: SessionRef | None) -> dict[str, Any]:
    """The session named by ``body``, else the latest active one; 404 when there is none."""
    sessions = state.world.live_sessions
    if body is not None and body.session_id:
        session = sessions.get(body.session_id)
    else:
        session = next(
            (active for active in reversed(sessions.values()) if active["status"] == "active"), None
        )
    if session is None:
        fail(404, "SESSION_NOT_FOUND", "No such live session")
    return session


def charge(state: SandboxState, session: dict[str, Any]) -> None:
    """Charge the time since the session's last heartbeat to the quota."""
    now = time.monotonic()
    state.world.live_used_seconds += max(0.0, now - session["last_beat"])
    session["last_beat"] = now


def quota_exceeded() -> NoReturn:
    """Fail with the contract's 429 ``live_quota_exceeded``."""
    fail(429, "live_quota_exceeded", "Monthly Live session quota exceeded")


@router.get("/api/live/quota")
async def live_quota(state: CurrentState, caller: LiveReader) -> dict[str, Any]:
    """Return the monthly Live quota."""
    return quota_view(state)


@router.post("/api/live/session/start")
async def session_start(state: CurrentState, caller: LiveWriter, body: SessionStart) -> dict[str, Any]:
    """Start a live session (429 ``live_quota_exceeded`` when the quota is used up)."""
    if quota_view(state)["remaining_seconds"] <= 0:
        quota_exceeded()
    sessions = state.world.live_sessions
    session_id = hashed_id("lss", state.config.seed, "live", len(sessions), now_us())
    session = {
        "session_id": session_id,
        "session_type": body.session_type,
        "started_us": now_us(),
        "last_beat": time.monotonic(),
        "status": "active",
    }
    sessions[session_id] = session
    return session_view(state, session)


@router.post("/api/live/session/heartbeat")
async def session_heartbeat(state: CurrentState, caller: LiveWriter, body: OptionalSessionRef = None) -> Any:
    """Keep a live session alive; charges the elapsed time to the quota."""
    session = find_session(state, body)
    if session["status"] != "active":
        fail(409, "SESSION_ENDED", "The live session has ended")
    charge(state, session)
    if quota_view(state)["remaining_seconds"] <= 0:
        session["status"] = "ended"
        quota_exceeded()
    return session_view(state, session)


@router.post("/api/live/session/end")
async def session_end(state: CurrentState, caller: LiveWriter, body: OptionalSessionRef = None) -> Any:
    """End a live session."""
    session = find_session(state, body)
    if session["status"] == "active":
        charge(state, session)
        session["status"] = "ended"
    view = session_view(state, session)
    view["duration_seconds"] = round((now_us() - session["started_us"]) / US, 3)
    return view


@router.patch("/api/live/nickname")
async def nickname(caller: LiveWriter, body: Nickname) -> dict[str, Any]:
    """Set the nickname used in Xentree Live."""
    caller.user.nickname = body.nickname
    return {"nickname": body.nickname, "user_id": caller.user.id}


@router.get("/api/live/transcripts")
async def list_transcripts(state: CurrentState, caller: LiveReader, params: Paging) -> Any:
    """List transcripts, newest first (by ``session_started_at``, then id)."""
    rows = state.world.visible_transcripts()
    return shaped_list(state, rows, lambda row: transcript_view(state, row), params)


@router.post("/api/live/transcripts", status_code=201)
async def save_transcript(state: CurrentState, caller: LiveWriter, body: TranscriptSave) -> dict[str, Any]:
    """Save a transcript with its turns (stamped with the server clock when one is set)."""
    clock = state.config.clock_us()
    now = now_us() if clock is None else clock
    try:
        turn_times = [
            parse_timestamp(turn.timestamp) if turn.timestamp else None for turn in body.transcripts
        ]
        started = parse_timestamp(body.session_started_at) if body.session_started_at else None
        ended = parse_timestamp(body.session_ended_at) if body.session_ended_at else None
    except ValueError:
        fail(400, "INVALID_TIMESTAMP", "Timestamps must be ISO-8601")
    known = [at for at in turn_times if at is not None]
    started = started if started is not None else (min(known) if known else now)
    ended = ended if ended is not None else (max(known) if known else started)
    if ended < started:
        fail(400, "INVALID_RANGE", "session_ended_at is before session_started_at")
    turns = [
        {"role": turn.role, "text": turn.text, "timestamp": at if at is not None else started}
        for turn, at in zip(body.transcripts, turn_times, strict=True)
    ]
    row = state.world.add_transcript(started, ended, turns, now)
    return transcript_view(state, row, turns=True)


@router.get("/api/live/transcripts/{transcript_id}")
async def get_transcript(state: CurrentState, caller: LiveReader, transcript_id: str) -> dict[str, Any]:
    """Return one transcript with its turns."""
    row = state.world.transcript_index.get(transcript_id)
    clock = state.config.clock_us()
    if row is None or (clock is not None and row.created > clock):
        fail(404, "NOT_FOUND", f"Transcript {transcript_id} not found")
    return transcript_view(state, row, turns=True)
