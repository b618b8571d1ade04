"""Conversation operators: ask Xentree's assistant for a response (e.g. a summary for a report), and
export the AI conversations and their messages of a time window to a file.

The export's selection, records, writers and exporter live in :mod:`xentree_provider.conversations`;
the shared file-export plumbing in :mod:`xentree_provider._task.exports`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator, Context

from xentree_provider._task.exports import DEFAULT_SETTLE, ExportsToFile, export_arguments
from xentree_provider._task.hooked import UsesXentreeHook, fail_fast_on_bad_config
from xentree_provider._task.lineage import ApiInput, FileOutput, Lineage
from xentree_provider._task.window import interval_window
from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.api.routes import route
from xentree_provider.conversations.exporter import ConversationExporter, ConversationExportResult
from xentree_provider.conversations.schema import RECORD_FIELDS, export_schema
from xentree_provider.conversations.selection import ConversationSelection
from xentree_provider.exports.errors import XentreeEmptyWindowError
from xentree_provider.exports.window import TimeWindow

if TYPE_CHECKING:
    pass

__all__ = [
    "DEFAULT_MAX_PROMPT_CHARS",
    "XentreeConversationExportOperator",
    "XentreeEmptyWindowError",
    "XentreeGenerateResponseOperator",
]

#: The longest prompt (in characters, after rendering) sent by default. Xentree documents no limit;
#: this keeps a prompt well inside the context window of the models Xentree routes to. A longer
#: prompt is an error, never cut silently.
DEFAULT_MAX_PROMPT_CHARS = 32_000


def _prompt_text(value: Any) -> str:
    """The rendered prompt as text (native-rendered lists and dicts become JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str, indent=1)


class XentreeGenerateResponseOperator(UsesXentreeHook, BaseOperator):
    """Send a prompt to Xentree's "generate an AI response" endpoint; return the content and model.

    The prompt is templated, so it can carry upstream results, e.g.
    ``prompt="Summarise these transcripts for the weekly report:\\n{{ ti.xcom_pull('export') }}"``
    (with ``render_template_as_native_obj=True`` a list or dict is sent as JSON). A prompt longer than
    ``max_prompt_chars`` (counting ``conversation_history`` too) fails the task with a message saying
    how long it was; it is never cut.

    Returns ``{"content", "model", "provider", "conversation_id", "usage", "prompt_chars"}``.

    :param prompt: the message to send. Templated.
    :param provider: model or routing mode (``"auto"`` lets Xentree choose). Templated.
    :param user_language: response-language hint such as ``"en"``. Templated.
    :param conversation_id: add the exchange to this conversation. Templated.
    :param conversation_history: prior turns, ``[{"role": "user"|"assistant", "content": ...}]``.
        Templated.
    :param max_prompt_chars: the longest prompt accepted (default ``32000`` characters).
    :param xentree_conn_id: the Xentree connection (``conversations:write`` with an API key). Templated.
    """

    template_fields: Sequence[str] = (
        "xentree_conn_id",
        "prompt",
        "provider",
        "user_language",
        "conversation_id",
        "conversation_history",
    )
    template_fields_renderers = {"prompt": "md", "conversation_history": "json"}
    ui_color = "#fae8ff"

    def __init__(
        self,
        *,
        prompt: Any,
        provider: str = "auto",
        user_language: str | None = None,
        conversation_id: str | None = None,
        conversation_history: Sequence[Mapping[str, str]] | None = None,
        max_prompt_chars: int = DEFAULT_MAX_PROMPT_CHARS,
        xentree_conn_id: str = "xentree_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_prompt_chars < 1:
            raise ValueError(f"max_prompt_chars must be >= 1, got {max_prompt_chars}")
        self.prompt = prompt
        self.provider = provider
        self.user_language = user_language
        self.conversation_id = conversation_id
        self.conversation_history = conversation_history
        self.max_prompt_chars = max_prompt_chars
        self.xentree_conn_id = xentree_conn_id

    def _history(self) -> list[Mapping[str, str]] | None:
        history = self.conversation_history
        if history in (None, "", []):
            return None
        if isinstance(history, str):
            try:
                history = json.loads(history)
            except ValueError:
                raise XentreeConfigError("conversation_history must be a list of {role, content}") from None
        turns: list[Mapping[str, str]] = []
        for turn in history or []:
            if not isinstance(turn, Mapping) or "role" not in turn or "content" not in turn:
                raise XentreeConfigError(
                    f"conversation_history items must be {{'role': ..., 'content': ...}}, got {turn!r}"
                )
            turns.append({"role": str(turn["role"]), "content": str(turn["content"])})
        return turns

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> dict[str, Any]:
        """Check the prompt's size, ask Xentree, return the reply's content and model."""
        prompt = _prompt_text(self.prompt)
        if not prompt.strip():
            raise XentreeConfigError(
                "the prompt is empty after rendering; check the template and the upstream XCom it reads"
            )
        history = self._history()
        size = len(prompt) + sum(len(t["content"]) for t in history or [])
        if size > self.max_prompt_chars:
            raise XentreeConfigError(
                f"the prompt is {size:,} characters (with its conversation history), over "
                f"max_prompt_chars={self.max_prompt_chars:,}; nothing was sent. Shorten the input "
                "upstream (summarise or filter it), split it across mapped tasks with .expand(), or raise "
                "max_prompt_chars if your Xentree plan accepts longer messages"
            )
        reply = self.hook.generate_response(
            prompt,
            provider=str(self.provider or "auto"),
            conversation_history=history,
            user_language=self.user_language or None,
            conversation_id=self.conversation_id or None,
        )
        content = str(reply.get("content") or "")
        self.log.info(
            "Xentree answered with %d character(s) (provider %s, model %s)",
            len(content),
            reply.get("provider"),
            reply.get("model"),
        )
        usage = reply.get("usage")
        return {
            "content": content,
            "model": reply.get("model"),
            "provider": reply.get("provider"),
            "conversation_id": reply.get("conversation_id"),
            "usage": dict(usage) if isinstance(usage, Mapping) else None,
            "prompt_chars": size,
        }


class XentreeConversationExportOperator(ExportsToFile, BaseOperator):
    """Exports the AI conversations of a time window, with their messages of that window, to a file.

    The window is the run's data interval (``data_interval_start`` inclusive, ``data_interval_end``
    exclusive) unless ``start`` / ``end`` are given. It applies to each message's ``created_at``: a
    conversation is in the file when it has messages created in the window, with just those messages
    (sorted by ``(created_at, id)``), so over consecutive windows every message lands in exactly one
    file. Conversations are sorted by ``(created_at, id)``. A run that starts between ``end`` and
    ``end + settle`` first waits in the triggerer, so messages saved at the window's end are in.
    The file is written beside the destination and moved into place when complete; a re-run over the
    same data writes the same bytes (a conversation's ``title`` and ``updated_at`` are as of the run).

    ``jsonl``: one conversation per line, ``{"id", "title", "created_at", "updated_at", "messages":
    [{"id", "role", "content", "created_at"}]}``. ``csv``: a header, then one row per message (columns
    :data:`~xentree_provider.conversations.schema.CSV_COLUMNS`). ``parquet``: one row per conversation,
    messages a list of structs (:data:`~xentree_provider.conversations.schema.CONVERSATION_SCHEMA`;
    needs the ``parquet`` extra). ``redact``, ``redaction`` and ``fields`` work as on the transcript
    export (conversation titles and message contents are redacted; ids, roles and times never).

    Returns ``{"path", "count", "messages", "bytes", "format", "compression", "window", "missing",
    "asset", "redactions"}`` (``count``: conversations written; ``missing``: deleted before their
    messages were read), also on the output Asset's event.

    :param output_path: destination (templated): an absolute local path or a URL (``file://``,
        ``s3://``, ``gs://``, ...).
    :param xentree_conn_id: the Xentree connection id (``conversations:read``; templated).
    :param start: window start, ISO date or datetime (templated); default the data interval start.
    :param end: window end, exclusive (templated); default the data interval end.
    :param settle: how long after the window's end saves still in flight may land (a ``timedelta``
        or seconds; default 5 minutes).
    :param export_format: ``jsonl``, ``csv`` or ``parquet``.
    :param compression: None or ``gzip`` (``jsonl`` + ``gzip`` is ``.jsonl.gz``); Parquet takes None.
    :param output_conn_id: Airflow connection for remote storage (templated).
    :param max_workers: conversations whose messages are read concurrently (1..32).
    :param page_size: list page size (1..200).
    :param prune: False (default) reads every conversation's messages, complete on any service; True
        reads only those whose ``created_at`` / ``updated_at`` allow messages in the window, trusting
        the service to move ``updated_at`` with each message, and fails when a conversation read
        shows it does not (see :mod:`~xentree_provider.conversations.selection`).
    :param fail_on_empty: fail (``XentreeEmptyWindowError``) instead of writing an empty file.
    :param asset: the Asset outlet: None derives it from ``output_path``, a string is an Asset URI, an
        ``Asset`` is used as is, False disables.
    :param hook_overrides: keyword overrides for the hook (``timeout``, ``max_retries``, ...).
    :param stale_temp_age: age after which killed tries' temporaries beside ``output_path`` are removed.
    :param redact: ``"email"``, ``"phone"`` and custom regexes to redact; None redacts nothing.
    :param redaction: ``"mask"`` or ``"hash"`` (keyed HMAC-SHA256).
    :param fields: the top-level fields to write (of ``id``, ``title``, ``created_at``,
        ``updated_at``, ``messages``); ``id`` is always written. None writes all.
    :param redaction_key_conn_id: with ``hash``, a connection whose password is the HMAC key.
    :param redaction_key_variable: with ``hash``, or an Airflow Variable holding the key.
    """

    template_fields: Sequence[str] = ("xentree_conn_id", "start", "end", "output_path", "output_conn_id")
    exported_records = "messages"
    ui_color = "#fae8ff"
    summary_in_asset_event = ("path", "count", "messages", "bytes", "format", "window", "redactions")

    def __init__(
        self,
        *,
        output_path: str,
        xentree_conn_id: str = "xentree_default",
        start: Any = None,
        end: Any = None,
        settle: timedelta | float = DEFAULT_SETTLE,
        export_format: str = "jsonl",
        compression: str | None = None,
        output_conn_id: str | None = None,
        max_workers: int = 8,
        page_size: int = 200,
        prune: bool = False,
        fail_on_empty: bool = False,
        asset: Asset | str | bool | None = None,
        hook_overrides: Mapping[str, Any] | None = None,
        stale_temp_age: timedelta | float = timedelta(hours=1),
        redact: Sequence[str] | str | None = None,
        redaction: str = "mask",
        fields: Sequence[str] | None = None,
        redaction_key_conn_id: str | None = None,
        redaction_key_variable: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(prune, bool):
            raise ValueError(f"prune must be True or False, got {prune!r}")
        arguments = export_arguments(
            kwargs,
            output_path=output_path,
            export_format=export_format,
            compression=compression,
            max_workers=max_workers,
            page_size=page_size,
            settle=settle,
            stale_temp_age=stale_temp_age,
            asset=asset,
            redact=redact,
            redaction=redaction,
            fields=fields,
            redaction_key_conn_id=redaction_key_conn_id,
            redaction_key_variable=redaction_key_variable,
            available_fields=RECORD_FIELDS,
        )
        super().__init__(**kwargs)
        self.set_export_arguments(
            arguments,
            output_path=output_path,
            xentree_conn_id=xentree_conn_id,
            start=start,
            end=end,
            output_conn_id=output_conn_id,
            fail_on_empty=fail_on_empty,
            hook_overrides=hook_overrides,
        )
        self.prune = prune

    def _selection(self, context: Context) -> ConversationSelection:
        return ConversationSelection(
            TimeWindow(*interval_window(context, self.start, self.end)), prune=self.prune
        )

    def _exporter(self, context: Context, selection: ConversationSelection) -> ConversationExporter:
        return ConversationExporter(
            self.hook,
            selection,
            max_workers=self.max_workers,
            page_size=self.page_size,
            log=self.log,
            concurrency=self.hook.throttle,  # lowered on 429s, shared with every thread of the hook
        )

    def _written(self, result: ConversationExportResult) -> int:
        return result.conversations  # each has at least one message in the window

    def _summary(
        self, path: str, size: int, window: TimeWindow, result: ConversationExportResult
    ) -> dict[str, Any]:
        self.log.info(
            "Exported %d conversation(s), %d message(s), %d bytes to %s",
            result.conversations,
            result.messages,
            size,
            path,
        )
        return self.export_summary(
            path, size, window, result.conversations, len(result.missing), messages=result.messages
        )

    def _lineage(self, size: int | None = None, rows: int | None = None) -> Lineage:
        base_url = self.hook.settings.base_url
        sources = tuple(
            ApiInput(base_url, route(name).path)
            for name in ("list_conversations", "list_conversation_messages")
        )
        schema = export_schema(self.export_format, self.redaction_options.fields)
        return Lineage(sources, (FileOutput(str(self._destination()), schema, rows, size),))

    def planned_lineage(self) -> Lineage:
        """The conversation endpoints and the export file (for OpenLineage)."""
        return self._lineage()
