"""XentreeConditionTrigger: one generic trigger that polls a named async condition until a deadline.

Every deferrable Xentree sensor uses this trigger; a sensor differs only in the condition it names
(see :mod:`xentree_provider.conditions.registry` for how to write and name one) and the primitive
``condition_kwargs`` it passes.

Guarantees:

* the state is primitive and serializable (conn id, condition name, JSON-able kwargs, numbers), so
  the trigger survives a triggerer restart and can run on any triggerer;
* the connection is fetched asynchronously, on first poll, by
  :class:`~xentree_provider.hooks.xentree_async.XentreeAsyncHook`, which applies the same
  authentication and retry policy (``Retry-After``, backoff, token refresh) as the sync hook;
* ``deadline`` is absolute (epoch seconds), so a restarted trigger does not wait longer in total, and
  a check still running :data:`LAST_CHECK_SECONDS` after it (a server trickling its answer) is cut off;
* the run ends with exactly one event: ``{"status": "success" | "timeout" | "error", ...}``.

Event payloads::

    {"status": "success", "condition": name, "details": {...}, "polls": n}
    {"status": "timeout", "condition": name, "details": {... last check ...}, "polls": n, "message": ...}
    {"status": "error", "condition": name, "polls": n, "message": ..., "error_type": ...,
     "error_state": {...}}
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from xentree_provider.api import errors as xentree_errors
from xentree_provider.api.errors import XentreeError

__all__ = ["XentreeConditionTrigger", "error_from_event", "error_to_event"]

_PRIMITIVES = (str, int, float, bool, type(None))

#: How long past the deadline a check still running may take to finish (its details go in the event).
LAST_CHECK_SECONDS = 5.0


def error_to_event(error: BaseException) -> dict[str, Any]:
    """The JSON-able description of ``error`` carried by an ``error`` event (never a credential)."""
    state: dict[str, Any] = {}
    if isinstance(error, XentreeError):
        for key, value in vars(error).items():
            if key.startswith("_"):
                continue
            if isinstance(value, _PRIMITIVES) or (
                isinstance(value, (list, tuple)) and all(isinstance(v, _PRIMITIVES) for v in value)
            ):
                state[key] = list(value) if isinstance(value, tuple) else value
    message = error.message if isinstance(error, XentreeError) else str(error)
    return {
        "message": f"{error}" if isinstance(error, XentreeError) else f"{type(error).__name__}: {message}",
        "error_type": type(error).__name__,
        "error_state": state,
    }


def error_from_event(event: dict[str, Any]) -> XentreeError:
    """Rebuild the ``XentreeError`` subclass an ``error`` event describes (``XentreeError`` if unknown)."""
    name = str(event.get("error_type") or "")
    cls = getattr(xentree_errors, name, None)
    state = dict(event.get("error_state") or {})
    message = str(state.get("message") or event.get("message") or "the trigger failed")
    if isinstance(cls, type) and issubclass(cls, XentreeError):
        error = cls.__new__(cls)
        Exception.__init__(error, message)
        error.__dict__.update(
            {
                "message": message,
                "status": None,
                "code": None,
                "request_id": None,
                "method": None,
                "path": None,
                "retry_after": None,
            }
        )
        error.__dict__.update(state)
        return error
    return XentreeError(str(event.get("message") or message))


class XentreeConditionTrigger(BaseTrigger):
    """Polls an async condition every ``poke_interval`` seconds until it is met or ``deadline`` passes.

    :param conn_id: the Xentree connection id.
    :param condition: a registered condition name or an import path (see
        :mod:`xentree_provider.conditions.registry`).
    :param condition_kwargs: keyword arguments of the condition; primitive JSON-able values only.
    :param poke_interval: seconds between checks.
    :param deadline: absolute time (epoch seconds) after which the trigger reports ``timeout``; the
        condition is checked one last time at the deadline. None waits forever.
    :param hook_overrides: keyword overrides for the hook (``timeout``, ``max_retries``, ...).
    """

    def __init__(
        self,
        conn_id: str,
        condition: str,
        condition_kwargs: dict[str, Any] | None = None,
        poke_interval: float = 60.0,
        deadline: float | None = None,
        hook_overrides: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        if poke_interval < 0:
            raise ValueError(f"poke_interval must not be negative, got {poke_interval}")
        self.conn_id = conn_id
        self.condition = condition
        self.condition_kwargs = dict(condition_kwargs or {})
        self.poke_interval = float(poke_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.hook_overrides = dict(hook_overrides or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and primitive state."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conn_id": self.conn_id,
                "condition": self.condition,
                "condition_kwargs": self.condition_kwargs,
                "poke_interval": self.poke_interval,
                "deadline": self.deadline,
                "hook_overrides": self.hook_overrides,
            },
        )

    def _hook(self) -> Any:
        from xentree_provider.hooks.xentree_async import XentreeAsyncHook

        return XentreeAsyncHook(self.conn_id, **self.hook_overrides)

    def _check_bound(self) -> float | None:
        """How long one check may run: until :data:`LAST_CHECK_SECONDS` past the deadline, so that a
        server trickling its answer cannot hold the trigger beyond it."""
        if self.deadline is None:
            return None
        return max(self.deadline - time.time(), 0.0) + LAST_CHECK_SECONDS

    def _timeout_event(self, polls: int, details: Any) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "status": "timeout",
            "details": details,
            "polls": polls,
            "message": f"condition {self.condition!r} not met by the deadline after {polls} check(s): "
            f"{details}",
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the condition is met, the deadline passes or an error occurs; yield one event."""
        from xentree_provider.conditions.registry import get_condition

        hook = self._hook()
        polls = 0
        base = {"condition": self.condition}
        try:
            try:
                check = get_condition(self.condition)
                while True:
                    polls += 1
                    try:
                        met, details = await asyncio.wait_for(
                            check(hook, **self.condition_kwargs), self._check_bound()
                        )
                    except asyncio.TimeoutError:
                        event = self._timeout_event(polls, {"check": "did not finish by the deadline"})
                        break
                    if met:
                        event = {**base, "status": "success", "details": details, "polls": polls}
                        break
                    remaining = None if self.deadline is None else self.deadline - time.time()
                    if remaining is not None and remaining <= 0:
                        event = self._timeout_event(polls, details)
                        break
                    wait = self.poke_interval if remaining is None else min(self.poke_interval, remaining)
                    self.log.info(
                        "Condition %s not met yet (%s); next check in %.1f s", self.condition, details, wait
                    )
                    await asyncio.sleep(wait)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.log.error("Condition %s failed: %s", self.condition, error)
                event = {**base, "status": "error", "polls": polls, **error_to_event(error)}
        finally:
            await hook.aclose()
        yield TriggerEvent(event)  # type: ignore[no-untyped-call]
