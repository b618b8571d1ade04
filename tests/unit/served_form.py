"""The connection form as Airflow's api-server serves it to the UI, on every Airflow 3 minor.

Airflow 3.3 builds it from provider info (``conn-fields``); 3.2 from provider info too, through the
hook metadata it assembles with WTForms mocked; 3.1 from the hook's legacy WTForms widgets (mocked the
same way), whose text fields hold text. :func:`served_connection_form` calls the api-server's own
``HookMetaService.hook_meta_data()`` on each, and undoes the mock modules it leaves in ``sys.modules``
(later tests must see that WTForms is not installed).
"""

from __future__ import annotations

import sys
from typing import Any


def served_connection_form(connection_type: str = "xentree") -> Any:
    """The ``ConnectionHookMetaData`` the api-server serves for ``connection_type``."""
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService

    modules_before = set(sys.modules)
    try:
        served = {meta.connection_type: meta for meta in HookMetaService.hook_meta_data()}
    finally:
        for name in set(sys.modules) - modules_before:
            if type(sys.modules[name]).__name__ == "MagicMock":
                del sys.modules[name]
    return served[connection_type]


def served_defaults() -> dict[str, Any]:
    """The extras' defaults as the served form holds them: typed, but text in 3.1's legacy text fields.

    3.1's form comes from the legacy widgets, where a ``number`` extra is a text field (Airflow accepts
    no float field from hooks), so its default is served as text; the hook reads either.
    """
    from xentree_provider._compat import airflow_version
    from xentree_provider.hooks import connection_form

    defaults = connection_form.extra_defaults()
    if airflow_version() >= (3, 2, 0):
        return defaults
    types = {name: field["schema"]["type"][0] for name, field in connection_form.conn_fields().items()}
    return {name: str(value) if types[name] == "number" else value for name, value in defaults.items()}
