"""Provider metadata read by Airflow's ``ProvidersManager``.

The optional sections (operators, sensors, triggers, extra links) are computed when Airflow asks, from
the files of the installed package, so they list only the modules that exist, without importing them
(DAG-parse cost matters).
"""

from __future__ import annotations

import pkgutil
from importlib.util import find_spec
from typing import Any

from xentree_provider.hooks import connection_form

__all__ = [
    "EXTRA_LINK_CLASSES",
    "HOOK_MODULES",
    "INTEGRATION_NAME",
    "OPERATOR_PACKAGE",
    "SENSOR_PACKAGE",
    "TRIGGER_PACKAGE",
    "build_provider_info",
    "package_modules",
]

PACKAGE_NAME = "airflow-provider-xentree"
INTEGRATION_NAME = "Xentree"
DOCS_URL = "https://xentree-provider.readthedocs.io/"
HOOK_CLASS_NAME = "xentree_provider.hooks.xentree.XentreeHook"

# --- Modules declared in provider info ------------------------------------------------------------
# Hooks are declared explicitly (the async twin once it exists). Operators, sensors and triggers are
# every public module (name not starting with "_") of their sub-package, found on disk without
# importing anything, so the metadata grows as modules land. Extra links are class paths, listed once
# their module exists.
HOOK_MODULES: tuple[str, ...] = ("xentree_provider.hooks.xentree", "xentree_provider.hooks.xentree_async")
OPERATOR_PACKAGE = "xentree_provider.operators"
SENSOR_PACKAGE = "xentree_provider.sensors"
TRIGGER_PACKAGE = "xentree_provider.triggers"
EXTRA_LINK_CLASSES: tuple[str, ...] = (
    "xentree_provider.links.xentree.XentreeTranscriptLink",
    "xentree_provider.links.xentree.XentreeOrganizationLink",
    "xentree_provider.links.xentree.XentreeXelLink",
)
# ---------------------------------------------------------------------------------------------------


def _module_exists(name: str) -> bool:
    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):  # a missing parent package raises instead of returning None
        return False


def _existing(names: tuple[str, ...]) -> list[str]:
    return [name for name in names if _module_exists(name)]


def package_modules(package: str) -> list[str]:
    """Return the public modules of ``package`` (sorted), found on disk without importing them."""
    try:
        spec = find_spec(package)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    names = {
        f"{package}.{info.name}"
        for info in pkgutil.iter_modules(list(spec.submodule_search_locations))
        if not info.name.startswith("_") and not info.ispkg
    }
    return sorted(names)


def _module_section(package: str) -> list[dict[str, Any]]:
    modules = package_modules(package)
    if not modules:
        return []
    return [{"integration-name": INTEGRATION_NAME, "python-modules": modules}]


def build_provider_info() -> dict[str, Any]:
    """Return the provider info dictionary (validated against Airflow's ``provider_info.schema.json``)."""
    from xentree_provider import __version__

    info: dict[str, Any] = {
        "package-name": PACKAGE_NAME,
        "name": INTEGRATION_NAME,
        "description": (
            "`Xentree <https://my.xentree.com>`__: transcript exports, organization-membership sync, "
            "Xentree English (XEL) learning reports and knowledge-base lookups as Airflow pipelines."
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION_NAME,
                "external-doc-url": DOCS_URL,
                "tags": ["service"],
            }
        ],
        # The sync hook is always declared: it is the core of the provider.
        "hooks": [
            {
                "integration-name": INTEGRATION_NAME,
                "python-modules": [HOOK_MODULES[0], *_existing(HOOK_MODULES[1:])],
            }
        ],
        "connection-types": [
            {
                "connection-type": connection_form.CONN_TYPE,
                "hook-class-name": HOOK_CLASS_NAME,
                "hook-name": INTEGRATION_NAME,
                "ui-field-behaviour": connection_form.ui_field_behaviour_for_provider_info(),
                "conn-fields": connection_form.conn_fields(),
            }
        ],
    }

    # Optional sections: present only when at least one module has landed.
    if operators := _module_section(OPERATOR_PACKAGE):
        info["operators"] = operators
    if sensors := _module_section(SENSOR_PACKAGE):
        info["sensors"] = sensors
    if triggers := _module_section(TRIGGER_PACKAGE):
        info["triggers"] = triggers
    extra_links = [path for path in EXTRA_LINK_CLASSES if _module_exists(path.rpartition(".")[0])]
    if extra_links:
        info["extra-links"] = extra_links
    return info
