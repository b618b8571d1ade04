"""The connection form as Airflow's UI serves and saves it: no field masked by name, defaults round-trip,
the port field visible (the UI's Test button on Airflow 3.3.2 needs it) and port 0 meaning no port."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from airflow._shared.secrets_masker.secrets_masker import DEFAULT_SENSITIVE_FIELDS, SecretsMasker
from airflow.sdk import Connection
from served_form import served_connection_form, served_defaults

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.api.extra_names import MASKED_VALUE, RENAMED_EXTRAS
from xentree_provider.api.settings import ClientSettings
from xentree_provider.hooks import connection_form
from xentree_provider.hooks._airflow import settings_from_connection

API_KEY = "xntr-" + "a" * 86


def _airflow_masker() -> SecretsMasker:
    """A secrets masker with Airflow's default sensitive names (what a stock install hides)."""
    masker = SecretsMasker()
    masker.sensitive_variables_fields = list(DEFAULT_SENSITIVE_FIELDS)
    masker.hide_sensitive_var_conn_fields = True
    return masker


def _build(extra: dict[str, Any], overrides: dict[str, Any] | None = None) -> ClientSettings:
    return ClientSettings.from_connection(
        host="https://x.example",
        login=None,
        password=None,
        extra={**extra, "api_key": API_KEY},
        overrides=overrides,
    )


@pytest.mark.parametrize("field", connection_form.EXTRA_FIELDS, ids=lambda field: field.name)
def test_only_secret_extras_have_names_airflow_masks(field: connection_form.ExtraField) -> None:
    masker = _airflow_masker()
    for name in (field.name, f"extra__xentree__{field.name}"):
        assert masker.should_hide_value_for_key(name) is field.sensitive, (
            f"{name!r}: Airflow masks extras whose name contains one of {sorted(DEFAULT_SENSITIVE_FIELDS)}; "
            "only secrets may have such names"
        )


def test_form_defaults_survive_the_api_servers_redaction() -> None:
    """The UI's form gets its defaults from the api-server's hook metadata, after redaction."""
    served = served_connection_form().extra_fields
    assert served is not None
    shown = {name: spec["value"] for name, spec in served.items()}
    assert {name: value for name, value in shown.items() if value is not None} == served_defaults()
    # Saving the form unchanged stores these values; they must give the defaults, not an error.
    assert _build(shown) == _build({})


def test_the_old_name_of_the_refresh_lead_is_still_read() -> None:
    assert RENAMED_EXTRAS["token_refresh_lead"] == "refresh_lead_seconds"
    assert _build({"token_refresh_lead": 30}).token_refresh_lead == 30.0
    assert _build({"refresh_lead_seconds": "45"}).token_refresh_lead == 45.0
    assert _build({}, overrides={"token_refresh_lead": 12}).token_refresh_lead == 12.0


def test_the_current_name_wins_over_the_old_one(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        settings = _build({"token_refresh_lead": 30, "refresh_lead_seconds": 20})
    assert settings.token_refresh_lead == 20.0
    assert "refresh_lead_seconds" in caplog.text and "token_refresh_lead" in caplog.text
    # ...but an empty current field (the form's untouched input) does not hide the old one
    assert _build({"token_refresh_lead": 30, "refresh_lead_seconds": None}).token_refresh_lead == 30.0


@pytest.mark.parametrize("name", ["token_refresh_lead", "refresh_lead_seconds", "timeout", "max_retries"])
def test_a_masked_placeholder_is_unset_with_a_warning(name: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        settings = _build({name: MASKED_VALUE})
    assert settings == _build({})
    assert name in caplog.text and "masked" in caplog.text


def test_a_bad_value_under_the_old_name_is_reported_under_that_name() -> None:
    with pytest.raises(XentreeConfigError, match="'token_refresh_lead' must be a number"):
        _build({"token_refresh_lead": "soon"})
    with pytest.raises(XentreeConfigError, match="'refresh_lead_seconds' must be a number"):
        _build({"refresh_lead_seconds": "soon"})


def test_the_port_field_is_shown_in_both_form_formats() -> None:
    from xentree_provider import get_provider_info

    declared = next(
        conn for conn in get_provider_info()["connection-types"] if conn["connection-type"] == "xentree"
    )["ui-field-behaviour"]
    legacy = connection_form.ui_field_behaviour()
    for behaviour in (declared["hidden-fields"], legacy["hidden_fields"]):
        assert "port" not in behaviour
    assert "443" in legacy["relabeling"]["port"] + legacy["placeholders"]["port"]


@pytest.mark.parametrize("port", [0, None])
def test_port_zero_from_the_ui_means_no_port(port: int | None) -> None:
    """The 3.3.2 UI sends port 0 for a connection saved without a port."""
    conn = Connection(
        conn_id="xentree_ui",
        conn_type="xentree",
        host="https://my.xentree.com",
        port=port,
        extra=f'{{"api_key": "{API_KEY}"}}',
    )
    assert settings_from_connection(conn, {}, lambda secret: None).base_url == "https://my.xentree.com"


def test_a_typed_port_is_used() -> None:
    conn = Connection(
        conn_id="xentree_ui",
        conn_type="xentree",
        host="https://my.xentree.com",
        port=443,
        extra=f'{{"api_key": "{API_KEY}"}}',
    )
    assert settings_from_connection(conn, {}, lambda secret: None).base_url == "https://my.xentree.com:443"
