"""Provider metadata read by Airflow's ``ProvidersManager``.

Plain data: building it imports nothing but the connection-form description (DAG-parse cost matters).
``tests/unit/test_provider_info.py`` checks that every module declared here exists and that every public
operator, sensor, trigger and link module of the package is declared.
"""

from __future__ import annotations

from typing import Any

from xentree_provider.hooks import connection_form

__all__ = [
    "EXTRA_LINK_CLASSES",
    "HOOK_MODULES",
    "INTEGRATION_NAME",
    "OPERATOR_MODULES",
    "SENSOR_MODULES",
    "TRIGGER_MODULES",
    "build_provider_info",
]

PACKAGE_NAME = "airflow-provider-xentree"
INTEGRATION_NAME = "Xentree"
DOCS_URL = "https://xentree-provider.readthedocs.io/"
HOOK_CLASS_NAME = "xentree_provider.hooks.xentree.XentreeHook"

HOOK_MODULES: tuple[str, ...] = ("xentree_provider.hooks.xentree", "xentree_provider.hooks.xentree_async")
OPERATOR_MODULES: tuple[str, ...] = (
    "xentree_provider.operators.conversations",
    "xentree_provider.operators.english",
    "xentree_provider.operators.knowledge",
    "xentree_provider.operators.live",
    "xentree_provider.operators.live_incremental",
    "xentree_provider.operators.organizations",
)
SENSOR_MODULES: tuple[str, ...] = (
    "xentree_provider.sensors.base",
    "xentree_provider.sensors.english",
    "xentree_provider.sensors.live",
)
TRIGGER_MODULES: tuple[str, ...] = (
    "xentree_provider.triggers.condition",
    "xentree_provider.triggers.new_transcripts",
)
EXTRA_LINK_CLASSES: tuple[str, ...] = (
    "xentree_provider.links.xentree.XentreeTranscriptLink",
    "xentree_provider.links.xentree.XentreeOrganizationLink",
    "xentree_provider.links.xentree.XentreeXelLink",
)


def _section(modules: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"integration-name": INTEGRATION_NAME, "python-modules": list(modules)}]


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
        "hooks": [
            {
                "integration-name": INTEGRATION_NAME,
                "python-modules": list(HOOK_MODULES),
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

    info["operators"] = _section(OPERATOR_MODULES)
    info["sensors"] = _section(SENSOR_MODULES)
    info["triggers"] = _section(TRIGGER_MODULES)
    info["extra-links"] = list(EXTRA_LINK_CLASSES)
    return info
