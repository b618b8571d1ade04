"""What the deferrable/links docs and docstrings name exists: modules, files, classes, attached links."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("docs/deferrable.md",)
MODULES = (
    "xentree_provider.sensors.base",
    "xentree_provider.triggers.conditions",
    "xentree_provider.links.xentree",
)
DOTTED = re.compile(r"\bxentree_provider(?:\.\w+)+")
FILE = re.compile(r"\bxentree_provider(?:/\w+)+\.py\b")
CLASS = re.compile(r"\bXentree\w+(?:Sensor|Operator|Trigger|Link)\b")
OPERATOR_MODULES = (
    "xentree_provider.operators.live",
    "xentree_provider.operators.live_incremental",
    "xentree_provider.operators.organizations",
    "xentree_provider.operators.english",
    "xentree_provider.operators.conversations",
    "xentree_provider.operators.knowledge",
)
SENSOR_MODULES = ("xentree_provider.sensors.live", "xentree_provider.sensors.english")


def _texts() -> list[tuple[str, str]]:
    texts = [(name, (ROOT / name).read_text(encoding="utf-8")) for name in DOCS]
    texts += [(name, importlib.import_module(name).__doc__ or "") for name in MODULES]
    return texts


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def _classes(modules: tuple[str, ...]) -> dict[str, type]:
    found: dict[str, type] = {}
    for name in modules:
        module = importlib.import_module(name)
        found.update({n: c for n, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == name})
    return found


@pytest.mark.parametrize(("source", "text"), _texts(), ids=[name for name, _ in _texts()])
def test_named_modules_files_and_classes_exist(source: str, text: str) -> None:
    known = _classes(OPERATOR_MODULES + SENSOR_MODULES + ("xentree_provider.links.xentree",))
    known |= _classes(
        (
            "xentree_provider.sensors.base",
            "xentree_provider.triggers.condition",
            "xentree_provider.triggers.new_transcripts",
        )
    )
    assert [d for d in set(DOTTED.findall(text)) if not _resolves(d)] == [], source
    assert [f for f in set(FILE.findall(text)) if not (ROOT / f).is_file()] == [], source
    assert sorted(c for c in set(CLASS.findall(text)) if c not in known) == [], source


def test_every_link_is_attached_to_an_operator_and_no_sensor_claims_one() -> None:
    from xentree_provider.links.xentree import XentreeLink

    links = {c for c in _classes(("xentree_provider.links.xentree",)).values() if issubclass(c, XentreeLink)}
    attached = {
        type(link)
        for operator in _classes(OPERATOR_MODULES).values()
        for link in getattr(operator, "operator_extra_links", ())
    }
    assert links - {XentreeLink} <= attached
    for sensor in _classes(SENSOR_MODULES).values():
        assert not getattr(sensor, "operator_extra_links", ()), sensor
