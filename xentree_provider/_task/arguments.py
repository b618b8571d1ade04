"""Operator arguments as they arrive after templating: strings where the DAG author wrote numbers or dicts.

Each reader accepts the native value and its rendered string form, and raises
:class:`~xentree_provider.api.errors.XentreeConfigError` naming the argument otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from xentree_provider.api.errors import XentreeConfigError

__all__ = [
    "bounded_int_argument",
    "duration_argument",
    "mapping_argument",
    "positive_int_argument",
    "text_argument",
]


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


def duration_argument(value: Any, name: str, *, positive: bool = False) -> float:
    """A duration in seconds: a ``timedelta`` or a finite number (``>= 0``, or ``> 0`` if ``positive``)."""
    from datetime import timedelta
    from math import isfinite

    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, str):
        try:
            seconds = float(seconds.strip())
        except ValueError:
            seconds = None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not isfinite(seconds)
        or seconds < 0
        or (positive and seconds == 0)
    ):
        bound = "> 0" if positive else ">= 0"
        raise XentreeConfigError(f"{name} must be a timedelta or a number of seconds {bound}, got {value!r}")
    return float(seconds)


def bounded_int_argument(value: Any, name: str, high: int) -> int:
    """An int from 1 to ``high`` (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise XentreeConfigError(f"{name} must be an integer from 1 to {high}, got {value!r}")
    return value
