"""Careless connection settings fail at first use with XentreeConfigError naming the field, never echoing
a secret; ``test_connection`` answers (False, message) and never raises."""

from __future__ import annotations

import json
from typing import Any

import pytest

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.hooks.xentree import XentreeHook

pytestmark = pytest.mark.integration

SECRET = "pw-S3CR3T-value"
KEY = "xntr-" + "k" * 86


def hook_with(monkeypatch: pytest.MonkeyPatch, **conn: Any) -> XentreeHook:
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_CARELESS", json.dumps({"conn_type": "xentree", **conn}))
    return XentreeHook("xentree_careless")


CASES = [
    (
        "host-credentials",
        {"host": f"https://user:{SECRET}@my.xentree.com", "extra": {"api_key": KEY}},
        "credentials",
    ),
    ("host-ipv6", {"host": "https://[::1", "extra": {"api_key": KEY}}, "connection host"),
    ("key-newline", {"extra": {"api_key": f"xntr-{SECRET}\nX-Evil: 1"}}, "api_key"),
    ("key-zero-width", {"extra": {"api_key": f"xntr-\u200b{SECRET}"}}, "api_key"),
    ("login-control", {"login": "me\x00@example.com", "password": SECRET}, "login"),
    ("password-zero-width", {"login": "me@example.com", "password": f"{SECRET}\u200b"}, "password"),
    ("timeout-nan", {"extra": {"api_key": KEY, "timeout": "nan"}}, "'timeout'"),
    ("wait-inf", {"extra": {"api_key": KEY, "retry_max_wait": "inf"}}, "'retry_max_wait'"),
    ("retries-absurd", {"extra": {"api_key": KEY, "max_retries": 10**9}}, "'max_retries'"),
    ("lead-negative", {"extra": {"api_key": KEY, "token_refresh_lead": -5}}, "'token_refresh_lead'"),
    ("budget-nan", {"extra": {"api_key": KEY, "retry_budget_seconds": "nan"}}, "'retry_budget_seconds'"),
    ("deadline-zero", {"extra": {"api_key": KEY, "request_deadline": 0}}, "'request_deadline'"),
    ("size-tiny", {"extra": {"api_key": KEY, "max_response_bytes": 5}}, "'max_response_bytes'"),
]


@pytest.mark.parametrize(("conn", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_settings_fail_at_first_use_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, conn: dict[str, Any], field: str
) -> None:
    hook = hook_with(monkeypatch, **conn)
    ok, message = hook.test_connection()
    assert not ok and field in message and SECRET not in message
    with pytest.raises(XentreeConfigError) as info:
        hook.get_live_quota()
    assert field in str(info.value) and SECRET not in str(info.value)
