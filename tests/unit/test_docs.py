"""Every public hook, operator, sensor and trigger class has a page: its API reference is rendered from its
docstring (``automodule`` with ``:members:`` or ``autoclass``) somewhere under docs/."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from importlib.util import find_spec
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PACKAGES = (
    "xentree_provider.hooks",
    "xentree_provider.operators",
    "xentree_provider.sensors",
    "xentree_provider.triggers",
)
AUTOMODULE = re.compile(r"^\.\. automodule:: (\S+)\s*\n(?:[ \t]+:[^\n]*\n)*", re.MULTILINE)
AUTOCLASS = re.compile(r"^\.\. auto(?:class|exception):: (\S+)", re.MULTILINE)


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


def _rendered_classes(text: str) -> tuple[set[str], set[str]]:
    """(modules rendered with all their members, classes rendered one by one) by the docs sources."""
    whole_modules = set()
    for match in AUTOMODULE.finditer(text):
        options = match.group(0)
        if re.search(r":members:\s*$", options, re.MULTILINE):  # ":members:" alone = every public member
            whole_modules.add(match.group(1))
    classes = {m.group(1) for m in AUTOCLASS.finditer(text)}
    for match in AUTOMODULE.finditer(text):
        listed = re.search(r":members:[ \t]*(\S[^\n]*)", match.group(0))
        if listed:
            classes.update(f"{match.group(1)}.{name.strip()}" for name in listed.group(1).split(","))
    return whole_modules, classes


@pytest.mark.parametrize("package", PACKAGES)
def test_public_classes_have_an_api_page(package: str) -> None:
    whole_modules, classes = _rendered_classes(_docs_text())
    missing = [
        path
        for path in _public_classes(package)
        if path not in classes and path.rpartition(".")[0] not in whole_modules
    ]
    assert not missing, f"public classes without an autodoc entry under docs/: {', '.join(missing)}"


def test_hook_class_is_found() -> None:
    """Guard against the walk silently finding nothing."""
    assert "xentree_provider.hooks.xentree.XentreeHook" in _public_classes("xentree_provider.hooks")
