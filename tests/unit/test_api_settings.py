"""Unit tests for ``xentree_provider.api.settings.ClientSettings.from_connection``."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.api.settings import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    ClientSettings,
    is_loopback_host,
)

PASSWORD = "pa55-w0rd-SECRET"
API_KEY = "xntr-" + "K" * 86


def build(
    host: str | None = None,
    *,
    login: str | None = "me@example.com",
    password: str | None = PASSWORD,
    extra: dict[str, Any] | str | None = None,
    port: int | None = None,
    **kwargs: Any,
) -> ClientSettings:
    return ClientSettings.from_connection(
        host=host, login=login, password=password, extra=extra, port=port, **kwargs
    )


# --------------------------------------------------------------------------- base URL


@pytest.mark.parametrize("host", [None, "", "   "])
def test_default_host(host: str | None) -> None:
    assert build(host).base_url == DEFAULT_BASE_URL == "https://my.xentree.com"


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("my.xentree.com", None, "https://my.xentree.com"),
        ("https://my.xentree.com/", None, "https://my.xentree.com"),
        ("https://my.xentree.com///", None, "https://my.xentree.com"),
        ("https://gw.example.com/xentree/", None, "https://gw.example.com/xentree"),
        ("api.example.com", 8443, "https://api.example.com:8443"),
        ("https://api.example.com:9000", 8443, "https://api.example.com:9000"),
        ("http://127.0.0.1", 8000, "http://127.0.0.1:8000"),
    ],
)
def test_base_url_normalised(host: str, port: int | None, expected: str) -> None:
    assert build(host, port=port).base_url == expected


@pytest.mark.parametrize("host", ["ftp://example.com", "https://", "https://x.com/?a=1", "https://x.com/#f"])
def test_bad_hosts(host: str) -> None:
    with pytest.raises(XentreeConfigError):
        build(host)


@pytest.mark.parametrize("host", ["https://api.example.com:notaport", "https://api.example.com:99999"])
def test_bad_port_in_host_is_a_config_error(host: str) -> None:
    with pytest.raises(XentreeConfigError):
        build(host)


def test_plain_http_to_remote_host_refused() -> None:
    with pytest.raises(XentreeConfigError) as info:
        build("http://api.example.com")
    message = str(info.value)
    assert "allow_insecure_http" in message
    assert "api.example.com" in message
    assert PASSWORD not in message


@pytest.mark.parametrize(
    "host",
    [
        "http://127.0.0.1:8000",
        "http://127.5.6.7",
        "http://localhost:8000",
        "http://[::1]:8000",
        "http://a.localhost",
    ],
)
def test_plain_http_to_loopback_allowed(host: str) -> None:
    settings = build(host)
    assert settings.base_url.startswith("http://")
    assert settings.allow_insecure_http is False


@pytest.mark.parametrize("flag", [True, "true", "True", "1", "yes", "on"])
def test_plain_http_allowed_with_extra(flag: Any) -> None:
    settings = build("http://api.internal", extra={"allow_insecure_http": flag})
    assert settings.base_url == "http://api.internal"
    assert settings.allow_insecure_http is True


@pytest.mark.parametrize("flag", [False, "false", "0", "no", "off", ""])
def test_plain_http_still_refused_with_false_flag(flag: Any) -> None:
    with pytest.raises(XentreeConfigError, match="allow_insecure_http"):
        build("http://api.internal", extra={"allow_insecure_http": flag})


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
        (None, False),
        ("", False),
    ],
)
def test_is_loopback_host(host: str | None, expected: bool) -> None:
    assert is_loopback_host(host) is expected


# --------------------------------------------------------------------------- credentials


def test_login_mode() -> None:
    settings = build()
    assert settings.auth_mode == "login"
    assert settings.login == "me@example.com"
    assert settings.password == PASSWORD
    assert settings.api_key is None
    assert settings.secrets() == [PASSWORD]


def test_api_key_wins_over_login() -> None:
    settings = build(extra={"api_key": f"  {API_KEY} "})
    assert settings.auth_mode == "api_key"
    assert settings.api_key == API_KEY
    assert settings.login is None
    assert settings.password is None
    assert settings.secrets() == [API_KEY]


def test_api_key_alone_is_enough() -> None:
    assert build(login=None, password=None, extra={"api_key": API_KEY}).auth_mode == "api_key"


@pytest.mark.parametrize(
    ("login", "password", "extra"),
    [
        (None, None, None),
        ("me@example.com", None, None),
        (None, PASSWORD, None),
        ("", "", {"api_key": ""}),
        (None, None, {"api_key": None}),
    ],
)
def test_no_credentials_is_a_clear_error(login: str | None, password: str | None, extra: Any) -> None:
    with pytest.raises(XentreeConfigError) as info:
        build(login=login, password=password, extra=extra, conn_id="my_conn")
    message = str(info.value)
    assert "my_conn" in message
    assert "api_key" in message
    assert "login" in message and "password" in message


@pytest.mark.parametrize("key", ["   ", 12345, ["k"]])
def test_bad_api_key(key: Any) -> None:
    with pytest.raises(XentreeConfigError, match="api_key"):
        build(extra={"api_key": key})


# --------------------------------------------------------------------------- timeout


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (30, (30.0, 30.0)),
        (2.5, (2.5, 2.5)),
        ("30", (30.0, 30.0)),
        ("10,60", (10.0, 60.0)),
        (" 10 , 60 ", (10.0, 60.0)),
        ("10;60", (10.0, 60.0)),
        ([5, 30], (5.0, 30.0)),
        ((5, "30"), (5.0, 30.0)),
    ],
)
def test_timeout_forms(value: Any, expected: tuple[float, float]) -> None:
    assert build(extra={"timeout": value}).timeout == expected


def test_timeout_default() -> None:
    assert build().timeout == DEFAULT_TIMEOUT


@pytest.mark.parametrize("value", [None, ""])
def test_empty_timeout_means_the_default(value: Any) -> None:
    # The UI's form saves empty fields as null or "": that is "not set", not a bad value.
    assert build(extra={"timeout": value}).timeout == DEFAULT_TIMEOUT


@pytest.mark.parametrize("value", ["abc", "1,2,3", [1], [1, 2, 3], {"connect": 1}, True, 0, -5, "0,10"])
def test_bad_timeouts(value: Any) -> None:
    with pytest.raises(XentreeConfigError, match="timeout"):
        build(extra={"timeout": value})


# --------------------------------------------------------------------------- other extras


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("FALSE", False),
        ("0", False),
    ],
)
def test_verify(value: Any, expected: bool | str) -> None:
    assert build(extra={"verify": value}).verify == expected


def test_verify_accepts_an_existing_ca_bundle(tmp_path: Any) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    assert build(extra={"verify": str(bundle)}).verify == str(bundle)


def test_a_missing_ca_bundle_is_a_config_error_naming_the_field(tmp_path: Any) -> None:
    with pytest.raises(XentreeConfigError, match="'verify'") as info:
        build(extra={"verify": str(tmp_path / "nowhere" / "ca.pem")})
    assert "does not exist" in str(info.value)


@pytest.mark.parametrize(("name", "value"), [("allow_insecure_http", "maybe"), ("verify", 3)])
def test_bad_bools(name: str, value: Any) -> None:
    with pytest.raises(XentreeConfigError, match=name):
        build("https://x.com", extra={name: value})


def test_retry_extras() -> None:
    settings = build(extra={"max_retries": "2", "retry_max_wait": "7.5", "token_refresh_lead": 30})
    assert settings.retry.max_attempts == 3
    assert settings.retry.max_wait == 7.5
    assert settings.token_refresh_lead == 30.0
    assert build(extra={"max_retries": 0}).retry.max_attempts == 1


@pytest.mark.parametrize(
    "name", ["max_retries", "retry_max_wait", "token_refresh_lead", "verify", "allow_insecure_http"]
)
@pytest.mark.parametrize("value", [None, ""])
def test_empty_extras_mean_the_default(name: str, value: Any) -> None:
    # The UI saves fields left empty as null or "": "not set", never "off" (an empty verify must not
    # turn TLS checks off).
    settings = build(extra={name: value})
    default = build()
    assert (settings.retry, settings.token_refresh_lead, settings.verify, settings.allow_insecure_http) == (
        default.retry,
        default.token_refresh_lead,
        True,
        False,
    )


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("max_retries", "many", "must be a number"),
        ("max_retries", 1.5, "whole number"),
        ("max_retries", -1, "at least 0"),
        ("retry_max_wait", "x", "must be a number"),
        ("retry_max_wait", -2, "at least 0"),
        ("token_refresh_lead", [1], "must be a number"),
    ],
)
def test_bad_numbers(name: str, value: Any, words: str) -> None:
    with pytest.raises(XentreeConfigError) as info:
        build(extra={name: value})
    assert name in str(info.value) and words in str(info.value)


def test_extra_as_json_string() -> None:
    settings = build(extra=json.dumps({"api_key": API_KEY, "organization_id": "org-1", "timeout": "5,20"}))
    assert settings.api_key == API_KEY
    assert settings.organization_id == "org-1"
    assert settings.timeout == (5.0, 20.0)


def test_extra_with_airflow2_prefixes() -> None:
    settings = build(extra={"extra__xentree__organization_id": "org-2", "extra__xentree__max_retries": 1})
    assert settings.organization_id == "org-2"
    assert settings.retry.max_attempts == 2


@pytest.mark.parametrize("extra", ["", None, "{}", {}])
def test_empty_extra(extra: Any) -> None:
    assert build(extra=extra).organization_id is None


def test_invalid_json_extra() -> None:
    with pytest.raises(XentreeConfigError, match="not valid JSON"):
        build(extra='{"api_key": ')


@pytest.mark.parametrize("extra", ["[1, 2]", '"text"', "3"])
def test_non_object_json_extra(extra: str) -> None:
    with pytest.raises(XentreeConfigError, match="JSON object"):
        build(extra=extra)


def test_unknown_extras_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="xentree_provider.api.settings"):
        build(extra={"api_kye": "oops", "timeout": 5}, conn_id="c1")
    assert "api_kye" in caplog.text and "c1" in caplog.text
    assert "oops" not in caplog.text  # values are not logged


def test_overrides_win_over_extras() -> None:
    settings = build(
        extra={"timeout": 30, "organization_id": "from-extra", "max_retries": 5},
        overrides={"timeout": (1, 2), "organization_id": "from-hook", "max_retries": None},
    )
    assert settings.timeout == (1.0, 2.0)
    assert settings.organization_id == "from-hook"
    assert settings.retry.max_attempts == 6  # a None override leaves the extra alone


# --------------------------------------------------------------------------- secrets and organization


def test_repr_hides_secrets() -> None:
    for settings in (build(), build(extra={"api_key": API_KEY})):
        for text in (repr(settings), str(settings)):
            assert PASSWORD not in text
            assert API_KEY not in text
            assert "K" * 20 not in text


def test_organization_fallback_and_error() -> None:
    settings = build(extra={"organization_id": 42})
    assert settings.organization_id == "42"
    assert settings.organization(None, "c") == "42"
    assert settings.organization("explicit", "c") == "explicit"
    with pytest.raises(XentreeConfigError) as info:
        build().organization(None, "my_conn")
    assert "organization_id" in str(info.value) and "my_conn" in str(info.value)
    with pytest.raises(XentreeConfigError):
        build(extra={"organization_id": ""}).organization("", "c")


# --------------------------------------------------------------------------- hardening: numbers


@pytest.mark.parametrize(
    "name",
    [
        "retry_max_wait",
        "token_refresh_lead",
        "max_retries",
        "retry_budget_seconds",
        "request_deadline",
        "max_response_bytes",
    ],
)
@pytest.mark.parametrize(
    "value", ["nan", float("nan"), "inf", float("inf"), "-inf", -1, "1e300", 10**15, True]
)
def test_non_finite_negative_or_absurd_numbers_name_the_field_and_range(name: str, value: Any) -> None:
    with pytest.raises(XentreeConfigError) as info:
        build(extra={name: value})
    message = str(info.value)
    assert repr(name) in message and "accepted:" in message


@pytest.mark.parametrize("value", ["nan", "inf", "nan,10", "10,inf", "-1,5", 36_000, [1, float("nan")]])
def test_non_finite_or_absurd_timeouts_name_the_field(value: Any) -> None:
    with pytest.raises(XentreeConfigError, match=r"'timeout'.*accepted:"):
        build(extra={"timeout": value})


def test_a_retry_after_of_ten_hours_waits_no_longer_than_retry_max_wait() -> None:
    from xentree_provider.api.errors import XentreeRateLimitError

    with pytest.raises(XentreeConfigError, match="retry_max_wait"):
        build(extra={"retry_max_wait": "nan"})
    policy = build(extra={"retry_max_wait": 5}).retry
    assert policy.wait_seconds(1, XentreeRateLimitError("x", status=429, retry_after=36_000.0)) == 5.0


def test_new_extras_and_their_defaults() -> None:
    settings = build(
        extra={"retry_budget_seconds": "30", "request_deadline": 12.5, "max_response_bytes": 2048}
    )
    assert (settings.retry.budget, settings.deadline, settings.max_response_bytes) == (30.0, 12.5, 2048)
    default = build(extra={"timeout": "5,20"})
    assert default.retry.budget == 120.0
    assert default.retry.max_attempts == 21
    assert default.deadline == 5 + 2 * 20  # derived from the timeouts
    assert default.max_response_bytes == 64 * 1024 * 1024


# --------------------------------------------------------------------------- hardening: hosts


@pytest.mark.parametrize("host", ["https://[::1", "https://[not-an-ip]:443", "http://[::1]]:80"])
def test_a_malformed_host_is_a_config_error_not_a_value_error(host: str) -> None:
    with pytest.raises(XentreeConfigError, match="connection host"):
        build(host)


@pytest.mark.parametrize(
    "host",
    [
        "https://user:pw-S3CR3T@my.xentree.com",
        "https://pw-S3CR3T@my.xentree.com/api",
        "user:pw-S3CR3T@my.xentree.com",
        "https://user:pw-S3CR3T@my.xentree.com:99999",
        "https://user:pw-S3CR3T@[::1",
        # A password holding "/", "?" or "#" hides its "@" from a check of the authority alone.
        "https://bob:pw/S3CR3T@my.xentree.com",
        "https://bob:pw?S3CR3T@my.xentree.com:99999",
        "https://bob:pw#S3CR3T@my.xentree.com",
    ],
)
def test_credentials_in_the_host_are_refused_without_echoing_them(host: str) -> None:
    with pytest.raises(XentreeConfigError) as info:
        build(host)
    message = str(info.value)
    assert "credentials" in message
    assert "S3CR3T" not in message and "user:pw" not in message


@pytest.mark.parametrize("port", [70000, -1])
def test_an_out_of_range_port_is_refused(port: int) -> None:
    with pytest.raises(XentreeConfigError, match="port"):
        build("https://api.example.com", port=port)


# --------------------------------------------------------------------------- hardening: credentials


HIDDEN = ["\u200b", "\n", "\r", "\t", "\x00", "\u00a0", "\u2028", "\ufeff", "\u202e", "\x7f"]


@pytest.mark.parametrize("char", HIDDEN, ids=[f"U+{ord(c):04X}" for c in HIDDEN])
@pytest.mark.parametrize("field", ["api_key", "login", "password"])
def test_control_or_invisible_characters_in_credentials_are_refused(field: str, char: str) -> None:
    secret = f"xntr-{'A' * 40}{char}{'B' * 40}" if field == "api_key" else f"pa55{char}word-S3CR3T"
    kwargs: dict[str, Any] = {"extra": {"api_key": secret}} if field == "api_key" else {field: secret}
    with pytest.raises(XentreeConfigError) as info:
        build(**kwargs)
    message = str(info.value)
    assert (field if field == "api_key" else f"the {field}") in message
    assert f"U+{ord(char):04X}" in message
    assert secret not in message and "S3CR3T" not in message and "AAAA" not in message


def test_a_space_is_fine_in_a_password_but_not_in_a_login_or_key() -> None:
    assert build(password="correct horse battery").password == "correct horse battery"
    with pytest.raises(XentreeConfigError, match="the login"):
        build(login="me @example.com")
    with pytest.raises(XentreeConfigError, match="api_key"):
        build(extra={"api_key": "xntr-abc def"})


def test_surrounding_whitespace_of_an_api_key_is_still_trimmed() -> None:
    assert build(extra={"api_key": f"  {API_KEY}\n"}).api_key == API_KEY


@pytest.mark.parametrize("api_key", ["xntr-k\u00e9y", "xntr-k\u20acy"])
def test_a_non_ascii_api_key_is_refused_at_settings_time(api_key: str) -> None:
    with pytest.raises(XentreeConfigError, match="not ASCII") as info:
        build("https://api.example.com", extra={"api_key": api_key})
    assert api_key not in str(info.value)
