"""Sensors for Xentree Live: wait for transcripts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.conditions.transcripts import WindowCount, count_in_window
from xentree_provider.sensors.base import XentreeConditionSensor
from xentree_provider.transcripts.selection import TimeWindow

if TYPE_CHECKING:
    from airflow.sdk import Context

    from xentree_provider.hooks.xentree import XentreeHook

__all__ = ["XentreeTranscriptSensor"]


class XentreeTranscriptSensor(XentreeConditionSensor):
    """Waits until at least ``min_count`` Live transcripts started in a time window.

    The window is, by default, the run's data interval (start inclusive, end exclusive); ``start`` /
    ``end`` override it, or ``newer_than`` waits for transcripts started strictly after an instant.
    The newest-first list is read only as far as needed. Returns (XCom) ``{"met", "count",
    "min_count", "scanned", "window", "newest_in_window"}``.

    Works in ``poke`` and ``reschedule`` modes and with ``deferrable=True`` (default from
    ``[operators] default_deferrable``), where
    :class:`~xentree_provider.triggers.condition.XentreeConditionTrigger` polls with the same auth and
    retry policy.

    :param xentree_conn_id: the Xentree connection id (templated).
    :param min_count: how many transcripts to wait for (>= 1).
    :param start: window start, ISO date or datetime (templated); default the data interval start.
    :param end: window end, exclusive (templated); default the data interval end.
    :param newer_than: instead of a window, wait for transcripts started after this instant (templated).
    :param page_size: list page size (1..200).
    :param deferrable: wait in the triggerer; default from ``[operators] default_deferrable``.
    :param hook_overrides: keyword overrides for the hooks (``timeout``, ``max_retries``, ...).
    """

    condition = "transcripts_in_window"
    template_fields: Sequence[str] = ("xentree_conn_id", "start", "end", "newer_than")

    def __init__(
        self,
        *,
        min_count: int = 1,
        start: Any = None,
        end: Any = None,
        newer_than: Any = None,
        page_size: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be a positive integer, got {min_count!r}")
        if not 1 <= page_size <= 200:
            raise ValueError(f"page_size must be between 1 and 200, got {page_size}")
        self.min_count = min_count
        self.start = start
        self.end = end
        self.newer_than = newer_than
        self.page_size = page_size

    def condition_kwargs(self, context: Context) -> dict[str, Any]:
        """The window as ISO strings, ``min_count`` and ``page_size``."""
        from xentree_provider._task.window import interval_window, parse_instant

        if self.newer_than not in (None, ""):
            if self.start not in (None, "") or self.end not in (None, ""):
                raise XentreeConfigError("give either newer_than, or start/end, not both")
            window = TimeWindow.newer_than(parse_instant(self.newer_than, "newer_than"))
        else:
            window = TimeWindow(*interval_window(context, self.start, self.end))
        return {**window.to_params(), "min_count": self.min_count, "page_size": self.page_size}

    def check(self, hook: XentreeHook, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
        """Count transcripts in the window with the sync hook."""
        counter = WindowCount(TimeWindow.from_params(kwargs["start"], kwargs["end"]), kwargs["min_count"])
        count_in_window(hook.iter_transcripts(page_size=kwargs["page_size"]), counter)
        return counter.met, counter.result()
