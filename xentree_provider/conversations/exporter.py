"""The concurrent conversation exporter: list the conversations, fetch their messages, write in order.

1. the whole conversation list is read (it is not documented as sorted, so no early stop), then read
   again until a pass brings no conversation unseen (:meth:`ConversationExporter.select`); the
   conversations that may have messages in the window
   (:meth:`~xentree_provider.conversations.selection.ConversationSelection.may_hold`) are kept, each
   once, and sorted by ``(created_at, id)``;
2. each kept conversation's messages are fetched (every page) by a thread pool with
   :func:`~xentree_provider.exports.fetching.fetch_in_order`, at most ``max_workers`` at a time and
   a bounded number ahead of the writer; before each fetch the exporter asks its
   :class:`~xentree_provider.exports.fetching.FetchConcurrency` for a slot;
3. a conversation with messages in the window is written with just those, in ``(created_at, id)``
   order, through a writer of :mod:`~xentree_provider.conversations.writers`; one without is left out.

No Airflow here: the client is anything with the methods of :class:`ConversationClient` (the sync
``XentreeHook`` has them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from xentree_provider.api.errors import XentreeNotFoundError, XentreeResponseError
from xentree_provider.conversations.records import canonical_conversation
from xentree_provider.conversations.selection import ConversationSelection, optional_instant
from xentree_provider.conversations.writers import record_writer
from xentree_provider.exports.fetching import FetchConcurrency, FixedConcurrency, fetch_in_order
from xentree_provider.exports.window import TimeWindow

__all__ = ["MAX_LIST_PASSES", "ConversationClient", "ConversationExportResult", "ConversationExporter"]

MAX_LIST_PASSES = 4
"""Passes over the conversation list before a list that keeps changing is an error."""

_log = logging.getLogger(__name__)
_Fetched = tuple[Mapping[str, Any], "list[Mapping[str, Any]] | None"]


class ConversationClient(Protocol):
    """What the exporter calls on its client (the sync ``XentreeHook`` has both; thread-safe)."""

    def iter_conversations(self, *, page_size: int = ...) -> Iterator[Any]:
        """Every conversation (``id``, ``title``, ``created_at``, ``updated_at``), pages read lazily."""
        ...

    def iter_conversation_messages(self, conversation_id: str, *, page_size: int = ...) -> Iterator[Any]:
        """Every message of one conversation."""
        ...


@dataclass
class ConversationExportResult:
    """What an export wrote."""

    conversations: int = 0
    """Conversations written (each has at least one message in the window)."""
    messages: int = 0
    """Messages written (0 when ``fields`` leaves ``messages`` out)."""
    rows: int = 0
    """Rows of the file: one per conversation, or per message in CSV."""
    listed: int = 0
    """Conversations whose messages were read."""
    missing: list[str] = field(default_factory=list)
    """Conversations deleted between the list and the read of their messages."""


class ConversationExporter:
    """Exports the messages of a window, grouped by conversation, with a client such as
    :class:`~xentree_provider.hooks.xentree.XentreeHook`.

    :param client: the client (thread-safe; e.g. the hook, whose pooled session serves every worker).
    :param window: the ``[start, end)`` window on messages' ``created_at``, or a
        :class:`~xentree_provider.conversations.selection.ConversationSelection`.
    :param max_workers: threads reading messages.
    :param page_size: list page size (conversations and messages).
    :param log: where progress goes (default: the client's ``log``, else this module's logger).
    :param concurrency: asked for a slot before each conversation's read; default
        :class:`~xentree_provider.exports.fetching.FixedConcurrency` of ``max_workers``.
    """

    def __init__(
        self,
        client: ConversationClient,
        window: TimeWindow | ConversationSelection,
        *,
        max_workers: int = 8,
        page_size: int = 200,
        log: Any = None,
        concurrency: FetchConcurrency | None = None,
    ) -> None:
        self.client = client
        self.selection = (
            window if isinstance(window, ConversationSelection) else ConversationSelection(window)
        )
        self.max_workers = max_workers
        self.page_size = page_size
        self.log: Any = log or getattr(client, "log", None) or _log
        self.concurrency: FetchConcurrency = concurrency or FixedConcurrency(max_workers)

    def select(self) -> list[Mapping[str, Any]]:
        """The list records of the conversations to read, sorted by ``(created_at, id)``, each once.

        The list is read again from its start until a pass brings no conversation not seen before
        that can matter to the window (a list that shifts while it is paged, e.g. most recently
        updated first while people chat, skips some): at most :data:`MAX_LIST_PASSES` passes, then a
        :class:`~xentree_provider.api.errors.XentreeResponseError` saying the list kept changing.
        """
        latest: dict[str, Mapping[str, Any]] = {}
        for done in range(1, MAX_LIST_PASSES + 1):
            unseen = self._list_pass(latest)
            if done > 1 and not unseen:
                break
            if done > 1:
                self.log.info(
                    "List pass %d found %d conversation(s) the earlier passes missed (the list shifted "
                    "while it was read): %s",
                    done,
                    len(unseen),
                    ", ".join(unseen[:10]),
                )
        else:
            raise XentreeResponseError(
                f"the conversation list kept changing while it was read: each of {MAX_LIST_PASSES} "
                f"passes brought conversations not seen before (last: {', '.join(unseen[:10])}), so "
                "the export cannot know it has them all; nothing was written. Re-run when fewer "
                "conversations are being created or updated."
            )
        chosen = {cid: record for cid, record in latest.items() if self.selection.may_hold(record)}
        self.log.info(
            "Window %s: %d of %d conversation(s) may have messages in it",
            self.selection.describe(),
            len(chosen),
            len(latest),
        )
        keyed = [
            (optional_instant(record, "created_at", "conversation"), cid, record)
            for cid, record in chosen.items()
        ]
        keyed.sort(key=lambda item: (item[0] is not None, item[0], item[1]))
        return [record for _, _, record in keyed]

    def _list_pass(self, latest: dict[str, Mapping[str, Any]]) -> list[str]:
        """Read the whole list once into ``latest`` (id to its newest record); return the ids not
        seen before whose creation can fall before the window's end."""
        unseen: list[str] = []
        end = self.selection.window.end
        for record in self.client.iter_conversations(page_size=self.page_size):
            cid = record.get("id") if isinstance(record, Mapping) else None
            if not isinstance(cid, str) or not cid:
                raise XentreeResponseError(f"a conversation in the list has no id: {record!r:.200}")
            if cid not in latest:
                created = optional_instant(record, "created_at", "conversation")
                if created is None or end is None or created - self.selection.tolerance < end:
                    unseen.append(cid)
            latest[cid] = record
        return unseen

    def _fetch(self, conversation: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
        cid = str(conversation["id"])
        try:
            with self.concurrency.slot():
                pages = self.client.iter_conversation_messages(cid, page_size=self.page_size)
                return self.selection.messages_in_window(conversation, pages)  # filtered page by page
        except XentreeNotFoundError:
            return None

    def fetch_in_order(self, conversations: Iterable[Mapping[str, Any]]) -> Iterator[_Fetched]:
        """Yield ``(conversation, its messages in the window, or None if deleted meanwhile)`` in order."""
        return fetch_in_order(conversations, self._fetch, max_workers=self.max_workers)

    def write(
        self,
        conversations: Sequence[Mapping[str, Any]],
        stream: IO[Any],
        export_format: str,
        *,
        prepare: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
        fields: Sequence[str] | None = None,
    ) -> ConversationExportResult:
        """Read the messages of ``conversations`` and write those with messages in the window to
        ``stream`` in order (binary for Parquet, else text).

        :param prepare: applied to each canonical record before it is written (e.g.
            :meth:`xentree_provider.redaction.RecordRedactor.apply`).
        :param fields: the top-level record fields written (None: all); ``prepare`` keeps the same.
        """
        writer = record_writer(export_format, stream, fields)
        writer.header()
        result = ConversationExportResult(listed=len(conversations))
        with_messages = fields is None or "messages" in fields
        last_log = time.monotonic()
        for done, (conversation, messages) in enumerate(self.fetch_in_order(conversations), start=1):
            if messages is None:
                self.log.warning(
                    "Conversation %s was deleted after it was listed; it is not exported", conversation["id"]
                )
                result.missing.append(str(conversation["id"]))
                continue
            if not messages:
                continue
            record = canonical_conversation(conversation, messages)
            written = prepare(record) if prepare is not None else record
            result.rows += writer.write(written)
            result.conversations += 1
            if with_messages:  # what the file holds: none when ``fields`` leaves them out
                result.messages += len(written.get("messages") or ())
            if time.monotonic() - last_log > 30:
                last_log = time.monotonic()
                self.log.info("Read %d of %d conversations", done, len(conversations))
        writer.finish()
        return result
