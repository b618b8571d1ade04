"""Which conversations, and which of their messages, a time window takes.

Messages are immutable and carry ``created_at``: a window ``[start, end)`` takes the messages created
in it, so over consecutive windows every message is in exactly one file. A conversation is in a file
when it has messages in the window, with just those messages.

The conversation list is not documented as sorted or filterable, so every conversation is listed, and
the messages of a conversation are read only when its own times say it can have messages in the window
(:meth:`ConversationSelection.may_hold`): created before the window's end, and updated (its last
message) at or after the window's start. That pruning trusts the service to move ``updated_at`` with
each new message; ``prune=False`` reads every conversation's messages instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.api.timestamps import parse_timestamp
from xentree_provider.exports.window import BEFORE, INSIDE, TimeWindow, field_instant

__all__ = ["ConversationSelection", "optional_instant"]


def optional_instant(record: Mapping[str, Any], field: str, what: str) -> datetime | None:
    """The timestamp ``field`` of ``record``, None when absent; a clear error when it is garbled."""
    value = record.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise XentreeResponseError(f"{what} {record.get('id')!r}: {field!r} is not a timestamp: {value!r}")
    try:
        return parse_timestamp(value)
    except ValueError as error:
        raise XentreeResponseError(f"{what} {record.get('id')!r}: {error}") from None


@dataclass(frozen=True)
class ConversationSelection:
    """The messages created in ``window``, grouped by conversation.

    :param window: the half-open window on each message's ``created_at``.
    :param prune: skip reading the messages of conversations whose ``created_at`` / ``updated_at`` say
        they have none in the window (see the module docstring).
    """

    window: TimeWindow
    prune: bool = True

    def may_hold(self, conversation: Mapping[str, Any]) -> bool:
        """Whether ``conversation`` (a list record) can have messages created in the window."""
        if not self.prune:
            return True
        created = optional_instant(conversation, "created_at", "conversation")
        if created is not None and self.window.end is not None and created >= self.window.end:
            return False
        updated = optional_instant(conversation, "updated_at", "conversation")
        return updated is None or self.window.position(updated) != BEFORE

    def messages_in_window(
        self, conversation_id: str, messages: Iterable[Mapping[str, Any]]
    ) -> list[Mapping[str, Any]]:
        """The messages created in the window, sorted by ``(created_at, id)``, each message once.

        A message without a readable ``created_at`` cannot be placed in any window: that is an error
        naming the conversation and the message.
        """
        chosen: dict[str, tuple[datetime, Mapping[str, Any]]] = {}
        for message in messages:
            mid = message.get("id") if isinstance(message, Mapping) else None
            if not isinstance(mid, str | int) or isinstance(mid, bool) or mid == "":
                raise XentreeResponseError(
                    f"a message of conversation {conversation_id!r} has no id: {message!r:.200}"
                )
            try:
                created = field_instant(message, "created_at")
            except XentreeResponseError as error:
                raise XentreeResponseError(f"conversation {conversation_id!r}: {error.message}") from None
            if self.window.position(created) == INSIDE:
                chosen[str(mid)] = (created, message)
        ordered = sorted(chosen.items(), key=lambda item: (item[1][0], item[0]))
        return [message for _, (_, message) in ordered]

    def describe(self) -> str:
        """The window and what it applies to, e.g. ``message created_at in [..., ...)``."""
        return f"message created_at in {self.window.describe()}"
