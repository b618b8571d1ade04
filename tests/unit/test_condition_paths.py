"""Condition names and import paths: the new package, and the old paths stored in serialized triggers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from xentree_provider.conditions import registry
from xentree_provider.conditions.transcripts import transcripts_in_window
from xentree_provider.conditions.xel import XEL_PROGRESS_CONDITION, xel_progress_reached
from xentree_provider.triggers.condition import XentreeConditionTrigger

OLD_AND_NEW = [
    ("transcripts_in_window", transcripts_in_window),
    ("xel_progress_reached", xel_progress_reached),
    ("xentree_provider.triggers.conditions.transcripts_in_window", transcripts_in_window),
    ("xentree_provider.triggers.conditions:transcripts_in_window", transcripts_in_window),
    ("xentree_provider.triggers.xel_conditions.xel_progress_reached", xel_progress_reached),
    ("xentree_provider.triggers.xel_conditions:xel_progress_reached", xel_progress_reached),
    ("xentree_provider.conditions.transcripts.transcripts_in_window", transcripts_in_window),
    (XEL_PROGRESS_CONDITION, xel_progress_reached),
]


@pytest.mark.parametrize(("name", "check"), OLD_AND_NEW)
def test_every_name_ever_stored_resolves_to_the_same_function(name: str, check: object) -> None:
    assert registry.get_condition(name) is check


@pytest.mark.parametrize("name", [name for name, _ in OLD_AND_NEW])
def test_a_fresh_triggerer_resolves_old_names_from_the_trigger_module_alone(name: str) -> None:
    # A triggerer imports only the trigger's module before it calls run(): short names and old
    # paths must resolve from there, with nothing else imported first.
    code = (
        "import asyncio, sys\n"
        "from xentree_provider.triggers.condition import XentreeConditionTrigger\n"
        "from xentree_provider.conditions.registry import get_condition\n"
        f"check = get_condition({name!r})\n"
        "assert asyncio.iscoroutinefunction(check), check\n"
        "print(check.__module__ + '.' + check.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("xentree_provider.conditions.")


def test_old_serialized_trigger_still_deserializes_and_names_its_condition() -> None:
    stored = {
        "conn_id": "xentree_default",
        "condition": "xentree_provider.triggers.xel_conditions.xel_progress_reached",
        "condition_kwargs": {"scope": "user", "threshold": 50.0},
        "poke_interval": 5.0,
        "deadline": None,
        "hook_overrides": {},
    }
    trigger = XentreeConditionTrigger(**stored)
    path, kwargs = trigger.serialize()
    assert path == "xentree_provider.triggers.condition.XentreeConditionTrigger"
    # Triggers stored before polls were shared come back sharing them (the new default).
    assert kwargs == {**stored, "share_polls": True}
    assert registry.get_condition(kwargs["condition"]) is xel_progress_reached


def test_built_ins_are_listed_without_importing_them_first() -> None:
    assert {"transcripts_in_window", "xel_progress_reached"} <= set(registry.registered_conditions())


def test_shims_re_export_the_same_objects() -> None:
    from xentree_provider.triggers import conditions as old_registry
    from xentree_provider.triggers import xel_conditions as old_xel

    assert old_registry.get_condition is registry.get_condition
    assert old_registry.register_condition is registry.register_condition
    assert old_registry.transcripts_in_window is transcripts_in_window
    assert old_xel.xel_progress_reached is xel_progress_reached
    assert old_xel.XEL_PROGRESS_CONDITION == XEL_PROGRESS_CONDITION
