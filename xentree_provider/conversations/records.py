"""The canonical conversation record: what an export writes for one conversation, whatever the API variant."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from xentree_provider.exports.timestamps import canonical_timestamp

__all__ = ["canonical_conversation", "canonical_message"]


def canonical_message(message: Mapping[str, Any], conversation_id: str) -> dict[str, Any]:
    """A message as exported: ``{"id", "role", "content", "created_at"}``, the time canonical (UTC, ``Z``).

    Unknown fields of the API response are left out, so the file's schema does not drift.
    """
    mid = message.get("id")
    return {
        "id": str(mid),
        "role": message.get("role"),
        "content": message.get("content"),
        "created_at": canonical_timestamp(
            message.get("created_at"), f"conversation {conversation_id!r} message {mid!r} creation"
        ),
    }


def canonical_conversation(
    conversation: Mapping[str, Any], messages: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """A conversation as exported: its list fields in a fixed order, then ``messages`` (canonical).

    ``conversation`` is the list record (``id``, ``title``, ``created_at``, ``updated_at``); ``messages``
    are the API's messages of the window, already in file order.
    """
    cid = str(conversation.get("id"))
    return {
        "id": cid,
        "title": conversation.get("title"),
        "created_at": canonical_timestamp(conversation.get("created_at"), f"conversation {cid!r} creation"),
        "updated_at": canonical_timestamp(conversation.get("updated_at"), f"conversation {cid!r} update"),
        "messages": [canonical_message(message, cid) for message in messages],
    }
