"""XentreeGenerateResponseOperator over real HTTP: content and model back, long prompts refused."""

from __future__ import annotations

import json

import pytest

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.operators.conversations import XentreeGenerateResponseOperator
from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox(xentree_sandbox_clean: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """A clean sandbox; ``xentree_default`` uses the full API key (``conversations:write``)."""
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", xentree_sandbox_clean.connection_env("full"))
    return xentree_sandbox_clean


def _chat_requests(sandbox: SandboxServer) -> int:
    counters = json.dumps(sandbox.counters())
    return counters.count("/api/core/chat")


def test_response_content_and_model(sandbox: SandboxServer) -> None:
    result = XentreeGenerateResponseOperator(
        task_id="summarise",
        prompt=["transcript one", "transcript two"],  # a natively rendered XCom is sent as JSON
        provider="anthropic",
        user_language="en",
    ).execute({})  # type: ignore[arg-type]
    assert result["content"].startswith("Here is a structured answer to:")
    assert "transcript one" in result["content"]
    assert result["model"] == "claude-sonnet"
    assert result["provider"] == "anthropic"
    assert result["usage"]["total_tokens"] > 0
    json.dumps(result)


def test_conversation_and_history(sandbox: SandboxServer) -> None:
    from xentree_provider.hooks.xentree import XentreeHook

    conversation = XentreeHook().create_conversation("Weekly report")
    result = XentreeGenerateResponseOperator(
        task_id="follow_up",
        prompt="And in two sentences?",
        conversation_id=conversation["id"],
        conversation_history=[
            {"role": "user", "content": "Summarise the week"},
            {"role": "assistant", "content": "A busy week."},
        ],
    ).execute({})  # type: ignore[arg-type]
    assert result["usage"]["prompt_tokens"] == 4 + 3 + 3  # the prompt and both history turns, in words
    assert result["model"] == "gpt-5-mini"
    assert result["conversation_id"] == conversation["id"]
    messages = list(XentreeHook().iter_conversation_messages(conversation["id"]))
    assert [m["role"] for m in messages[-2:]] == ["user", "assistant"]
    assert messages[-1]["content"] == result["content"]


def test_long_prompt_is_a_clear_error_and_nothing_is_sent(sandbox: SandboxServer) -> None:
    sandbox.reset_counters()
    operator = XentreeGenerateResponseOperator(task_id="too_long", prompt="x" * 1001, max_prompt_chars=1000)
    with pytest.raises(
        XentreeConfigError, match=r"1,001 characters.*max_prompt_chars=1,000.*nothing was sent"
    ):
        operator.execute({})  # type: ignore[arg-type]
    history = XentreeGenerateResponseOperator(
        task_id="long_history",
        prompt="short",
        max_prompt_chars=100,
        conversation_history=[{"role": "user", "content": "y" * 100}],
    )
    with pytest.raises(XentreeConfigError, match="105 characters"):
        history.execute({})  # type: ignore[arg-type]
    with pytest.raises(XentreeConfigError, match="prompt is empty"):
        XentreeGenerateResponseOperator(task_id="empty", prompt="  ").execute({})  # type: ignore[arg-type]
    assert _chat_requests(sandbox) == 0
