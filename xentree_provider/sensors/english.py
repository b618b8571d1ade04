"""Sensors for Xentree English (XEL): wait for learning progress to reach a threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xentree_provider.conditions.xel import XEL_PROGRESS_CONDITION, ProgressMean, progress_outcome
from xentree_provider.sensors.base import XentreeConditionSensor

if TYPE_CHECKING:
    from airflow.sdk import Context

    from xentree_provider.hooks.xentree import XentreeHook

__all__ = ["XentreeXELProgressSensor"]


class XentreeXELProgressSensor(XentreeConditionSensor):
    """Waits until XEL progress reaches ``threshold`` percent.

    * ``scope="user"`` (default): the connection's own learner, overall (the dashboard's
      ``overall_progress_percent``) or, with ``module_id``, one module's ``progress_percent``;
    * ``scope="organization"``: the average ``progress_percent`` of the organization's member
      progress directory (every page; optionally one team, optionally a window of UTC days). An empty
      directory never meets the threshold.

    Works in ``poke`` and ``reschedule`` modes and with ``deferrable=True``, where the shared
    :class:`~xentree_provider.triggers.condition.XentreeConditionTrigger` polls the same figure with the
    async hook. Returns (XCom) ``{"met", "target", "progress_percent", "threshold", ...}``.

    :param threshold: progress to wait for, 0 to 100 (default 100: completed). Templated.
    :param scope: ``"user"`` or ``"organization"``.
    :param module_id: a module of the learner (``user`` scope only); default: overall. Templated.
    :param organization_id: organization of the ``organization`` scope; default: the connection's
        extra ``organization_id``. Templated.
    :param team_id: only this team (``organization`` scope). Templated.
    :param start_day: first UTC day of the directory window, ``YYYY-MM-DD`` (``organization``). Templated.
    :param end_day: last UTC day, included whole (``organization``). Templated.
    :param page_size: directory rows per request (1..200).
    :param xentree_conn_id: the Xentree connection id (templated).
    :param deferrable: wait in the triggerer; default from ``[operators] default_deferrable``.
    :param hook_overrides: keyword overrides for the hooks (``timeout``, ``max_retries``, ...).
    """

    condition = XEL_PROGRESS_CONDITION
    template_fields: Sequence[str] = (
        "xentree_conn_id",
        "threshold",
        "module_id",
        "organization_id",
        "team_id",
        "start_day",
        "end_day",
    )

    def __init__(
        self,
        *,
        threshold: float | str = 100.0,
        scope: str = "user",
        module_id: str | None = None,
        organization_id: str | None = None,
        team_id: str | None = None,
        start_day: str | None = None,
        end_day: str | None = None,
        page_size: int = 200,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if scope not in ("user", "organization"):
            raise ValueError(
                f"scope must be 'user' (the connection's learner) or 'organization' (an organization's "
                f"average), got {scope!r}"
            )
        if scope == "organization" and module_id:
            raise ValueError(
                "module_id applies to scope='user' only: the organization directory has no per-module "
                "progress"
            )
        if scope == "user" and (team_id or organization_id or start_day or end_day):
            raise ValueError("organization_id, team_id, start_day and end_day apply to scope='organization'")
        if not 1 <= page_size <= 200:
            raise ValueError(f"page_size must be between 1 and 200, got {page_size}")
        self.threshold = threshold
        self.scope = scope
        self.module_id = module_id
        self.organization_id = organization_id
        self.team_id = team_id
        self.start_day = start_day
        self.end_day = end_day
        self.page_size = page_size

    def condition_kwargs(self, context: Context) -> dict[str, Any]:
        """The primitive arguments shared by the sync check and the async condition."""
        try:
            threshold = float(self.threshold)
        except (TypeError, ValueError):
            raise ValueError(
                f"threshold must be a number between 0 and 100, got {self.threshold!r}"
            ) from None
        if not 0 <= threshold <= 100:
            raise ValueError(f"threshold must be between 0 and 100 (percent), got {threshold}")
        kwargs: dict[str, Any] = {"scope": self.scope, "threshold": threshold}
        if self.scope == "organization":
            kwargs.update(
                organization_id=self.hook.settings.organization(self.organization_id, self.xentree_conn_id),
                team_id=self.team_id or None,
                start_day=self._day(self.start_day),
                end_day=self._day(self.end_day),
                page_size=self.page_size,
            )
        elif self.module_id:
            kwargs["module_id"] = str(self.module_id)
        return kwargs

    @staticmethod
    def _day(value: Any) -> str | None:
        if value in (None, ""):
            return None
        from xentree_provider._task.window import parse_instant

        return parse_instant(value, "day").date().isoformat()

    def check(self, hook: XentreeHook, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
        """Read the figure with the sync hook and judge it."""
        threshold = kwargs["threshold"]
        if kwargs["scope"] == "organization":
            mean = ProgressMean()
            for record in hook.iter_member_progress(
                kwargs["organization_id"],
                start_date=kwargs.get("start_day"),
                end_date=kwargs.get("end_day"),
                team_id=kwargs.get("team_id"),
                page_size=kwargs.get("page_size", 200),
            ):
                mean.add(record)
            return progress_outcome(
                mean.mean,
                threshold,
                target="organization",
                organization_id=kwargs["organization_id"],
                team_id=kwargs.get("team_id"),
                members=mean.members,
            )
        module_id = kwargs.get("module_id")
        if module_id:
            module = hook.get_module(module_id)
            return progress_outcome(
                module.get("progress_percent"),
                threshold,
                target="module",
                module_id=module_id,
                status=module.get("status"),
            )
        dashboard = hook.get_dashboard()
        return progress_outcome(dashboard.get("overall_progress_percent"), threshold, target="overall")
