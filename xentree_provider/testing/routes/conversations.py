"""``/api/core``: AI providers, chat, conversations and their messages, and search."""

# No "from __future__ import annotations": FastAPI reads the Annotated aliases at import time.

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from xentree_provider.testing.dependencies import Authenticated, CurrentState, Paging, Principal
from xentree_provider.testing.responses import fail, now_us, shaped_list, timestamp
from xentree_provider.testing.schemas import ChatBody, ConversationCreate
from xentree_provider.testing.scoring import score_text
from xentree_provider.testing.seed import Conversation, hashed_id
from xentree_provider.testing.state import SandboxState

router = APIRouter()
ConversationReader = Annotated[Principal, Depends(Authenticated("conversations:read"))]
ConversationWriter = Annotated[Principal, Depends(Authenticated("conversations:write"))]


def _visible(state: SandboxState, conversation_id: str) -> Conversation | None:
    """The conversation as of the server clock (None: unknown, or created after the clock)."""
    conversation = state.world.conversations.get(conversation_id)
    return None if conversation is None else state.world.visible_conversation(conversation)


def _now(state: SandboxState) -> int:
    """The server clock when one is set, else the real time (microseconds)."""
    clock = state.config.clock_us()
    return now_us() if clock is None else clock


def conversation_view(state: SandboxState, conversation: Conversation) -> dict[str, Any]:
    """Render a conversation (without its messages); ``updated_at`` as the ``conversation_updates``
    setting says."""
    frozen = state.config.conversation_updates == "frozen"
    return {
        "id": conversation.id,
        "title": conversation.title,
        "created_at": timestamp(state, conversation.created_at),
        "updated_at": timestamp(state, conversation.created_at if frozen else conversation.updated_at),
    }


@router.get("/api/core/providers")
async def list_providers(state: CurrentState, caller: ConversationReader, params: Paging) -> Any:
    """List AI providers."""
    return shaped_list(state, state.world.providers, dict, params)


@router.post("/api/core/chat")
async def chat(state: CurrentState, caller: ConversationWriter, body: ChatBody) -> dict[str, Any]:
    """Answer a chat message deterministically."""
    providers = {provider["id"]: provider for provider in state.world.providers}
    if body.provider not in providers:
        fail(400, "UNKNOWN_PROVIDER", f"Unknown provider {body.provider!r}")
    model = "gpt-5-mini" if body.provider == "auto" else providers[body.provider]["models"][0]
    digest = hashlib.sha256(body.message.encode()).hexdigest()
    content = f"Here is a structured answer to: {body.message[:80]} (ref {digest[:8]})"
    if body.conversation_id is not None:
        conversation = state.world.conversations.get(body.conversation_id)
        if conversation is None or _visible(state, conversation.id) is None:
            fail(404, "NOT_FOUND", f"Conversation {body.conversation_id} not found")
        now = _now(state)
        for role, text in (("user", body.message), ("assistant", content)):
            conversation.messages.append(
                {
                    "id": hashed_id("msg", state.config.seed, conversation.id, len(conversation.messages)),
                    "role": role,
                    "content": text,
                    "created_at": now,
                }
            )
        conversation.updated_at = now
    prompt_tokens = len(body.message.split()) + sum(
        len(turn.content.split()) for turn in body.conversation_history
    )
    completion_tokens = len(content.split())
    return {
        "content": content,
        "provider": body.provider,
        "model": model,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "conversation_id": body.conversation_id,
    }


@router.get("/api/core/conversations")
async def list_conversations(state: CurrentState, caller: ConversationReader, params: Paging) -> Any:
    """List conversations, most recently updated first."""
    visible = [_visible(state, conversation_id) for conversation_id in state.world.conversations]
    conversations = sorted(
        (conversation for conversation in visible if conversation is not None),
        key=lambda conversation: (-conversation.updated_at, conversation.id),
    )
    return shaped_list(
        state, conversations, lambda conversation: conversation_view(state, conversation), params
    )


@router.post("/api/core/conversations", status_code=201)
async def create_conversation(
    state: CurrentState, caller: ConversationWriter, body: ConversationCreate
) -> dict[str, Any]:
    """Create a conversation."""
    now = _now(state)
    conversations = state.world.conversations
    conversation_id = hashed_id("conv", state.config.seed, "new", len(conversations), now)
    conversations[conversation_id] = Conversation(conversation_id, body.title, now, now, [])
    return conversation_view(state, conversations[conversation_id])


@router.get("/api/core/conversations/{conversation_id}/messages")
async def list_messages(
    state: CurrentState, caller: ConversationReader, conversation_id: str, params: Paging
) -> Any:
    """List a conversation's messages, oldest first (those saved by the server clock)."""
    conversation = _visible(state, conversation_id)
    if conversation is None:
        fail(404, "NOT_FOUND", f"Conversation {conversation_id} not found")
    return shaped_list(
        state,
        conversation.messages,
        lambda message: {**message, "created_at": timestamp(state, message["created_at"])},
        params,
    )


def _search_results(conversation: Conversation, query: str) -> list[dict[str, Any]]:
    """Hits for ``query`` in a conversation's title and messages (times still in microseconds)."""
    results: list[dict[str, Any]] = []
    score = score_text(query, conversation.title, conversation.id)
    if score:
        results.append(
            {
                "type": "conversation",
                "id": conversation.id,
                "conversation_id": conversation.id,
                "snippet": conversation.title,
                "score": score,
                "created_at": conversation.created_at,
            }
        )
    for message in conversation.messages:
        score = score_text(query, message["content"], message["id"])
        if score:
            results.append(
                {
                    "type": "message",
                    "id": message["id"],
                    "conversation_id": conversation.id,
                    "snippet": message["content"][:120],
                    "score": score,
                    "created_at": message["created_at"],
                }
            )
    return results


@router.get("/api/core/search")
async def search(
    state: CurrentState,
    caller: ConversationReader,
    q: Annotated[str, Query(min_length=1)],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> dict[str, Any]:
    """Search conversations and messages."""
    results = [
        result
        for conversation in state.world.conversations.values()
        for result in _search_results(conversation, q)
    ]
    results.sort(key=lambda result: (-result["score"], result["id"]))
    return {
        "results": [
            {**result, "created_at": timestamp(state, result["created_at"])} for result in results[:limit]
        ]
    }
