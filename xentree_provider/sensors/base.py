"""XentreeConditionSensor: the base of every Xentree sensor (poke, reschedule and deferrable).

A sensor names one condition and implements it twice over the same pure logic (``api/``):

* :meth:`XentreeConditionSensor.check` — the sync check, run by ``poke`` with the sync
  :class:`~xentree_provider.hooks.xentree.XentreeHook`;
* the async check named by :attr:`XentreeConditionSensor.condition` — run by
  :class:`~xentree_provider.triggers.condition.XentreeConditionTrigger` in the triggerer with
  :class:`~xentree_provider.hooks.xentree_async.XentreeAsyncHook` (same auth and retry policy).

Both take the same primitive keyword arguments, built once per try by
:meth:`XentreeConditionSensor.condition_kwargs`, and return ``(met, details)``; ``details`` (a small
JSON-able dict) is what the sensor returns, so it lands in XCom in every mode.

Writing a new sensor (a hypothetical one in your own package; the shipped XEL sensor is
:class:`~xentree_provider.sensors.english.XentreeXELProgressSensor`)::

    class ModuleProgressSensor(XentreeConditionSensor):
        condition = "myproject.conditions.module_progress_reached"  # the async twin
        template_fields = (*XentreeConditionSensor.template_fields, "module_id")

        def __init__(self, *, module_id: str, min_percent: float = 100, **kwargs):
            super().__init__(**kwargs)
            self.module_id = module_id
            self.min_percent = min_percent

        def condition_kwargs(self, context):
            return {"module_id": self.module_id, "min_percent": float(self.min_percent)}

        def check(self, hook, *, module_id, min_percent):
            percent = float(hook.get_module(module_id).get("progress_percent") or 0)
            return percent >= min_percent, {"module_id": module_id, "progress_percent": percent}

Deferrable mode checks once before deferring (no trigger when the condition already holds), gives
the trigger an absolute deadline of ``timeout`` seconds after the try started, and
:meth:`XentreeConditionSensor.execute_complete` turns the trigger's single event into the result
(success), ``AirflowSensorTimeout`` (timeout; a skip with ``soft_fail``) or the original
``XentreeError`` subclass (error).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseSensorOperator
from airflow.sdk.bases.sensor import PokeReturnValue

from xentree_provider._compat import AirflowSensorTimeout, AirflowSkipException, conf
from xentree_provider._task.hooked import UsesXentreeHook, fail_fast_on_bad_config
from xentree_provider.api.errors import XentreeError

if TYPE_CHECKING:
    from airflow.sdk import Context

    from xentree_provider.hooks.xentree import XentreeHook


__all__ = ["XentreeConditionSensor"]

DEFER_TIMEOUT_GRACE = 300.0
"""Seconds past the trigger's own deadline after which Airflow gives up on the deferral (a backstop)."""


class XentreeConditionSensor(UsesXentreeHook, BaseSensorOperator):
    """Waits for a Xentree condition; poke, reschedule or deferrable.

    Subclasses set :attr:`condition` and implement :meth:`condition_kwargs` and :meth:`check`.

    :param xentree_conn_id: the Xentree connection id (templated).
    :param deferrable: wait in the triggerer instead of a worker slot; default from
        ``[operators] default_deferrable``.
    :param hook_overrides: keyword overrides for the hooks (``timeout``, ``max_retries``, ...).
    :param poke_interval: seconds between checks (all modes).
    :param timeout: seconds before the sensor gives up (``AirflowSensorTimeout``; skipped with
        ``soft_fail``).
    :param mode: ``poke`` or ``reschedule`` when not deferrable.
    """

    condition: ClassVar[str] = ""
    """The async twin of :meth:`check`: a registered name or an import path (see
    :mod:`xentree_provider.conditions.registry`)."""

    template_fields: Sequence[str] = ("xentree_conn_id",)
    ui_color = "#dff2e1"

    def __init__(
        self,
        *,
        xentree_conn_id: str = "xentree_default",
        deferrable: bool | None = None,
        hook_overrides: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not self.condition:
            raise TypeError(f"{type(self).__name__} must set the class attribute 'condition'")
        self.xentree_conn_id = xentree_conn_id
        if deferrable is None:
            deferrable = conf.getboolean("operators", "default_deferrable", fallback=False)
        self.deferrable = bool(deferrable)
        self.hook_overrides = dict(hook_overrides or {})

    # -- to implement -------------------------------------------------------------------------------

    def condition_kwargs(self, context: Context) -> dict[str, Any]:
        """The condition's keyword arguments for this try: primitive, JSON-able values only."""
        raise NotImplementedError

    def check(self, hook: XentreeHook, **kwargs: Any) -> tuple[bool, dict[str, Any]]:
        """The sync twin of the async condition: ``(met, details)``."""
        raise NotImplementedError

    # -- machinery ----------------------------------------------------------------------------------

    @fail_fast_on_bad_config
    def poke(self, context: Context) -> PokeReturnValue:
        """Check once with the sync hook."""
        met, details = self.check(self.hook, **self.condition_kwargs(context))
        if not met:
            self.log.info("%s: condition not met yet: %s", self.task_id, details)
        return PokeReturnValue(is_done=met, xcom_value=details if met else None)

    @fail_fast_on_bad_config
    def execute(self, context: Context) -> Any:
        """Poke/reschedule as usual; when deferrable, check once, then defer to the trigger."""
        if not self.deferrable:
            return super().execute(context)
        started = time.time()
        kwargs = self.condition_kwargs(context)
        met, details = self.check(self.hook, **kwargs)
        if met:
            self.log.info("%s: condition already met, not deferring: %s", self.task_id, details)
            return details
        self.log.info("%s: condition not met yet (%s); deferring", self.task_id, details)
        self.defer(
            trigger=self.make_trigger(kwargs, deadline=started + self.timeout),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + max(DEFER_TIMEOUT_GRACE, 2 * self.poke_interval)),
        )

    def make_trigger(self, kwargs: dict[str, Any], *, deadline: float | None) -> Any:
        """The trigger this sensor defers to (kwargs from :meth:`condition_kwargs`)."""
        from xentree_provider.triggers.condition import XentreeConditionTrigger

        return XentreeConditionTrigger(
            conn_id=self.xentree_conn_id,
            condition=self.condition,
            condition_kwargs=kwargs,
            poke_interval=self.poke_interval,
            deadline=deadline,
            hook_overrides=self.hook_overrides,
        )

    @fail_fast_on_bad_config
    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: return the details, or raise for a timeout or an error."""
        from xentree_provider.triggers.condition import error_from_event

        status = (event or {}).get("status")
        if status == "success":
            assert event is not None
            self.log.info("%s: condition met: %s", self.task_id, event.get("details"))
            return event.get("details")
        if status == "timeout":
            assert event is not None
            raise AirflowSensorTimeout(
                f"{self.task_id}: timed out after {self.timeout:.0f} s: {event.get('message')}"
            )
        if status == "error":
            assert event is not None
            error = error_from_event(event)
            if self.never_fail:
                # As in poke mode, where never_fail turns any error into a skip.
                raise AirflowSkipException(f"{self.task_id}: skipped (never_fail): {error}") from error
            raise error
        raise XentreeError(f"{self.task_id}: the trigger sent an unexpected event: {event!r}")
