"""Compatibility path: the XEL condition now lives in :mod:`xentree_provider.conditions.xel`.

Kept so that imports and the condition name stored in already-serialized triggers
(``"xentree_provider.triggers.xel_conditions.xel_progress_reached"``) keep resolving.
"""

from __future__ import annotations

from xentree_provider.conditions.xel import (
    XEL_PROGRESS_CONDITION,
    ProgressMean,
    progress_outcome,
    xel_progress_reached,
)

__all__ = ["XEL_PROGRESS_CONDITION", "ProgressMean", "progress_outcome", "xel_progress_reached"]
