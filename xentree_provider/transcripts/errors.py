"""Errors of transcript exports (the export's errors are shared by every export)."""

from __future__ import annotations

from xentree_provider.exports.errors import XentreeEmptyWindowError

__all__ = ["XentreeEmptyWindowError"]
