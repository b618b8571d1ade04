"""The Airflow Asset an operator's output is registered as: one stable Asset per output location.

A run-dependent path (``/data/{{ ds }}/...``) is not a stable identity, so the Asset is the path's static
part (its folder before the first template); each run's asset event carries the files it wrote in its
``extra``. Downstream DAGs schedule on that one Asset.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset

__all__ = ["add_outlet", "default_asset_uri", "resolve_asset"]


def default_asset_uri(output_path: Any) -> str | None:
    """The Asset URI for an output path: the path itself, or, when the path is templated, its
    static directory (``/data/{{ ds }}.jsonl`` -> ``file:///data``); None if nothing is static."""
    text = str(output_path).strip()
    static = text.split("{{", 1)[0].split("{%", 1)[0]
    if static != text:
        static = static.rpartition("/")[0]
    if "://" in static:
        scheme, _, rest = static.partition("://")
        return f"{scheme}://{rest}" if rest.strip("/") else None
    if not static.startswith("/") or not static.strip("/"):
        return None
    return "file://" + static


def resolve_asset(asset: Asset | str | bool | None, output_path: Any) -> Asset | None:
    """``None``/``True``: derived from ``output_path``; a string: that URI; an Asset: itself; False: none."""
    if asset is None or asset is True:
        uri = default_asset_uri(output_path)
        return Asset(uri) if uri else None
    if asset is False:
        return None
    if isinstance(asset, str):
        return Asset(asset)
    return asset


def add_outlet(kwargs: dict[str, Any], asset: Asset | None) -> None:
    """Append ``asset`` to the ``outlets`` in an operator's keyword arguments, unless it is there."""
    if asset is None:
        return
    outlets = kwargs.get("outlets")
    if outlets is None:
        outlets = []
    elif not isinstance(outlets, (list, tuple)):
        outlets = [outlets]
    if any(isinstance(o, Asset) and o.uri == asset.uri for o in outlets):
        return  # already declared (e.g. in .partial() of a mapped operator)
    kwargs["outlets"] = [*outlets, asset]


class DeclaresOutputAsset:
    """Mixin for operators whose ``output_path`` is an Asset outlet: also when they are mapped.

    A mapped operator is built only when it runs, so the Asset derived in ``__init__`` would be unknown
    to the scheduler; deriving it in ``partial()`` too declares it at DAG-parse time.
    """

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """``BaseOperator.partial``, with the output's Asset added to ``outlets``."""
        if "output_path" in kwargs:
            add_outlet(kwargs, resolve_asset(kwargs.get("asset"), kwargs["output_path"]))
        return super().partial(**kwargs)  # type: ignore[misc]
