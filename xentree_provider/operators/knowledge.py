"""Knowledge-base operators: search the Xentree knowledge base, or ask it a question (RAG)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from airflow.sdk import BaseOperator, Context, ObjectStoragePath

from xentree_provider._task.arguments import mapping_argument, positive_int_argument, text_argument
from xentree_provider._task.hooked import UsesXentreeHook, fail_fast_on_bad_config
from xentree_provider._task.lineage import ApiInput, FileOutput, Lineage, WritesFileLineage
from xentree_provider._task.outputs import output_path, write_text_atomically
from xentree_provider.api.errors import XentreeConfigError, XentreeError
from xentree_provider.api.routes import route
from xentree_provider.knowledge.files import ANSWER_SCHEMA, HIT_SCHEMA, answer_document, hit_lines
from xentree_provider.tabular.schema import Column

__all__ = [
    "XentreeEmptyResultError",
    "XentreeKnowledgeSearchOperator",
    "XentreeRagQueryOperator",
]


class XentreeEmptyResultError(XentreeError):
    """A lookup found nothing and the task was told to fail then (``fail_on_empty=True``)."""


def _query(value: Any) -> str:
    return text_argument(value, "query", "the text to look up")


def _filters(value: Any) -> dict[str, Any]:
    filters = mapping_argument(value, "filters")
    reserved = {"query", "limit", "conversation_id"} & set(filters)
    if reserved:
        raise XentreeConfigError(
            f"filters may not set {', '.join(sorted(reserved))}: use the operator's own arguments"
        )
    return filters


class _WritesKnowledgeFile(WritesFileLineage, UsesXentreeHook):
    """What both operators share: the endpoint they read, and the optional file they write.

    A plain mixin, not a ``BaseOperator``: Airflow reads the task defaults of a mapped operator from
    the ``__init__`` of every operator class in its MRO, and an operator class without its own
    ``__init__`` would contribute ``BaseOperator``'s (``inlets=None``), which breaks mapped tasks.
    """

    lineage_route: ClassVar[str]
    file_schema: ClassVar[tuple[Column, ...]]
    output_path: str | None
    output_conn_id: str | None

    def _lineage(self, rows: int | None = None, size: int | None = None) -> Lineage:
        inputs = (ApiInput(self.hook.settings.base_url, route(self.lineage_route).path),)
        if not self.output_path:
            return Lineage(inputs)
        destination = str(output_path(self.output_path, self.output_conn_id))
        return Lineage(inputs, (FileOutput(destination, self.file_schema, rows, size),))

    def planned_lineage(self) -> Lineage:
        """The endpoint read, and the file to write when there is one (for OpenLineage)."""
        return self._lineage()

    def _write_file(self, chunks: Iterable[str], rows: int) -> ObjectStoragePath:
        destination = output_path(str(self.output_path), self.output_conn_id)
        self.record_lineage(self._lineage(rows, write_text_atomically(destination, chunks)))
        return destination


class XentreeKnowledgeSearchOperator(_WritesKnowledgeFile, BaseOperator):
    """Search the Xentree knowledge base and pass the hits on.

    Without ``output_path`` the hits go to XCom (``return_value``): at most ``max_results`` of them, so
    XCom stays small; asking for more (``limit > max_results``) is an error that tells you to write a
    file instead. With ``output_path`` every hit is written, atomically, as one JSON object per line
    (``query``, ``rank``, ``id``, ``score``, ``source``, ``content``, ``metadata``) and XCom gets only
    the path and the count.

    No hits is a normal outcome (``count`` 0) unless ``fail_on_empty=True``, which raises
    :class:`XentreeEmptyResultError`. Mapping-friendly:
    ``XentreeKnowledgeSearchOperator.partial(task_id="kb").expand(query=[...])`` gives one task (and one
    XCom) per query; template ``output_path`` with ``{{ ti.map_index }}`` to give each its own file.

    Returns ``{"query", "count", "results", "truncated", "output_path"}``.

    :param query: the text to search for. Templated.
    :param limit: how many hits to ask the API for (default 10). Templated.
    :param conversation_id: restrict the search to one conversation's documents. Templated.
    :param filters: extra search fields sent with the query (a dict). Templated.
    :param output_path: JSON-lines file to write the hits to (local absolute path or URL); default:
        return the hits in XCom. Templated.
    :param max_results: most hits returned in XCom (default 20).
    :param fail_on_empty: fail the task when nothing is found.
    :param xentree_conn_id: the Xentree connection (needs ``rag:read`` with an API key). Templated.
    :param output_conn_id: Airflow connection for the object store of ``output_path``.
    """

    template_fields: Sequence[str] = (
        "xentree_conn_id",
        "query",
        "limit",
        "conversation_id",
        "filters",
        "output_path",
    )
    template_fields_renderers = {"filters": "json"}
    ui_color = "#ecfccb"
    lineage_route = "search_knowledge"
    file_schema = HIT_SCHEMA

    def __init__(
        self,
        *,
        query: str,
        limit: int | str = 10,
        conversation_id: str | None = None,
        filters: Mapping[str, Any] | None = None,
        output_path: str | None = None,
        max_results: int = 20,
        fail_on_empty: bool = False,
        xentree_conn_id: str = "xentree_default",
        output_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_results < 1:
            raise ValueError(f"max_results must be >= 1, got {max_results}")
        self.query = query
        self.limit = limit
        self.conversation_id = conversation_id
        self.filters = filters
        self.output_path = output_path
        self.max_results = max_results
        self.fail_on_empty = fail_on_empty
        self.xentree_conn_id = xentree_conn_id
        self.output_conn_id = output_conn_id

    def _write_hits(self, query: str, results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        destination = self._write_file(hit_lines(query, results), len(results))
        self.log.info("Wrote %d hit(s) to %s", len(results), destination)
        return {
            "query": query,
            "count": len(results),
            "results": [],
            "truncated": False,
            "output_path": str(destination),
        }

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> dict[str, Any]:
        """Search, then return the hits (or write them and return the path)."""
        query = _query(self.query)
        limit = positive_int_argument(self.limit, "limit")
        filters = _filters(self.filters)
        if not self.output_path and limit > self.max_results:
            raise XentreeConfigError(
                f"limit={limit} is more than max_results={self.max_results}, the most hits this task puts "
                "in XCom: set output_path to write every hit to a JSON-lines file, or lower limit"
            )
        results = self.hook.search_knowledge(
            query, limit=limit, conversation_id=self.conversation_id or None, filters=filters
        )
        self.log.info("Knowledge search for %r: %d hit(s)", query, len(results))
        if not results and self.fail_on_empty:
            raise XentreeEmptyResultError(
                f"the knowledge base has no hits for {query!r} (fail_on_empty=True)"
            )
        if self.output_path:
            return self._write_hits(query, results)
        kept = [dict(hit) for hit in results[: self.max_results]]
        if len(results) > len(kept):
            self.log.warning(
                "The API returned %d hits for limit=%d; XCom keeps the first %d (max_results)",
                len(results),
                limit,
                len(kept),
            )
        return {
            "query": query,
            "count": len(results),
            "results": kept,
            "truncated": len(results) > len(kept),
            "output_path": None,
        }


class XentreeRagQueryOperator(_WritesKnowledgeFile, BaseOperator):
    """Ask the Xentree knowledge base a question; returns the synthesised answer with its sources.

    Returns ``{"query", "answer", "sources", "source_count", "output_path"}``; ``sources`` is capped at
    ``max_sources`` (each source as the API gave it). With ``output_path`` the full answer and every
    source are also written, atomically, as one JSON document. An answer without sources is a normal
    outcome unless ``fail_on_empty=True``. Mapping-friendly like :class:`XentreeKnowledgeSearchOperator`.

    :param query: the question. Templated.
    :param limit: how many sources to ask the API for (default: the API's). Templated.
    :param conversation_id: restrict the lookup to one conversation's documents. Templated.
    :param output_path: JSON file to write the answer and sources to. Templated.
    :param max_sources: most sources returned in XCom (default 10).
    :param fail_on_empty: fail the task when the answer cites no source.
    :param xentree_conn_id: the Xentree connection (needs ``rag:read`` with an API key). Templated.
    :param output_conn_id: Airflow connection for the object store of ``output_path``.
    """

    template_fields: Sequence[str] = ("xentree_conn_id", "query", "limit", "conversation_id", "output_path")
    ui_color = "#ecfccb"
    lineage_route = "rag_query"
    file_schema = ANSWER_SCHEMA

    def __init__(
        self,
        *,
        query: str,
        limit: int | str | None = None,
        conversation_id: str | None = None,
        output_path: str | None = None,
        max_sources: int = 10,
        fail_on_empty: bool = False,
        xentree_conn_id: str = "xentree_default",
        output_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_sources < 0:
            raise ValueError(f"max_sources must be >= 0, got {max_sources}")
        self.query = query
        self.limit = limit
        self.conversation_id = conversation_id
        self.output_path = output_path
        self.max_sources = max_sources
        self.fail_on_empty = fail_on_empty
        self.xentree_conn_id = xentree_conn_id
        self.output_conn_id = output_conn_id

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> dict[str, Any]:
        """Ask, then return the answer and its sources."""
        query = _query(self.query)
        options: dict[str, Any] = {}
        if self.limit not in (None, ""):
            options["limit"] = positive_int_argument(self.limit, "limit")
        if self.conversation_id:
            options["conversation_id"] = self.conversation_id
        payload = self.hook.rag_query(query, **options)
        answer = str(payload.get("answer") or "")
        sources = [s for s in payload.get("sources") or [] if s is not None]
        self.log.info("RAG answer for %r: %d character(s), %d source(s)", query, len(answer), len(sources))
        if not sources and self.fail_on_empty:
            raise XentreeEmptyResultError(
                f"the knowledge base answered {query!r} without any source (fail_on_empty=True)"
            )
        destination = None
        if self.output_path:
            destination = self._write_file([answer_document(query, answer, sources)], 1)
        return {
            "query": query,
            "answer": answer,
            "sources": sources[: self.max_sources],
            "source_count": len(sources),
            "output_path": str(destination) if destination else None,
        }
