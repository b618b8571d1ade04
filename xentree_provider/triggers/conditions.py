"""Compatibility path: the condition registry now lives in :mod:`xentree_provider.conditions`.

Kept so that imports and condition names stored in already-serialized triggers
(``"xentree_provider.triggers.conditions.transcripts_in_window"``) keep resolving. New code imports
:mod:`xentree_provider.conditions.registry` and :mod:`xentree_provider.conditions.transcripts`.
"""

from __future__ import annotations

from xentree_provider.conditions.registry import (
    AsyncCondition,
    get_condition,
    register_condition,
    registered_conditions,
)
from xentree_provider.conditions.transcripts import transcripts_in_window

__all__ = [
    "AsyncCondition",
    "get_condition",
    "register_condition",
    "registered_conditions",
    "transcripts_in_window",
]
