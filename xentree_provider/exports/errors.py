"""Errors of record exports."""

from __future__ import annotations

from xentree_provider.api.errors import XentreeError

__all__ = ["XentreeEmptyWindowError"]


class XentreeEmptyWindowError(XentreeError):
    """The export window holds no records (transcripts, messages) and ``fail_on_empty`` is set."""
