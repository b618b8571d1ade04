"""XentreeHook authentication over real HTTP: both modes, refresh ahead of expiry, rotation, re-login."""

from __future__ import annotations

import threading
import time

import pytest

from xentree_provider.api.errors import XentreeAuthError, XentreeConfigError, XentreePermissionError


def test_login_mode_reads_profile_and_logs_in_once(sandbox, make_hook):
    hook = make_hook()
    assert hook.get_me()["email"] == sandbox.credentials()["email"]
    hook.get_live_quota()
    hook.get_dashboard()
    counters = sandbox.counters()
    assert counters["logins"] == 1
    assert counters["refreshes"] == 0


def test_api_key_mode_sends_no_login(sandbox, make_hook):
    hook = make_hook("full")
    assert hook.get_live_quota()["limit_seconds"] > 0
    assert len(hook.list_transcripts(limit=5)) == 5
    assert sandbox.counters()["logins"] == 0


def test_api_key_takes_precedence_over_login(sandbox, make_hook):
    hook = make_hook("full", extra={})
    hook.settings  # noqa: B018 - read the connection
    conn_login = sandbox.login_connection()
    assert hook.settings.auth_mode == "api_key"
    assert hook.settings.login is None
    assert conn_login["login"]


def test_bearer_only_endpoint_refused_for_api_key_before_any_request(sandbox, make_hook):
    hook = make_hook("full")
    with pytest.raises(XentreeConfigError, match="only a user login"):
        hook.get_me()
    assert sandbox.counters()["requests_total"] == 0


def test_bad_password_is_a_clear_auth_error_without_the_password(sandbox, make_hook, monkeypatch):
    hook = make_hook()
    conn = sandbox.login_connection()
    conn["password"] = "definitely-wrong-pw-123"
    import json

    monkeypatch.setenv(f"AIRFLOW_CONN_{hook.xentree_conn_id.upper()}", json.dumps(conn))
    with pytest.raises(XentreeAuthError) as caught:
        hook.get_live_quota()
    text = str(caught.value)
    assert "login" in text and "password" in text
    assert "definitely-wrong-pw-123" not in text
    assert caught.value.status == 401


def test_missing_scope_names_the_scope(sandbox, make_hook):
    hook = make_hook("live")
    org_id = sandbox.credentials()["api_keys"]["live"]["organization_id"]
    with pytest.raises(XentreePermissionError) as caught:
        list(hook.iter_members(org_id))
    assert caught.value.required_scope == "organizations:read"
    assert "live:read" in caught.value.granted_scopes
    assert "organizations:read" in str(caught.value)


def test_proactive_refresh_before_expiry_without_401(sandbox, make_hook):
    # A 4 s token with the default 60 s lead: the lead is capped at half the lifetime (2 s), so the
    # token is refreshed once after 2 s, not on every call, and the server never sees an expired token.
    sandbox.reset(token_lifetime=4)
    hook = make_hook()
    hook.get_live_quota()
    time.sleep(0.5)
    hook.get_live_quota()
    assert sandbox.counters()["refreshes"] == 0
    time.sleep(2.2)  # 2.7 s after login: past the refresh point (<= 2.5 s), before expiry (>= 4 s)
    hook.get_live_quota()
    counters = sandbox.counters()
    assert counters["refreshes"] == 1
    assert counters["logins"] == 1
    assert counters["responses"].get("401", 0) == 0


def test_token_expiring_mid_run_with_rotation_keeps_newest_refresh_token(sandbox, make_hook):
    sandbox.reset(token_lifetime=1.5, rotate_refresh=True)
    hook = make_hook()
    ids = [t["id"] for t in hook.list_transcripts(limit=20)]
    deadline = time.monotonic() + 4.0
    fetched = 0
    while time.monotonic() < deadline:
        hook.get_transcript(ids[fetched % len(ids)])
        fetched += 1
        time.sleep(0.05)
    counters = sandbox.counters()
    assert counters["logins"] == 1, counters
    assert counters["refreshes"] >= 3, counters
    assert counters["refresh_rejected"] == 0, counters


def test_expires_in_variant_without_refresh_token_logs_in_again(sandbox, make_hook):
    sandbox.reset(token_lifetime=2, token_response="expires_in")
    hook = make_hook()
    hook.get_live_quota()
    time.sleep(1.7)  # past half the lifetime (the sandbox rounds exp up to whole seconds)
    hook.get_live_quota()
    counters = sandbox.counters()
    assert counters["logins"] == 2
    assert counters["refreshes"] == 0


def test_revoked_tokens_refresh_rejected_then_login_again(sandbox, make_hook):
    hook = make_hook()
    hook.get_live_quota()
    sandbox.revoke_tokens()
    assert hook.get_live_quota()["limit_seconds"] > 0
    counters = sandbox.counters()
    assert counters["logins"] == 2
    assert counters["refresh_rejected"] == 1


def test_sixteen_threads_share_one_token_and_one_refresh(sandbox, make_hook):
    # Token lives 6 s, so it is refreshed 3 s after login (half its lifetime). The threads stop well
    # before the second refresh would be due (6 s), so exactly one refresh must happen.
    sandbox.reset(token_lifetime=6)
    hook = make_hook()
    hook.login()
    started = time.monotonic()
    errors: list[BaseException] = []
    calls = [0] * 16

    def worker(index: int) -> None:
        try:
            while time.monotonic() - started < 4.3:
                hook.get_live_quota()
                calls[index] += 1
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    counters = sandbox.counters()
    assert counters["logins"] == 1, counters
    assert counters["refreshes"] == 1, counters
    assert counters["responses"].get("401", 0) == 0
    assert all(calls)


def test_logout_revokes_and_next_call_logs_in(sandbox, make_hook):
    hook = make_hook()
    hook.get_live_quota()
    hook.logout()
    hook.get_live_quota()
    assert sandbox.counters()["logins"] == 2
