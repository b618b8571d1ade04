"""The house's layering, read from the source: which package may import which.

Every ``import`` and ``from ... import`` counts, wherever it stands (module level, inside a function,
under ``TYPE_CHECKING``): a layer that needs another's types asks for a Protocol instead.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "xentree_provider"

# Packages of pure logic: no Airflow, and nothing from the Airflow-side packages of this provider.
PURE = (
    "api",
    "exports",
    "transcripts",
    "conversations",
    "membership",
    "reporting",
    "conditions",
    "knowledge",
    "tabular",
    "redaction",
)
AIRFLOW_SIDE = ("hooks", "_task", "operators", "sensors", "triggers", "links", "testing")
# What each pure package may use of this provider besides itself (api is the bottom layer).
PURE_MAY_USE = {
    "api": (),
    "exports": ("api", "tabular"),
    "transcripts": ("api", "tabular", "exports"),
    "conversations": ("api", "tabular", "exports"),
    "membership": ("api", "tabular"),
    "reporting": ("api", "tabular"),
    "conditions": ("api", "transcripts"),
    "knowledge": ("tabular",),
    "tabular": ("api",),
    "redaction": ("api",),
}
HOOKS_MAY_NOT_USE = ("operators", "sensors", "triggers", "_task", "links")
# Outside the package, only these trees may import the test kit.
TESTING_USERS = ("tests", "bench", "dags_examples")


def _modules(tree: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(tree.rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line, imported module)`` for every import in the file, relative ones resolved."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            # `from xentree_provider import operators` imports a subpackage: count it as such.
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "xentree_provider" else None


def _package_imports() -> Iterator[tuple[str, str, int, str]]:
    """Yield ``(subpackage, module, line, imported)`` for every import inside xentree_provider."""
    for module, path in _modules(PACKAGE):
        layer = _subpackage(module)
        for line, imported in _imports(module, path):
            yield layer or "", module, line, imported


def _is_subpackage(name: str) -> bool:
    """True for a module or package of xentree_provider (not ``__version__`` and the like)."""
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def _is_airflow(imported: str) -> bool:
    return imported == "airflow" or imported.startswith("airflow.")


def test_the_import_walker_sees_every_kind_of_import(tmp_path: Path) -> None:
    source = (
        "import airflow\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from xentree_provider.hooks.xentree import XentreeHook\n"
        "def f():\n"
        "    from ..operators import live\n"
    )
    path = tmp_path / "mod.py"
    path.write_text(source, encoding="utf-8")
    found = {imported for _, imported in _imports("xentree_provider.api.mod", path)}
    assert {"airflow", "xentree_provider.hooks.xentree", "xentree_provider.operators.live"} <= found


@pytest.mark.parametrize("layer", PURE)
def test_pure_packages_import_no_airflow_and_no_airflow_side_package(layer: str) -> None:
    allowed = {layer, *PURE_MAY_USE[layer]}
    bad = []
    for importer_layer, module, line, imported in _package_imports():
        if importer_layer != layer:
            continue
        target = _subpackage(imported)
        forbidden_layer = target is not None and target not in allowed and _is_subpackage(target)
        if _is_airflow(imported) or forbidden_layer:
            bad.append(f"{module}:{line} imports {imported}")
    assert bad == [], f"{layer}/ must stay free of Airflow and of {sorted(set(AIRFLOW_SIDE))}"


def test_hooks_use_only_the_api_and_task_free_helpers() -> None:
    bad = [
        f"{module}:{line} imports {imported}"
        for layer, module, line, imported in _package_imports()
        if layer == "hooks"
        and _subpackage(imported) in ("operators", "sensors", "triggers", "_task", "links")
    ]
    assert bad == []


@pytest.mark.parametrize(("importer", "forbidden"), [("operators", "sensors"), ("sensors", "operators")])
def test_operators_and_sensors_do_not_import_each_other(importer: str, forbidden: str) -> None:
    bad = [
        f"{module}:{line} imports {imported}"
        for layer, module, line, imported in _package_imports()
        if layer == importer and _subpackage(imported) == forbidden
    ]
    assert bad == []


def test_nothing_outside_tests_bench_and_examples_imports_the_test_kit() -> None:
    bad = [
        f"{module}:{line} imports {imported}"
        for layer, module, line, imported in _package_imports()
        if layer != "testing" and _subpackage(imported) == "testing"
    ]
    for tree in ROOT.iterdir():
        if (
            not tree.is_dir()
            or tree.name.startswith(".")
            or tree.name in (*TESTING_USERS, "xentree_provider")
        ):
            continue
        for module, path in _modules(tree):
            bad += [
                f"{module}:{line} imports {imported}"
                for line, imported in _imports(module, path)
                if _subpackage(imported) == "testing"
            ]
    assert bad == []
