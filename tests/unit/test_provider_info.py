"""Provider metadata: schema-valid, one connection form in two formats, discovered by Airflow."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from served_form import served_connection_form, served_defaults

import xentree_provider
from xentree_provider._compat import airflow_version
from xentree_provider.hooks import connection_form
from xentree_provider.provider_info import EXTRA_LINK_CLASSES

PACKAGE_NAME = "airflow-provider-xentree"
HOOK_CLASS_PATH = "xentree_provider.hooks.xentree.XentreeHook"
LEGACY_CLASS_FOR_TYPE = {
    "string": "StringField",
    "integer": "IntegerField",
    "boolean": "BooleanField",
    # Airflow accepts no float field from hooks: numbers are typed as text in the legacy form.
    "number": "StringField",
}


def _airflow_schema(name: str) -> dict[str, Any]:
    import airflow

    path = Path(airflow.__file__).parent / name
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def info() -> dict[str, Any]:
    return xentree_provider.get_provider_info()


def _xentree_conn_type(info: dict[str, Any]) -> dict[str, Any]:
    (conn_type,) = [c for c in info["connection-types"] if c["connection-type"] == "xentree"]
    return conn_type


def _import_string(path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


# --- schema --------------------------------------------------------------------------------------------


def test_provider_info_matches_airflow_schema(info: dict[str, Any]) -> None:
    jsonschema.Draft7Validator(_airflow_schema("provider_info.schema.json")).validate(info)


def test_connection_type_matches_provider_yaml_schema(info: dict[str, Any]) -> None:
    """provider.yaml's schema is the strict one for ``conn-fields`` and ``ui-field-behaviour``."""
    conn_types_schema = _airflow_schema("provider.yaml.schema.json")["properties"]["connection-types"]
    jsonschema.Draft7Validator(conn_types_schema).validate(info["connection-types"])


def test_legacy_field_behaviour_matches_airflow_schema() -> None:
    schema = _airflow_schema("customized_form_field_behaviours.schema.json")
    jsonschema.Draft7Validator(schema).validate(connection_form.ui_field_behaviour())


def test_provider_info_identity(info: dict[str, Any]) -> None:
    assert info["package-name"] == PACKAGE_NAME
    assert info["versions"] == [xentree_provider.__version__]
    assert [i["integration-name"] for i in info["integrations"]] == ["Xentree"]
    assert info["integrations"][0]["external-doc-url"].startswith("https://")
    conn_type = _xentree_conn_type(info)
    assert conn_type["hook-class-name"] == HOOK_CLASS_PATH
    assert conn_type["hook-name"] == "Xentree"


# --- the connection form: one definition, two formats ----------------------------------------------------


def test_conn_fields_declare_every_extra(info: dict[str, Any]) -> None:
    fields = _xentree_conn_type(info)["conn-fields"]
    assert set(fields) == {
        "api_key",
        "organization_id",
        "timeout",
        "verify",
        "max_retries",
        "retry_max_wait",
        "refresh_lead_seconds",
        "allow_insecure_http",
        "retry_budget_seconds",
        "request_deadline",
        "max_response_bytes",
        "max_requests_per_second",
    }
    secrets = {name for name, f in fields.items() if f["schema"].get("format") == "password"}
    assert secrets == {"api_key"}
    for name, field in fields.items():
        field_type = field["schema"]["type"]
        assert isinstance(field_type, list)
        assert field_type[-1] == "null", name
        assert field_type[0] in {"string", "integer", "boolean", "number"}, name
    assert fields["refresh_lead_seconds"]["schema"]["default"] == 60
    assert fields["api_key"]["label"] == "API key (takes precedence over login)"


def test_ui_field_behaviour_in_both_formats(info: dict[str, Any]) -> None:
    legacy = connection_form.ui_field_behaviour()
    declared = _xentree_conn_type(info)["ui-field-behaviour"]
    assert declared == {
        "hidden-fields": legacy["hidden_fields"],
        "relabeling": legacy["relabeling"],
        "placeholders": legacy["placeholders"],
    }
    assert set(legacy["hidden_fields"]) == {"schema"}
    assert legacy["relabeling"] == {
        "host": "API base URL",
        "login": "E-mail (user login)",
        "password": "Password",
        "port": "Port (optional; 443 for https)",
    }
    assert legacy["placeholders"]["host"] == "https://my.xentree.com"


def test_legacy_widgets_agree_with_conn_fields() -> None:
    pytest.importorskip("wtforms", reason="wtforms is not installed: the legacy form cannot be built")
    fields = connection_form.conn_fields()
    widgets = connection_form.connection_form_widgets()

    assert set(widgets) == set(fields)
    for name, widget in widgets.items():
        schema = fields[name]["schema"]
        label = widget.args[0] if widget.args else widget.kwargs["label"]
        assert str(label) == fields[name]["label"], name
        assert widget.kwargs.get("description") == fields[name]["description"], name

        secret = schema.get("format") == "password"
        class_name = widget.field_class.__name__
        assert (class_name == "PasswordField") == secret, name
        expected_class = "PasswordField" if secret else LEGACY_CLASS_FOR_TYPE[schema["type"][0]]
        assert class_name == expected_class, name
        # What Airflow itself uses to decide that a legacy field is sensitive.
        assert (getattr(widget.field_class.widget, "input_type", None) == "password") == secret, name

        default = widget.kwargs.get("default")
        if "default" in schema:
            expected = str(schema["default"]) if class_name == "StringField" else schema["default"]
            assert default == expected, name
        else:
            assert default is None, name


def test_legacy_widgets_are_fields_airflow_accepts() -> None:
    wtforms = pytest.importorskip("wtforms", reason="wtforms is not installed")
    allowed = {wtforms.StringField, wtforms.PasswordField, wtforms.IntegerField, wtforms.BooleanField}
    for name, widget in connection_form.connection_form_widgets().items():
        assert widget.field_class in allowed, name


def test_extra_defaults() -> None:
    defaults = connection_form.extra_defaults()
    assert defaults["refresh_lead_seconds"] == 60
    assert defaults["verify"] is True
    assert defaults["allow_insecure_http"] is False
    assert "api_key" not in defaults


# --- cheap to load --------------------------------------------------------------------------------------


def test_provider_info_imports_neither_airflow_nor_wtforms() -> None:
    code = (
        "import sys, xentree_provider; xentree_provider.get_provider_info(); "
        "heavy = sorted(m for m in ('airflow', 'wtforms', 'requests', 'xentree_provider.hooks.xentree') "
        "if m in sys.modules); print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert out == "", f"get_provider_info() imported: {out}"


# --- everything declared exists -------------------------------------------------------------------------


def test_declared_modules_and_classes_import(info: dict[str, Any]) -> None:
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info.get(section, []):
            assert entry["integration-name"] == "Xentree"
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for path in info.get("extra-links", []):
        assert path in EXTRA_LINK_CLASSES
        _import_string(path)
    _import_string(_xentree_conn_type(info)["hook-class-name"])


def _is_subclass(obj: Any, base: type) -> bool:
    # On Python 3.10, generic aliases such as dict[str, Any] pass isinstance(obj, type).
    try:
        return isinstance(obj, type) and issubclass(obj, base)
    except TypeError:
        return False


def _public_modules(package: str) -> set[str]:
    pkg = importlib.import_module(package)
    return {f"{package}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")}


def test_every_shipped_module_is_declared(info: dict[str, Any]) -> None:
    declared = {
        section: {m for entry in info[section] for m in entry["python-modules"]}
        for section in ("operators", "sensors", "triggers")
    }
    assert declared["operators"] == _public_modules("xentree_provider.operators")
    assert declared["sensors"] == _public_modules("xentree_provider.sensors")
    # Trigger modules: those defining a BaseTrigger subclass (the others hold condition functions).
    from airflow.triggers.base import BaseTrigger

    trigger_modules = {
        name
        for name in _public_modules("xentree_provider.triggers")
        if any(
            _is_subclass(obj, BaseTrigger) and obj.__module__ == name
            for obj in vars(importlib.import_module(name)).values()
        )
    }
    assert declared["triggers"] == trigger_modules
    links = importlib.import_module("xentree_provider.links.xentree")
    link_classes = {
        f"{links.__name__}.{name}"
        for name, obj in vars(links).items()
        if isinstance(obj, type)
        and obj.__module__ == links.__name__
        and not name.startswith("_")
        and getattr(obj, "name", None)
        and name != "XentreeLink"
    }
    assert set(info["extra-links"]) == link_classes


def test_hook_mirrors_the_form() -> None:
    hook_cls = _import_string(HOOK_CLASS_PATH)
    assert hook_cls.conn_type == "xentree"
    assert hook_cls.hook_name == "Xentree"
    assert hook_cls.default_conn_name == "xentree_default"
    assert hook_cls.conn_name_attr
    assert hook_cls.get_ui_field_behaviour() == connection_form.ui_field_behaviour()
    assert set(hook_cls.get_connection_form_widgets()) == set(connection_form.conn_fields()) or (
        hook_cls.get_connection_form_widgets() == {} and connection_form.connection_form_widgets() == {}
    )
    assert callable(getattr(hook_cls, "test_connection", None))


# --- Airflow discovers the provider ---------------------------------------------------------------------


def _airflow_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ.copy()
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _assert_no_xentree_warnings(result: subprocess.CompletedProcess[str]) -> None:
    noisy = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "xentree" in line.lower() and ("warning" in line.lower() or "error" in line.lower())
    ]
    assert not noisy, "\n".join(noisy)


def test_airflow_providers_list() -> None:
    result = _airflow_cli("providers", "list", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert PACKAGE_NAME in result.stdout
    assert "xentree" in result.stdout
    packages = {p["package_name"]: p for p in json.loads(result.stdout)}
    assert packages[PACKAGE_NAME]["version"] == xentree_provider.__version__
    _assert_no_xentree_warnings(result)


def test_airflow_providers_hooks() -> None:
    result = _airflow_cli("providers", "hooks", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert PACKAGE_NAME in result.stdout
    hooks = {h["connection_type"]: h for h in json.loads(result.stdout)}
    assert hooks["xentree"]["class"] == HOOK_CLASS_PATH
    assert hooks["xentree"]["package_name"] == PACKAGE_NAME
    _assert_no_xentree_warnings(result)


def test_airflow_builds_the_ui_form_from_provider_info() -> None:
    """The API server's view of the form: standard fields relabelled, extras typed, api_key secret."""
    from airflow.providers_manager import ProvidersManager

    served = served_connection_form()
    extras = served.extra_fields
    assert set(extras) == set(connection_form.conn_fields())
    assert extras["api_key"]["schema"]["format"] == "password"
    assert extras["refresh_lead_seconds"]["value"] == served_defaults()["refresh_lead_seconds"]
    for spec in extras.values():  # what the UI's form checks before it saves
        if spec["value"] is not None:
            jsonschema.validate(spec["value"], spec["schema"])
    # 3.2+ flags the secret from provider info; 3.1 from the real widget class, which its api-server
    # mocks (so nothing is flagged there, and 3.1 reads the flag nowhere): there the secret is masked by
    # its name (test_connection_form_ui.py::test_only_secret_extras_have_names_airflow_masks).
    if airflow_version() >= (3, 2, 0):
        pm = ProvidersManager()
        assert pm.connection_form_widgets["extra__xentree__api_key"].is_sensitive
        assert not pm.connection_form_widgets["extra__xentree__organization_id"].is_sensitive
    assert served.standard_fields.host.title == "API base URL"
