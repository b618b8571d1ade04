"""Knowledge-base operators over real HTTP: XCom cap, JSON-lines output, empty results, RAG answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from xentree_provider.api.errors import XentreeConfigError, XentreePermissionError
from xentree_provider.operators.knowledge import (
    XentreeEmptyResultError,
    XentreeKnowledgeSearchOperator,
    XentreeRagQueryOperator,
)
from xentree_provider.testing import SandboxServer

pytestmark = pytest.mark.integration


@pytest.fixture
def sandbox(xentree_sandbox_clean: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """A clean sandbox; ``xentree_default`` uses the read-only API key (it has ``rag:read``)."""
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", xentree_sandbox_clean.connection_env("readonly"))
    return xentree_sandbox_clean


def _search(**kwargs: Any) -> dict[str, Any]:
    return XentreeKnowledgeSearchOperator(task_id="kb", **kwargs).execute({})  # type: ignore[arg-type]


def test_hits_go_to_xcom_capped_by_max_results(sandbox: SandboxServer) -> None:
    result = _search(query="learning path", limit="5", max_results=5)
    assert result["count"] == 5
    assert len(result["results"]) == 5
    assert result["truncated"] is False
    assert result["output_path"] is None
    scores = [hit["score"] for hit in result["results"]]
    assert scores == sorted(scores, reverse=True)
    assert all(
        "learning path" in hit["content"].lower() or "learning" in hit["content"].lower()
        for hit in result["results"]
    )
    json.dumps(result)  # XCom-able

    with pytest.raises(XentreeConfigError, match=r"limit=30 is more than max_results=20.*output_path"):
        _search(query="learning path", limit=30)


def test_hits_written_as_json_lines(sandbox: SandboxServer, tmp_path: Path) -> None:
    target = tmp_path / "kb" / "hits.jsonl"
    result = _search(query="team release plan", limit=40, output_path=str(target))
    assert result["results"] == []
    assert result["output_path"] == target.as_uri().replace("file:///", "file:///")
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == result["count"] > 20
    assert [line["rank"] for line in lines] == list(range(1, len(lines) + 1))
    assert set(lines[0]) == {"query", "rank", "id", "score", "source", "content", "metadata"}
    assert {line["query"] for line in lines} == {"team release plan"}


def test_empty_results_are_normal_unless_asked_to_fail(sandbox: SandboxServer, tmp_path: Path) -> None:
    empty = _search(query="zzyzx quux")
    assert empty == {
        "query": "zzyzx quux",
        "count": 0,
        "results": [],
        "truncated": False,
        "output_path": None,
    }
    written = _search(query="zzyzx quux", output_path=str(tmp_path / "none.jsonl"))
    assert written["count"] == 0
    assert (tmp_path / "none.jsonl").read_text() == ""
    with pytest.raises(XentreeEmptyResultError, match="no hits for 'zzyzx quux'"):
        _search(query="zzyzx quux", fail_on_empty=True)
    with pytest.raises(XentreeConfigError, match="query is empty"):
        _search(query="  ")
    with pytest.raises(XentreeConfigError, match="filters may not set limit"):
        _search(query="x", filters={"limit": 3})


def test_rag_answer_with_sources(sandbox: SandboxServer, tmp_path: Path) -> None:
    result = XentreeRagQueryOperator(
        task_id="rag", query="pronunciation", output_path=str(tmp_path / "answer.json"), max_sources=2
    ).execute({})  # type: ignore[arg-type]
    assert result["answer"].startswith("Based on")
    assert result["source_count"] == 3
    assert len(result["sources"]) == 2
    assert all("source" in s and "id" in s for s in result["sources"])
    saved = json.loads((tmp_path / "answer.json").read_text())
    assert saved["answer"] == result["answer"]
    assert len(saved["sources"]) == 3

    nothing = XentreeRagQueryOperator(task_id="rag2", query="zzyzx quux").execute({})  # type: ignore[arg-type]
    assert nothing["source_count"] == 0 and nothing["answer"]
    with pytest.raises(XentreeEmptyResultError, match="without any source"):
        XentreeRagQueryOperator(task_id="rag3", query="zzyzx quux", fail_on_empty=True).execute({})  # type: ignore[arg-type]


def test_missing_rag_scope_is_a_permission_error(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_DEFAULT", sandbox.connection_env("live"))
    with pytest.raises(XentreePermissionError) as info:
        _search(query="learning path")
    assert info.value.required_scope == "rag:read"
