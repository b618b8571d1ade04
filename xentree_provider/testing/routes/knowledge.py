"""``/api/knowledge/search`` and ``/api/rag/query``: the knowledge base."""

# No "from __future__ import annotations": FastAPI reads the Annotated aliases at import time.

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from xentree_provider.testing.dependencies import Authenticated, CurrentState, Principal
from xentree_provider.testing.responses import timestamp
from xentree_provider.testing.schemas import KnowledgeQuery
from xentree_provider.testing.scoring import score_text
from xentree_provider.testing.state import SandboxState

router = APIRouter()
KnowledgeReader = Annotated[Principal, Depends(Authenticated("rag:read"))]


def search_hits(state: SandboxState, query: str, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` best documents for ``query``, best first."""
    scored = []
    for document in state.world.documents:
        score = score_text(query, f"{document['title']} {document['content']}", document["id"])
        if score > 0:
            scored.append((score, document))
    scored.sort(key=lambda hit: (-hit[0], hit[1]["id"]))
    return [
        {
            "id": document["id"],
            "content": document["content"],
            "score": score,
            "source": document["source"],
            "metadata": {
                **document["metadata"],
                "title": document["title"],
                "updated_at": timestamp(state, document["metadata"]["updated_at"]),
            },
        }
        for score, document in scored[:limit]
    ]


@router.post("/api/knowledge/search")
async def knowledge_search(
    state: CurrentState, caller: KnowledgeReader, body: KnowledgeQuery
) -> dict[str, Any]:
    """Search the knowledge base."""
    return {"results": search_hits(state, body.query, body.limit)}


@router.post("/api/rag/query")
async def rag_query(state: CurrentState, caller: KnowledgeReader, body: KnowledgeQuery) -> dict[str, Any]:
    """Answer a question from the knowledge base."""
    sources = search_hits(state, body.query, min(body.limit, 3))
    if sources:
        answer = f"Based on {len(sources)} document(s): " + " ".join(
            source["content"].split(". ")[0] + "." for source in sources
        )
    else:
        answer = "I could not find anything about that in the knowledge base."
    return {"answer": answer, "sources": sources}
