"""Conversation operators: ask Xentree's assistant for a response (e.g. a summary for a report)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from xentree_provider._task.hooked import UsesXentreeHook, fail_fast_on_bad_config
from xentree_provider.api.errors import XentreeConfigError

__all__ = ["DEFAULT_MAX_PROMPT_CHARS", "XentreeGenerateResponseOperator"]

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
