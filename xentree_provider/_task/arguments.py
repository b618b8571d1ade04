"""Operator arguments as they arrive after templating: strings where the DAG author wrote numbers or dicts.

Each reader accepts the native value and its rendered string form, and raises
:class:`~xentree_provider.api.errors.XentreeConfigError` naming the argument otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from xentree_provider.api.errors import XentreeConfigError

__all__ = ["mapping_argument", "positive_int_argument", "text_argument"]


def positive_int_argument(value: Any, name: str) -> int:
    """A count >= 1: an int, or a string of digits (templates render to strings)."""
    text = str(value).strip()
    if isinstance(value, bool) or not (isinstance(value, int) or text.isdigit()) or int(text) < 1:
        raise XentreeConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    return int(text)


def text_argument(value: Any, name: str, what: str) -> str:
    """Non-blank text, stripped; ``what`` says in the error what the argument should hold."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise XentreeConfigError(f"{name} is empty: give {what} (it may be a template)")
    return text


def mapping_argument(value: Any, name: str) -> dict[str, Any]:
    """A dict, or a JSON object as text; ``None`` or ``""`` is an empty dict."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise XentreeConfigError(f"{name} must be a dict (or a JSON object), got {value!r}") from None
    if not isinstance(value, Mapping):
        raise XentreeConfigError(f"{name} must be a dict, got {type(value).__name__}")
    return dict(value)
