"""OpenLineage for operators that write files: the Xentree API read as input, each file as an output
with its schema facet and output statistics (rows, bytes).

Airflow's OpenLineage listener (``apache-airflow-providers-openlineage``) calls an operator's
``get_openlineage_facets_on_start`` before ``execute`` and ``get_openlineage_facets_on_complete`` /
``..._on_failure`` after it; :class:`WritesFileLineage` implements them from what the operator records
while it runs. Without the OpenLineage provider the methods return None and nothing is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from xentree_provider.tabular.schema import Column

__all__ = [
    "ApiInput",
    "FileOutput",
    "Lineage",
    "WritesFileLineage",
    "dataset_identity",
    "operator_lineage",
]

_TYPE_NAMES = {
    "string": "STRING",
    "int64": "INT64",
    "float64": "DOUBLE",
    "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "json": "JSON",
    "list": "ARRAY",
    "struct": "STRUCT",
}


@dataclass(frozen=True)
class ApiInput:
    """A Xentree API endpoint read by the task: namespace the API base URL, name the endpoint path."""

    base_url: str
    path: str


@dataclass(frozen=True)
class FileOutput:
    """A file the task writes (a path or URL as ``str(ObjectStoragePath)``), its schema and statistics."""

    path: str
    schema: tuple[Column, ...] | None = None
    rows: int | None = None
    size: int | None = None


@dataclass(frozen=True)
class Lineage:
    """What a task reads and writes."""

    inputs: tuple[ApiInput, ...] = ()
    outputs: tuple[FileOutput, ...] = ()

    def planned(self) -> Lineage:
        """The same datasets without statistics (what is known before anything is written)."""
        return Lineage(self.inputs, tuple(replace(o, rows=None, size=None) for o in self.outputs))


def dataset_identity(path: str) -> tuple[str, str]:
    """OpenLineage ``(namespace, name)`` of a file: ``("file", "/abs/path")`` for local files,
    ``("s3://bucket", "key")`` (likewise ``gs://``, ``abfs://``, ...) for object stores."""
    text = str(path)
    if "://" not in text:
        return "file", text
    scheme, _, rest = text.partition("://")
    if scheme == "file":
        authority, slash, local = rest.partition("/")
        return "file", "/" + local if authority in ("", "localhost") else f"//{authority}{slash}{local}"
    authority, _, key = rest.partition("/")
    return f"{scheme}://{authority}", key


def _schema_fields(columns: Sequence[Column]) -> list[Any]:
    from airflow.providers.common.compat.openlineage.facet import SchemaDatasetFacetFields

    return [
        SchemaDatasetFacetFields(
            name=column.name,
            type=_TYPE_NAMES[column.type],
            description=column.description or None,
            ordinal_position=position,
            fields=_schema_fields(column.fields),
        )
        for position, column in enumerate(columns, start=1)
    ]


def operator_lineage(lineage: Lineage) -> Any:
    """``lineage`` as the OpenLineage provider's ``OperatorLineage``; None when it is not installed."""
    try:
        from airflow.providers.common.compat.openlineage.facet import (
            InputDataset,
            OutputDataset,
            OutputStatisticsOutputDatasetFacet,
            SchemaDatasetFacet,
        )
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    inputs = [InputDataset(namespace=i.base_url.rstrip("/"), name=i.path) for i in lineage.inputs]
    outputs = []
    for output in lineage.outputs:
        namespace, name = dataset_identity(output.path)
        facets: dict[str, Any] = {}
        if output.schema is not None:
            facets["schema"] = SchemaDatasetFacet(fields=_schema_fields(output.schema))
        output_facets: dict[str, Any] = {}
        if output.rows is not None or output.size is not None:
            output_facets["outputStatistics"] = OutputStatisticsOutputDatasetFacet(
                rowCount=output.rows, size=output.size
            )
        outputs.append(
            OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=output_facets)
        )
    return OperatorLineage(inputs=inputs, outputs=outputs)


class WritesFileLineage:
    """Mixin for operators that write files: the OpenLineage methods Airflow's listener calls.

    The operator implements :meth:`planned_lineage` (datasets known from its arguments, before it runs)
    and calls :meth:`record_lineage` in ``execute`` once its files are written.
    """

    _recorded_lineage: Lineage | None = None

    def planned_lineage(self) -> Lineage:
        """The datasets this task reads and writes, known from its rendered arguments."""
        raise NotImplementedError(f"{type(self).__name__} must define planned_lineage()")

    def record_lineage(self, lineage: Lineage) -> None:
        """Keep what ``execute`` read and wrote (with row counts and sizes) for the complete event."""
        self._recorded_lineage = lineage

    def get_openlineage_facets_on_start(self) -> Any:
        """Inputs and the outputs to be written, with their schemas (no statistics yet)."""
        return operator_lineage(self.planned_lineage().planned())

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Inputs and the outputs written, with schemas, row counts and sizes."""
        lineage = self._recorded_lineage
        return operator_lineage(lineage if lineage is not None else self.planned_lineage().planned())

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """A failed task wrote nothing (outputs are atomic): its inputs and planned outputs only."""
        return operator_lineage(self.planned_lineage().planned())
