"""The XEL progress condition, polled by ``XentreeConditionTrigger``, and its pure logic.

``xel_progress_reached`` is the async twin of
:meth:`xentree_provider.sensors.english.XentreeXELProgressSensor.check`; both read the same figure
and judge it with :func:`progress_outcome`, so poke, reschedule and deferrable modes agree.
Registered as ``"xel_progress_reached"``; sensors name it by import path
(:data:`XEL_PROGRESS_CONDITION`), which always resolves in the triggerer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, Protocol

from xentree_provider.conditions.registry import register_condition

__all__ = [
    "XEL_PROGRESS_CONDITION",
    "AsyncProgressReader",
    "ProgressMean",
    "progress_outcome",
    "xel_progress_reached",
]

XEL_PROGRESS_CONDITION = "xentree_provider.conditions.xel.xel_progress_reached"
"""The import path sensors give the trigger (resolves in any triggerer)."""


class AsyncProgressReader(Protocol):
    """What the XEL condition needs of the async client (``XentreeAsyncHook`` has it)."""

    async def get_dashboard(self) -> Mapping[str, Any]:
        """The caller's XEL dashboard."""
        ...

    async def get_module(self, module_id: str) -> Mapping[str, Any]:
        """One XEL module with the caller's progress."""
        ...

    def iter_member_progress(
        self,
        org_id: str | None = None,
        *,
        start_date: Any = None,
        end_date: Any = None,
        team_id: str | None = None,
        page_size: int = ...,
    ) -> AsyncIterator[Any]:
        """The organization's progress directory."""
        ...


def _percent(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class ProgressMean:
    """Running mean of ``progress_percent`` over directory rows (memory does not grow with rows)."""

    def __init__(self) -> None:
        self.members = 0
        self.total = 0.0

    def add(self, record: Any) -> None:
        """Count one directory row (a missing percent counts as 0)."""
        self.members += 1
        self.total += _percent(record.get("progress_percent") if hasattr(record, "get") else None) or 0.0

    @property
    def mean(self) -> float | None:
        """The average progress, or None for an empty directory."""
        return round(self.total / self.members, 2) if self.members else None


def progress_outcome(
    percent: Any, threshold: float, *, target: str, **facts: Any
) -> tuple[bool, dict[str, Any]]:
    """``(met, details)``: met when ``percent`` is at least ``threshold`` (a missing figure never is)."""
    value = _percent(percent)
    met = value is not None and value >= threshold
    return met, {"met": met, "target": target, "progress_percent": value, "threshold": threshold, **facts}


@register_condition("xel_progress_reached")
async def xel_progress_reached(
    hook: AsyncProgressReader,
    *,
    scope: str,
    threshold: float,
    module_id: str | None = None,
    organization_id: str | None = None,
    team_id: str | None = None,
    start_day: str | None = None,
    end_day: str | None = None,
    page_size: int = 200,
) -> tuple[bool, dict[str, Any]]:
    """The learner's overall or module progress, or an organization's average, reached ``threshold``."""
    if scope == "organization":
        mean = ProgressMean()
        records = hook.iter_member_progress(
            organization_id, start_date=start_day, end_date=end_day, team_id=team_id, page_size=page_size
        )
        async with aclosing(records) as rows:  # type: ignore[type-var]
            async for record in rows:
                mean.add(record)
        return progress_outcome(
            mean.mean,
            threshold,
            target="organization",
            organization_id=organization_id,
            team_id=team_id,
            members=mean.members,
        )
    if module_id:
        module = await hook.get_module(module_id)
        return progress_outcome(
            module.get("progress_percent"),
            threshold,
            target="module",
            module_id=module_id,
            status=module.get("status"),
        )
    dashboard = await hook.get_dashboard()
    return progress_outcome(dashboard.get("overall_progress_percent"), threshold, target="overall")
