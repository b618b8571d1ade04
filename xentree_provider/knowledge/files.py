"""What the knowledge-base operators write: search hits as JSON lines, a RAG answer as one JSON document.

Keys are sorted so the same API answer always gives the same bytes; the schemas describe the files for
their documentation and lineage.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from xentree_provider.tabular.schema import Column

__all__ = ["ANSWER_SCHEMA", "HIT_SCHEMA", "answer_document", "hit_lines"]

#: One line of a search-hits file.
HIT_SCHEMA: tuple[Column, ...] = (
    Column("query", "string", "the text searched for"),
    Column("rank", "int64", "1 for the best hit"),
    Column("id", "string", "the document's id"),
    Column("score", "float64", "relevance as the API gave it"),
    Column("source", "string", "where the document comes from"),
    Column("content", "string", "the matching text"),
    Column("metadata", "json", "the document's metadata ({} when none)"),
)

#: The RAG answer document.
ANSWER_SCHEMA: tuple[Column, ...] = (
    Column("query", "string", "the question"),
    Column("answer", "string", "the synthesised answer"),
    Column("sources", "list", "the sources, as the API gave them", (Column("element", "json"),)),
)


def hit_lines(query: str, hits: Iterable[Mapping[str, Any]]) -> Iterable[str]:
    """One JSON line per hit, ranked from 1, in :data:`HIT_SCHEMA`'s fields."""
    for rank, hit in enumerate(hits, start=1):
        line = {
            "query": query,
            "rank": rank,
            "id": hit.get("id"),
            "score": hit.get("score"),
            "source": hit.get("source"),
            "content": hit.get("content"),
            "metadata": hit.get("metadata") or {},
        }
        yield json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n"


def answer_document(query: str, answer: str, sources: Sequence[Any]) -> str:
    """The answer file's text: ``{"query", "answer", "sources"}`` and a line end."""
    return json.dumps({"query": query, "answer": answer, "sources": list(sources)}, ensure_ascii=False) + "\n"
