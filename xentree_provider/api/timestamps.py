"""Parsing and formatting of the API's ISO-8601 timestamps and dates."""

from __future__ import annotations

import email.utils
import re
from datetime import date, datetime, timezone

__all__ = ["day_param", "format_date", "format_timestamp", "parse_http_date", "parse_timestamp"]

_FRACTION = re.compile(r"(?<=\d\d:\d\d:\d\d)\.(\d+)")
_OFFSET_WITHOUT_COLON = re.compile(r"(?<=\d)([+-]\d\d)(\d\d)$")


def parse_http_date(value: str | None) -> float | None:
    """An HTTP date (``Date``, ``Retry-After``: ``Thu, 16 Apr 2026 10:00:03 GMT``) as epoch seconds, or
    None when absent or unreadable; a date without a zone is taken as UTC."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def parse_timestamp(value: str | datetime) -> datetime:
    """Parse an API timestamp (``Z`` or ``+00:00`` suffix, optional fractional seconds) to aware UTC.

    A timestamp without an offset is taken as UTC, as the contract says all timestamps are UTC.
    """
    if isinstance(value, datetime):
        parsed = value
    else:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # Python 3.10's fromisoformat takes only 3 or 6 fraction digits and only +HH:MM offsets (3.11+
        # takes any): make the digits 6 (cut to microseconds) and the offset +HH:MM, the same on each.
        text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
        text = _OFFSET_WITHOUT_COLON.sub(r"\1:\2", text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"not an ISO-8601 timestamp: {value!r} (expected e.g. 2026-04-16T10:00:03Z)"
            ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
        raise ValueError(f"timestamp {value!r} is out of range once converted to UTC") from None


def format_timestamp(value: datetime) -> str:
    """Format an aware datetime the way the API does: UTC with a ``Z`` suffix."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: give a timezone (UTC)")
    text = value.astimezone(timezone.utc).isoformat()
    return text.replace("+00:00", "Z")


def format_date(value: date | datetime) -> str:
    """Format a date as ``YYYY-MM-DD`` (a datetime is first converted to its UTC day)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone (UTC)")
        value = value.astimezone(timezone.utc).date()
    return value.isoformat()


def day_param(value: date | datetime | str | None) -> str | None:
    """A query-parameter day: strings pass through, dates and aware datetimes become ``YYYY-MM-DD``."""
    return value if isinstance(value, str) or value is None else format_date(value)
