"""Which conversations, and which of their messages, a time window takes.

Messages are immutable and carry ``created_at``: a window ``[start, end)`` takes the messages created
in it, so over consecutive windows every message is in exactly one file. A conversation is in a file
when it has messages in the window, with just those messages.

The conversation list is not documented as sorted or filterable, so every conversation is listed, and
by default every conversation's messages are read: the contract lists a conversation's ``updated_at``
but does not pin what moves it, so it cannot prove that a conversation has no message in the window.
``prune=True`` (:meth:`ConversationSelection.may_hold`) reads only the conversations whose own times
allow messages in the window, give or take :data:`PRUNE_TOLERANCE`: created before the window's end,
and updated at or after its start. It trusts the service to move ``updated_at`` with each new message,
and checks that trust on every conversation it reads
(:meth:`ConversationSelection.messages_in_window`): a message outside the conversation's own
``[created_at, updated_at]`` (with the tolerance) fails the export, naming ``prune=False``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.api.timestamps import parse_timestamp
from xentree_provider.exports.window import BEFORE, INSIDE, TimeWindow, field_instant

__all__ = ["PRUNE_TOLERANCE", "ConversationSelection", "optional_instant"]

PRUNE_TOLERANCE = timedelta(minutes=5)
"""How far a message may lie outside its conversation's ``[created_at, updated_at]`` when pruning
(clocks of a service's parts and its write order can differ a little)."""


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
        they have none in the window, and check those times on every conversation read (see the
        module docstring). Off by default: the contract does not pin ``updated_at``.
    :param tolerance: how far a message may lie outside its conversation's times when pruning.
    """

    window: TimeWindow
    prune: bool = False
    tolerance: timedelta = PRUNE_TOLERANCE

    def may_hold(self, conversation: Mapping[str, Any]) -> bool:
        """Whether ``conversation`` (a list record) can have messages created in the window."""
        if not self.prune:
            return True
        created = optional_instant(conversation, "created_at", "conversation")
        end = self.window.end
        if created is not None and end is not None and created - self.tolerance >= end:
            return False
        updated = optional_instant(conversation, "updated_at", "conversation")
        return updated is None or self.window.position(updated + self.tolerance) != BEFORE

    def messages_in_window(
        self, conversation: Mapping[str, Any], messages: Iterable[Mapping[str, Any]]
    ) -> list[Mapping[str, Any]]:
        """The messages created in the window, sorted by ``(created_at, id)``, each message once.

        ``conversation`` is the list record; ``messages`` may be a lazy iterator (only the window's
        messages are kept). A message without a readable ``created_at`` cannot be placed in any
        window: that is an error naming the conversation and the message. When pruning, a message
        that shows the conversation's ``created_at`` / ``updated_at`` cannot be trusted is an error too.
        """
        conversation_id = str(conversation.get("id"))
        check = self._trust_check(conversation)
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
            if check is not None:
                check(message, created)
            if self.window.position(created) == INSIDE:
                chosen[str(mid)] = (created, message)
        ordered = sorted(chosen.items(), key=lambda item: (item[1][0], item[0]))
        return [message for _, (_, message) in ordered]

    def _trust_check(
        self, conversation: Mapping[str, Any]
    ) -> Callable[[Mapping[str, Any], datetime], None] | None:
        """When pruning: a check that a message lies within ``conversation``'s own times (a message
        saved after the window's end may be newer than the list record, so it is not checked)."""
        if not self.prune:
            return None
        cid = conversation.get("id")
        created = optional_instant(conversation, "created_at", "conversation")
        updated = optional_instant(conversation, "updated_at", "conversation")
        end = self.window.end

        def check(message: Mapping[str, Any], stamp: datetime) -> None:
            if end is not None and stamp >= end:
                return
            if created is not None and stamp < created - self.tolerance:
                problem = f"before the conversation's created_at {conversation.get('created_at')}"
            elif updated is not None and stamp > updated + self.tolerance:
                problem = f"after the conversation's updated_at {conversation.get('updated_at')}"
            else:
                return
            raise XentreeResponseError(
                f"conversation {cid!r}: message {message.get('id')!r} was created at "
                f"{message.get('created_at')}, {problem} (more than {self.tolerance} off), so this "
                "service's conversation times cannot be trusted to prune with: export with prune=False, "
                "which reads every conversation's messages"
            )

        return check

    def describe(self) -> str:
        """The window and what it applies to, e.g. ``message created_at in [..., ...)``."""
        return f"message created_at in {self.window.describe()}"
