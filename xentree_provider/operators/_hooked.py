"""The lazily built hook every Xentree operator and sensor uses."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xentree_provider.hooks.xentree import XentreeHook

__all__ = ["UsesXentreeHook"]


class UsesXentreeHook:
    """Mixin: ``self.hook`` is a ``XentreeHook`` on ``self.xentree_conn_id``, built on first use.

    The hook module (and the HTTP stack behind it) is imported then too, never at DAG parse. An
    operator may set ``hook_overrides`` (timeout, max_retries, ...) for the hook's constructor.
    """

    xentree_conn_id: str

    @cached_property
    def hook(self) -> XentreeHook:
        """The Xentree hook (created on first use, never at DAG parse)."""
        from xentree_provider.hooks.xentree import XentreeHook

        return XentreeHook(self.xentree_conn_id, **(getattr(self, "hook_overrides", None) or {}))
