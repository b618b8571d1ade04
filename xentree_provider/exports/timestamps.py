"""One canonical form for every timestamp variant of the API (``Z`` or ``+00:00``, fractions or not)."""

from __future__ import annotations

import re
from typing import Any

from xentree_provider.api.errors import XentreeResponseError
from xentree_provider.api.timestamps import format_timestamp, parse_timestamp

__all__ = ["canonical_timestamp"]

# Already canonical: UTC "Z", whole seconds or a non-zero six-digit fraction (the common case, so
# the export skips parsing it).
_CANONICAL_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(?!000000)\d{6})?Z")


def canonical_timestamp(value: Any, what: str) -> str | None:
    """One canonical form for every timestamp variant: UTC, ``Z``, fraction only when non-zero.

    :param value: the API's value (None or empty gives None).
    :param what: names the value in the error raised when it is not an ISO-8601 timestamp.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and _CANONICAL_TIMESTAMP.fullmatch(value):
        return value
    try:
        return format_timestamp(parse_timestamp(value))
    except (TypeError, ValueError):
        raise XentreeResponseError(f"{what} is not an ISO-8601 timestamp: {value!r}") from None
