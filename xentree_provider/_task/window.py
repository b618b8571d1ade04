"""The time window a task works on: the run's data interval, or explicit ``start`` / ``end`` (instants or
UTC days)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

from xentree_provider.api.errors import XentreeConfigError

__all__ = [
    "ACCEPTED_INSTANTS",
    "interval_window",
    "parse_instant",
    "resolve_report_days",
    "resolve_window",
    "window_days",
]


ACCEPTED_INSTANTS = (
    "a date 2026-11-24 (its midnight UTC), or a datetime 2026-11-24T06:00, 2026-11-24T06:00:00, "
    "2026-11-24T06:00:00.250Z or 2026-11-24T06:00:00+01:00 (no offset means UTC), or a date or "
    "datetime object"
)
"""The forms :func:`parse_instant` accepts, as its error messages state them."""

# ISO 8601 extended format only: a calendar date, optionally a time (hours and minutes at least) and
# an offset. Anything else ("29", "10:00", "Nov 29 2026", week dates, basic format) would be read
# relative to the day the task runs, or guessed.
_ISO_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?",
    re.ASCII,
)


def parse_instant(value: Any, name: str) -> datetime:
    """Read an ISO 8601 date or datetime (string, date or datetime) as an aware UTC datetime.

    A date means its midnight UTC; a datetime without an offset is taken as UTC. Strings must be ISO
    8601 extended format (:data:`ACCEPTED_INSTANTS`); anything else is a ``XentreeConfigError`` that
    names ``name`` and the accepted forms.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and _ISO_INSTANT.fullmatch(value.strip()):
        text = value.strip()
        try:
            parsed = _from_iso(text)
        except ValueError:
            raise XentreeConfigError(
                f"{name}={value!r} is not a valid date or time (out of range); accepted: "
                f"{ACCEPTED_INSTANTS}; check the value or the template that rendered it"
            ) from None
    else:
        raise XentreeConfigError(
            f"{name}={value!r} is not an ISO date or datetime (ISO 8601); accepted: {ACCEPTED_INSTANTS}; "
            "check the value or the template that rendered it"
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def _from_iso(text: str) -> datetime:
    """Parse text that matched :data:`_ISO_INSTANT` (``ValueError`` for out-of-range fields)."""
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day)
    text = text[:10] + "T" + text[11:]
    text = re.sub(r"[Zz]$", "+00:00", text)
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
    text = re.sub(r",", ".", text)
    text = re.sub(r"\.(\d+)", lambda match: "." + (match.group(1) + "000000")[:6], text, count=1)
    return datetime.fromisoformat(text)


def resolve_window(
    context: Mapping[str, Any], start: Any = None, end: Any = None
) -> tuple[datetime, datetime]:
    """Return ``(start, end)``, start inclusive and end exclusive, in UTC.

    Explicit ``start`` / ``end`` win; otherwise the run's data interval is used. Manual runs in Airflow 3
    have no data interval, so they need an explicit window.
    """
    given_start = start not in (None, "")
    given_end = end not in (None, "")
    interval_start = context.get("data_interval_start")
    interval_end = context.get("data_interval_end")
    if (not given_start and interval_start is None) or (not given_end and interval_end is None):
        raise XentreeConfigError(
            "this run has no data interval (manual and asset-triggered runs in Airflow 3 have none): "
            "pass start and end, e.g. start='2026-11-24', end='2026-11-25', or trigger the run with a "
            "logical date"
        )
    window_start = parse_instant(start if given_start else interval_start, "start")
    window_end = parse_instant(end if given_end else interval_end, "end")
    if window_start >= window_end:
        raise XentreeConfigError(
            f"the window is empty: start {window_start.isoformat()} is not before "
            f"end {window_end.isoformat()}"
        )
    return window_start, window_end


def interval_window(
    context: Mapping[str, Any], start: Any = None, end: Any = None
) -> tuple[datetime, datetime]:
    """:func:`resolve_window`, with a clear error for runs whose data interval is empty (Airflow 3's
    default ``CronTriggerTimetable`` schedules) when no explicit window is given."""
    if start in (None, "") and end in (None, ""):
        interval_start = context.get("data_interval_start")
        interval_end = context.get("data_interval_end")
        if interval_start is not None and interval_start == interval_end:
            raise XentreeConfigError(
                f"this run's data interval is empty ({interval_start} to {interval_end}): in Airflow 3, "
                "schedule='@daily' means CronTriggerTimetable, whose runs cover no interval. Schedule "
                "with CronDataIntervalTimetable('@daily', timezone='UTC') (from airflow.sdk), or pass "
                "start and end, e.g. start='{{ macros.ds_add(ds, -1) }}', end='{{ ds }}'"
            )
    return resolve_window(context, start, end)


def window_days(start: datetime, end: datetime) -> tuple[date, date]:
    """The UTC days covered by ``[start, end)``: first day and last day, both inclusive."""
    return start.astimezone(timezone.utc).date(), (end - timedelta(microseconds=1)).astimezone(
        timezone.utc
    ).date()


def _day(value: Any, name: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    return parse_instant(value, name).date()


def resolve_report_days(
    context: Mapping[str, Any], start_day: Any = None, end_day: Any = None, *, required: bool = True
) -> tuple[date, date] | None:
    """The report's UTC days ``(first, last)``, both inclusive.

    Explicit ``start_day`` / ``end_day`` (``YYYY-MM-DD``; a datetime counts as its UTC day) win;
    otherwise the run's data interval gives them: its start's day, and the day of the last instant
    before its end (an interval ending at midnight does not include the next day). Returns ``None``
    when there is no window and ``required`` is false.
    """
    given_start = start_day not in (None, "")
    given_end = end_day not in (None, "")
    interval_start = context.get("data_interval_start")
    interval_end = context.get("data_interval_end")
    if (not given_start and interval_start is None) or (not given_end and interval_end is None):
        if not required:
            return None
        raise XentreeConfigError(
            "this run has no data interval (manual and asset-triggered runs in Airflow 3 have none): "
            "pass start_day and end_day as YYYY-MM-DD (both days included), e.g. "
            "start_day='2026-11-16', end_day='2026-11-22'"
        )
    first = (
        _day(start_day, "start_day")
        if given_start
        else parse_instant(interval_start, "data_interval_start").date()
    )
    if given_end:
        last = _day(end_day, "end_day")
    else:
        end = parse_instant(interval_end, "data_interval_end")
        last = (end - timedelta(microseconds=1)).date()
    if first > last:
        raise XentreeConfigError(
            f"the report window is empty: start_day {first.isoformat()} is after end_day "
            f"{last.isoformat()} (both days are included, so a one-day report has start_day == end_day)"
        )
    return first, last
