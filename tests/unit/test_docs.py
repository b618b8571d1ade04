"""Every public hook, operator and sensor class is documented somewhere in docs/."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from importlib.util import find_spec
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PACKAGES = ("xentree_provider.hooks", "xentree_provider.operators", "xentree_provider.sensors")


def _docs_text() -> str:
    sources = [
        p
        for p in DOCS.rglob("*")
        if p.suffix in {".md", ".rst"} and "_build" not in p.relative_to(DOCS).parts
    ]
    return "\n".join(p.read_text(encoding="utf-8") for p in sources)


def _public_classes(package: str) -> list[str]:
    if find_spec(package) is None:
        return []
    pkg = importlib.import_module(package)
    names: set[str] = set()
    modules = [pkg.__name__] + [
        m.name
        for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.")
        if not m.name.rpartition(".")[2].startswith("_")
    ]
    for module_name in modules:
        module = importlib.import_module(module_name)
        exported = getattr(module, "__all__", None)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if name.startswith("_") or obj.__module__ != module_name:
                continue
            if exported is not None and name not in exported:
                continue
            names.add(f"{module_name}.{name}")
    return sorted(names)


def test_docs_exist() -> None:
    assert (DOCS / "index.md").is_file()
    assert (DOCS / "conf.py").is_file()


@pytest.mark.parametrize("package", PACKAGES)
def test_public_classes_are_documented(package: str) -> None:
    text = _docs_text()
    missing = [
        path
        for path in _public_classes(package)
        if not re.search(rf"\b{re.escape(path.rpartition('.')[2])}\b", text)
    ]
    assert not missing, f"public classes not mentioned in any page under docs/: {', '.join(missing)}"


def test_hook_class_is_found() -> None:
    """Guard against the walk silently finding nothing."""
    assert "xentree_provider.hooks.xentree.XentreeHook" in _public_classes("xentree_provider.hooks")
