"""OpenLineage facets for operators that read from Xentree and write one file (optional dependency)."""

from __future__ import annotations

from typing import Any

__all__ = ["file_output_lineage"]


def file_output_lineage(base_url: str, input_name: str, output: str) -> Any:
    """``OperatorLineage`` with the Xentree input ``input_name`` and the file ``output`` (a URL).

    None when the OpenLineage provider is not installed.
    """
    try:
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage
    except ImportError:
        return None
    scheme, _, rest = output.partition("://")
    if scheme == "file":
        namespace, name = "file", "/" + rest.lstrip("/")
    else:
        bucket, _, key = rest.partition("/")
        namespace, name = f"{scheme}://{bucket}", key
    return OperatorLineage(
        inputs=[Dataset(namespace=base_url, name=input_name)],
        outputs=[Dataset(namespace=namespace, name=name)],
    )
