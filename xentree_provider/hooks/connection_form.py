"""The Xentree connection form, declared once.

Everything the Airflow UI needs to render the ``xentree`` connection form is derived from the
:data:`EXTRA_FIELDS` and :data:`FIELD_BEHAVIOUR` tables below:

* :func:`conn_fields` - the declarative ``conn-fields`` of provider info (Airflow 3.2+);
* :func:`ui_field_behaviour_for_provider_info` - ``ui-field-behaviour`` of provider info (kebab-case);
* :func:`ui_field_behaviour` - the legacy ``BaseHook.get_ui_field_behaviour()`` format;
* :func:`connection_form_widgets` - the legacy ``BaseHook.get_connection_form_widgets()`` wtforms fields.

This module is pure data plus functions: it imports neither Airflow nor wtforms at import time, so
provider discovery and DAG parsing stay cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "CONN_TYPE",
    "DEFAULT_CONN_ID",
    "DEFAULT_HOST",
    "EXTRA_FIELDS",
    "FIELD_BEHAVIOUR",
    "ExtraField",
    "conn_fields",
    "connection_form_widgets",
    "extra_defaults",
    "ui_field_behaviour",
    "ui_field_behaviour_for_provider_info",
]

CONN_TYPE = "xentree"
DEFAULT_CONN_ID = "xentree_default"
DEFAULT_HOST = "https://my.xentree.com"

FieldType = Literal["string", "integer", "boolean", "number"]


@dataclass(frozen=True)
class ExtraField:
    """One field stored in the connection's ``extra`` JSON.

    :param name: key in ``Connection.extra``.
    :param label: label shown in the connection form.
    :param description: help text shown under the field.
    :param type: JSON type of the value (``null`` is always allowed too: every extra is optional).
    :param default: default value, or ``None`` for no default.
    :param sensitive: a secret: rendered as a password input and masked by Airflow.
    :param placeholder: example value shown in the empty input.
    """

    name: str
    label: str
    description: str
    type: FieldType
    default: str | int | float | bool | None = None
    sensitive: bool = False
    placeholder: str | None = None

    @property
    def legacy_field_class(self) -> str:
        """Name of the wtforms field class used by the legacy form.

        Airflow only accepts ``StringField``, ``PasswordField``, ``IntegerField`` and ``BooleanField``
        from hooks, so a ``number`` is entered as text (the hook parses it).
        """
        if self.sensitive:
            return "PasswordField"
        return {"integer": "IntegerField", "boolean": "BooleanField"}.get(self.type, "StringField")


EXTRA_FIELDS: tuple[ExtraField, ...] = (
    ExtraField(
        name="api_key",
        label="API key (takes precedence over login)",
        description=(
            "Xentree API key (xntr-...). When set, requests use the X-API-Key header and the e-mail "
            "and password are ignored."
        ),
        type="string",
        sensitive=True,
    ),
    ExtraField(
        name="organization_id",
        label="Organization ID",
        description="Default organization for organization-scoped calls (membership sync, XEL reports).",
        type="string",
    ),
    ExtraField(
        name="timeout",
        label="Timeout (seconds)",
        description="HTTP timeout in seconds: one number for both, or 'connect,read' such as '10,60'.",
        type="string",
        default="10,60",
        placeholder="10,60",
    ),
    ExtraField(
        name="verify",
        label="Verify TLS certificates",
        description=(
            "Verify the server's TLS certificate. Turn off only for test servers. In the connection's "
            "JSON extra, a path to a CA bundle file is accepted too."
        ),
        type="boolean",
        default=True,
    ),
    ExtraField(
        name="max_retries",
        label="Max retries",
        description=(
            "Most retries of one request for transient failures (connection errors, read timeouts, "
            "429, 502/503/504, 500 on idempotent requests), within the retry budget. 0 disables retrying."
        ),
        type="integer",
        default=20,
    ),
    ExtraField(
        name="retry_budget_seconds",
        label="Retry budget (seconds)",
        description=(
            "How long one request may keep retrying transient failures, from its first try; with the "
            "retry count as a second bound."
        ),
        type="number",
        default=120,
    ),
    ExtraField(
        name="retry_max_wait",
        label="Max wait between retries (seconds)",
        description="Upper bound for one back-off sleep, including a server's Retry-After.",
        type="number",
        default=60,
    ),
    ExtraField(
        # Not "token_refresh_lead": Airflow masks every extra whose name contains "token".
        name="refresh_lead_seconds",
        label="Refresh lead (seconds)",
        description=(
            "Login mode: refresh the access token this many seconds before it expires "
            "(never more than half the token's lifetime). Formerly 'token_refresh_lead', still read."
        ),
        type="number",
        default=60,
    ),
    ExtraField(
        name="request_deadline",
        label="Request deadline (seconds)",
        description=(
            "The longest one request may take in all (connecting and reading the whole answer). Empty: "
            "the connect timeout plus twice the read timeout."
        ),
        type="number",
    ),
    ExtraField(
        name="max_response_bytes",
        label="Max response size (bytes)",
        description="The largest response accepted; a larger one fails with a clear error.",
        type="integer",
        default=64 * 1024 * 1024,
    ),
    ExtraField(
        name="max_requests_per_second",
        label="Max requests per second",
        description=(
            "A client-side cap on the requests this connection's hook starts per second, shared by all its "
            "threads. Empty: no cap (the hook still slows down by itself when the API answers 429)."
        ),
        type="number",
    ),
    ExtraField(
        name="allow_insecure_http",
        label="Allow plain HTTP",
        description=(
            "Allow an http:// base URL to a non-loopback host. Credentials then travel unencrypted; "
            "http://localhost and http://127.0.0.1 are always allowed."
        ),
        type="boolean",
        default=False,
    ),
)

FIELD_BEHAVIOUR: dict[str, Any] = {
    # The port stays visible: the Test button of the Airflow 3.3.2 UI needs a stored port (airflow#73298).
    "hidden_fields": ["schema"],
    "relabeling": {
        "host": "API base URL",
        "login": "E-mail (user login)",
        "password": "Password",
        "port": "Port (optional; 443 for https)",
    },
    "placeholders": {
        "host": DEFAULT_HOST,
        "port": "443",
        "login": "pipeline-user@example.com",
        "password": "login mode only",
        "description": "Xentree API",
    },
}


def extra_defaults() -> dict[str, Any]:
    """Return the default value of every extra field that has one."""
    return {f.name: f.default for f in EXTRA_FIELDS if f.default is not None}


def conn_fields() -> dict[str, dict[str, Any]]:
    """Return the ``conn-fields`` mapping for provider info (Airflow 3.2+ declarative form)."""
    result: dict[str, dict[str, Any]] = {}
    for field in EXTRA_FIELDS:
        schema: dict[str, Any] = {"type": [field.type, "null"]}
        if field.sensitive:
            schema["format"] = "password"
        if field.default is not None:
            schema["default"] = field.default
        result[field.name] = {"label": field.label, "description": field.description, "schema": schema}
    return result


def ui_field_behaviour() -> dict[str, Any]:
    """Return the standard-field customisation in the legacy ``get_ui_field_behaviour()`` format."""
    placeholders = dict(FIELD_BEHAVIOUR["placeholders"])
    for field in EXTRA_FIELDS:
        if field.placeholder is not None:
            placeholders[field.name] = field.placeholder
    return {
        "hidden_fields": list(FIELD_BEHAVIOUR["hidden_fields"]),
        "relabeling": dict(FIELD_BEHAVIOUR["relabeling"]),
        "placeholders": placeholders,
    }


def ui_field_behaviour_for_provider_info() -> dict[str, Any]:
    """Return :func:`ui_field_behaviour` with the kebab-case keys used in provider info."""
    legacy = ui_field_behaviour()
    return {
        "hidden-fields": legacy["hidden_fields"],
        "relabeling": legacy["relabeling"],
        "placeholders": legacy["placeholders"],
    }


def connection_form_widgets() -> dict[str, Any]:
    """Build the legacy wtforms fields for ``get_connection_form_widgets()``.

    wtforms (and Flask-AppBuilder's Bootstrap widgets, when present) are imported here, not at module
    import. Returns ``{}`` when wtforms is not installed: Airflow 3.2+ renders the form from
    :func:`conn_fields` instead.
    """
    try:
        from wtforms import BooleanField, IntegerField, PasswordField, StringField
        from wtforms.validators import NumberRange, Optional
    except ImportError:
        return {}

    text_widget: dict[str, Any] = {}
    password_widget: dict[str, Any] = {}
    try:
        from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    except ImportError:
        pass  # Airflow 3 does not ship Flask-AppBuilder: keep wtforms' own widgets.
    else:
        text_widget = {"widget": BS3TextFieldWidget()}
        password_widget = {"widget": BS3PasswordFieldWidget()}

    classes: dict[str, Any] = {
        "StringField": StringField,
        "PasswordField": PasswordField,
        "IntegerField": IntegerField,
        "BooleanField": BooleanField,
    }
    widgets: dict[str, Any] = {}
    for field in EXTRA_FIELDS:
        cls_name = field.legacy_field_class
        kwargs: dict[str, Any] = {"description": field.description}
        if field.default is not None:
            kwargs["default"] = str(field.default) if cls_name == "StringField" else field.default
        if cls_name == "IntegerField":
            kwargs["validators"] = [Optional(), NumberRange(min=0)]
            kwargs.update(text_widget)
        elif cls_name == "StringField":
            kwargs["validators"] = [Optional()]
            kwargs.update(text_widget)
        elif cls_name == "PasswordField":
            kwargs["validators"] = [Optional()]
            kwargs.update(password_widget)
        widgets[field.name] = classes[cls_name](field.label, **kwargs)
    return widgets
