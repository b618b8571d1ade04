"""XentreeHook.test_connection and secret hygiene, over real HTTP."""

from __future__ import annotations

import json
import socket

import pytest

from xentree_provider.api.errors import XentreeConfigError
from xentree_provider.hooks.xentree import XentreeHook


def _set_conn(monkeypatch, conn_id: str, conn: dict) -> XentreeHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return XentreeHook(conn_id)


def test_login_connection_ok_names_the_user(sandbox, make_hook):
    ok, message = make_hook().test_connection()
    assert ok, message
    assert sandbox.credentials()["email"] in message
    # Cheap and tidy: one login, one profile read, the token revoked again.
    counters = sandbox.counters()
    assert counters["requests"].get("GET /api/auth/me") == 1
    assert counters["requests"].get("POST /api/auth/logout") == 1
    assert not counters["writes"].keys() - {"POST /api/auth/logout"}


def test_api_key_connection_ok_and_no_bearer_only_endpoint(sandbox, make_hook):
    ok, message = make_hook("full").test_connection()
    assert ok, message
    assert "API key" in message
    assert "GET /api/auth/me" not in sandbox.counters()["requests"]


def test_api_key_lacking_scopes_is_reported(sandbox, make_hook):
    ok, message = make_hook("live").test_connection()
    assert ok
    assert "organizations:read" in message and "xel:read" in message


def test_knowledge_only_api_key_is_valid(sandbox, make_hook):
    ok, message = make_hook("rag").test_connection()
    assert ok, message
    assert "knowledge base" in message and "live:read" in message


def test_bad_password_fails_without_echoing_it(sandbox, monkeypatch):
    conn = sandbox.login_connection()
    conn["password"] = "wrong-password-xyz"
    ok, message = _set_conn(monkeypatch, "xentree_badpw", conn).test_connection()
    assert not ok
    assert "rejected" in message.lower()
    assert "wrong-password-xyz" not in message


def test_bad_api_key_fails(sandbox, monkeypatch):
    conn = sandbox.api_key_connection("full")
    conn["extra"]["api_key"] = "xntr-not-a-real-key"
    ok, message = _set_conn(monkeypatch, "xentree_badkey", conn).test_connection()
    assert not ok
    assert "xntr-not-a-real-key" not in message


def test_unreachable_host_says_so(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conn = {
        "conn_type": "xentree",
        "host": f"http://127.0.0.1:{port}",
        "login": "a@b.c",
        "password": "pw-unreach",
    }
    ok, message = _set_conn(monkeypatch, "xentree_unreachable", conn).test_connection()
    assert not ok
    assert "could not connect" in message


def test_plain_http_to_a_remote_host_is_refused(monkeypatch):
    conn = {
        "conn_type": "xentree",
        "host": "http://xentree.example.com",
        "login": "a@b.c",
        "password": "pw-remote",
    }
    hook = _set_conn(monkeypatch, "xentree_insecure", conn)
    ok, message = hook.test_connection()
    assert not ok and "allow_insecure_http" in message
    with pytest.raises(XentreeConfigError, match="allow_insecure_http"):
        hook.get_live_quota()


def test_no_credentials_is_a_clear_error(monkeypatch):
    hook = _set_conn(
        monkeypatch, "xentree_nocreds", {"conn_type": "xentree", "host": "https://my.xentree.com"}
    )
    ok, message = hook.test_connection()
    assert not ok and "api_key" in message and "password" in message


def test_no_secret_reaches_output_or_errors(sandbox, make_hook, capfd):
    """Drive logins, refreshes, retries and failures; no issued secret may appear in any output."""
    # Tokens are renewed on purpose (a refresh, then revocation and a new login), not by a 1-second
    # lifetime running out: on a loaded machine a token that short can expire again on its way.
    sandbox.reset(token_lifetime=300)
    hook = make_hook(extra={"retry_max_wait": 0.05, "max_retries": 6})
    key_hook = make_hook("live", extra={"retry_max_wait": 0.05})
    errors: list[str] = []
    sandbox.set_faults(error_rate=0.3, error_codes=[502, 503])
    for transcript in hook.list_transcripts(limit=40):
        hook.get_transcript(transcript["id"])
    hook.refresh_token()
    sandbox.revoke_tokens()
    hook.get_live_quota()
    try:
        list(key_hook.iter_members(sandbox.credentials()["api_keys"]["live"]["organization_id"]))
    except Exception as error:
        errors.append(repr(error) + str(error))
    errors.append(repr(hook.settings))
    errors.append(hook.test_connection()[1])
    captured = capfd.readouterr()
    haystack = captured.out + captured.err + "\n".join(errors)
    secrets = sandbox.issued_secrets()
    values = secrets["all"]
    assert len(secrets["access_tokens"]) > 2
    leaked = [v[:12] + "..." for v in values if v and v in haystack]
    assert not leaked, f"secrets leaked into output: {leaked}"


def test_secrets_are_registered_with_the_masker_as_soon_as_read_or_received(sandbox, make_hook):
    # The task runner's log pipeline redacts through the Task SDK's masker; check its registry directly
    # (this test process does not install Airflow's task logging).
    from airflow.sdk._shared.secrets_masker import redact

    hook = make_hook()
    hook.get_live_quota()  # reads the connection (password) and receives tokens
    state = hook.transport.tokens.state
    key_hook = make_hook("full")
    api_key = key_hook.settings.api_key  # reading the connection registers the API key
    for secret in (sandbox.credentials()["password"], state.access_token, state.refresh_token, api_key):
        assert secret not in str(redact(f"value={secret}"))
    hook.refresh_token()
    rotated = hook.transport.tokens.state.refresh_token
    assert rotated not in str(redact(rotated))
