"""The registry of named async conditions that
:class:`~xentree_provider.triggers.condition.XentreeConditionTrigger` polls.

A condition is an async function ``check(hook, **kwargs) -> (met, details)``:

* ``hook`` is the async client, a :class:`~xentree_provider.hooks.xentree_async.XentreeAsyncHook` in
  the triggerer (same auth and retry policy as the sync hook; do not close it, the trigger does);
* ``kwargs`` are the trigger's ``condition_kwargs``: primitive, JSON-able values only (strings,
  numbers, booleans, lists, dicts), because they are stored in the metadata database;
* ``met`` says whether the wait is over; ``details`` is a small JSON-able dict that ends up in the
  trigger event and is what the sensor returns (XCom). Raise a ``XentreeError`` for failures.

Name a condition either by a short name registered here with :func:`register_condition`, or by its
import path (``"package.module.function"`` or ``"package.module:function"``). Import paths always
work in the triggerer, which imports only the trigger's module; short names work for the built-ins
(:data:`BUILTIN_CONDITION_MODULES`, loaded on the first look-up) and for conditions whose module was
imported before the look-up. The old paths ``xentree_provider.triggers.conditions.*`` and
``xentree_provider.triggers.xel_conditions.*`` (stored in triggers serialized by earlier releases)
still resolve.

Adding a condition (a hypothetical one in your own package; the shipped XEL condition is
:func:`xentree_provider.conditions.xel.xel_progress_reached`)::

    # myproject/conditions.py
    async def module_progress_reached(hook, *, module_id, min_percent):
        module = await hook.get_module(module_id)
        percent = float(module.get("progress_percent") or 0)
        return percent >= min_percent, {"module_id": module_id, "progress_percent": percent}

and name it ``"myproject.conditions.module_progress_reached"`` in the sensor (see
:class:`~xentree_provider.sensors.base.XentreeConditionSensor`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import import_module
from typing import Any, TypeAlias

__all__ = [
    "BUILTIN_CONDITION_MODULES",
    "AsyncCondition",
    "get_condition",
    "register_condition",
    "registered_conditions",
]

AsyncCondition: TypeAlias = Callable[..., Awaitable[tuple[bool, dict[str, Any]]]]
"""``async def check(hook: XentreeAsyncHook, **kwargs) -> tuple[bool, dict]``."""

BUILTIN_CONDITION_MODULES = ("xentree_provider.conditions.transcripts", "xentree_provider.conditions.xel")
"""Modules whose conditions register themselves; imported on the first look-up by short name."""

_REGISTRY: dict[str, AsyncCondition] = {}


def _load_builtins() -> None:
    for module_name in BUILTIN_CONDITION_MODULES:
        import_module(module_name)


def register_condition(name: str) -> Callable[[AsyncCondition], AsyncCondition]:
    """Decorator: register an async condition under a short ``name``."""

    def decorator(check: AsyncCondition) -> AsyncCondition:
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not check:
            raise ValueError(f"a different condition is already registered as {name!r}")
        _REGISTRY[name] = check
        return check

    return decorator


def registered_conditions() -> list[str]:
    """The short names registered: the built-ins and any registered so far."""
    _load_builtins()
    return sorted(_REGISTRY)


def get_condition(name: str) -> AsyncCondition:
    """Return the condition registered as ``name``, or import it when ``name`` is an import path."""
    if name not in _REGISTRY:
        _load_builtins()
    if name in _REGISTRY:
        return _REGISTRY[name]
    if "." in name or ":" in name:
        module_name, sep, attribute = name.partition(":")
        if not sep:
            module_name, _, attribute = name.rpartition(".")
        try:
            check = getattr(import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"cannot import the condition {name!r}: {error}") from None
        if not callable(check):
            raise ValueError(f"the condition {name!r} is not callable")
        return check  # type: ignore[no-any-return]
    raise ValueError(
        f"unknown condition {name!r}: registered are {', '.join(registered_conditions()) or 'none'}; "
        "or give an import path such as 'package.module.function'"
    )
