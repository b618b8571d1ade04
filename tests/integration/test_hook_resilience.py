"""XentreeHook under faults over real HTTP: rate limits, 5xx, resets, bad bodies, timeouts."""

from __future__ import annotations

import re

import pytest

from xentree_provider.api.errors import (
    XentreeConnectionError,
    XentreeMaybeAppliedError,
    XentreeResponseError,
    XentreeServerError,
    XentreeTimeoutError,
)

FAST = {"retry_max_wait": 0.05}


@pytest.fixture
def retry_log(capfd):
    """Airflow's hook loggers are structlog loggers writing to the process's output: read it there."""
    return capfd


def _retry_lines(capfd) -> list[str]:
    captured = capfd.readouterr()
    text = captured.out + captured.err
    return [line for line in text.splitlines() if "Retrying " in line]


@pytest.mark.parametrize("style", ["seconds", "date", "none"])
def test_429_burst_is_absorbed_honouring_retry_after(sandbox, make_hook, retry_log, style):
    sandbox.reset(retry_after=style)
    hook = make_hook("full", extra={"retry_max_wait": 1.5, "max_retries": 8})
    ids = [t["id"] for t in hook.list_transcripts(limit=30)]
    sandbox.set_faults(rate_limit_rps=20, rate_limit_burst=5)
    for transcript_id in ids:
        assert hook.get_transcript(transcript_id)["id"] == transcript_id
    counters = sandbox.counters()
    assert counters["faults"]["rate_limit"] > 0
    lines = _retry_lines(retry_log)
    assert lines and all("HTTP 429" in line for line in lines)
    waits = [float(m.group(1)) for line in lines if (m := re.search(r"waiting ([0-9.]+) s", line))]
    assert waits and max(waits) <= 1.5
    if style == "seconds":
        # The sandbox asks for 1 s; the hook waits exactly that (below the 1.5 s cap).
        assert all(w == pytest.approx(1.0) for w in waits)
    elif style == "none":
        # No header: full-jitter backoff, always below the first ceilings.
        assert all(w <= 1.5 for w in waits)


def test_retry_after_is_capped_by_max_wait(sandbox, make_hook, retry_log):
    hook = make_hook("full", extra={"retry_max_wait": 0.1, "max_retries": 20})
    sandbox.set_faults(rate_limit_rps=50, rate_limit_burst=2)
    for _ in range(15):
        hook.get_live_quota()
    waits = [
        float(m.group(1))
        for line in _retry_lines(retry_log)
        if (m := re.search(r"waiting ([0-9.]+) s", line))
    ]
    assert waits and max(waits) <= 0.1


def test_5xx_burst_is_retried_for_reads(sandbox, make_hook, retry_log):
    hook = make_hook("full", extra={**FAST, "max_retries": 10})
    sandbox.set_faults(error_rate=0.4, error_codes=[500, 502, 503, 504])
    transcripts = list(hook.iter_transcripts(page_size=50))
    assert len(transcripts) == sandbox.server_config()["transcripts"]
    assert sandbox.counters()["faults"]["error"] > 0
    assert any("HTTP 50" in line for line in _retry_lines(retry_log))


def test_500_is_not_retried_for_a_non_idempotent_post(sandbox, make_hook):
    hook = make_hook("full", extra=FAST)
    org_id = sandbox.credentials()["api_keys"]["full"]["organization_id"]
    sandbox.set_faults(error_rate=1.0, error_codes=[500])
    with pytest.raises(XentreeMaybeAppliedError) as caught:
        hook.add_member("new.person@acme.example", "member", org_id)
    assert caught.value.status == 500 and caught.value.maybe_applied
    assert "may have been applied" in str(caught.value)
    assert sandbox.counters()["requests"]["POST /api/organizations/{org_id}/members"] == 1


def test_503_is_retried_even_for_a_post(sandbox, make_hook):
    hook = make_hook("full", extra={**FAST, "max_retries": 3})
    org_id = sandbox.credentials()["api_keys"]["full"]["organization_id"]
    sandbox.set_faults(error_rate=1.0, error_codes=[503])
    with pytest.raises(XentreeServerError):
        hook.add_member("new.person@acme.example", "member", org_id)
    assert sandbox.counters()["requests"]["POST /api/organizations/{org_id}/members"] == 4


def test_connection_resets_are_retried_for_reads(sandbox, make_hook):
    hook = make_hook("full", extra={**FAST, "max_retries": 10})
    sandbox.set_faults(reset_rate=0.3)
    transcripts = list(hook.iter_transcripts(page_size=100))
    assert len(transcripts) == sandbox.server_config()["transcripts"]
    assert sandbox.counters()["faults"]["reset"] > 0


def test_reset_after_a_post_is_not_resent(sandbox, make_hook):
    hook = make_hook("full", extra=FAST)
    org_id = sandbox.credentials()["api_keys"]["full"]["organization_id"]
    sandbox.set_faults(reset_rate=1.0, reset_phase="after")
    with pytest.raises(XentreeMaybeAppliedError) as caught:
        hook.add_member("reset.case@acme.example", "member", org_id)
    assert caught.value.maybe_applied
    assert isinstance(caught.value.__cause__, XentreeConnectionError)
    assert caught.value.__cause__.request_sent
    counters = sandbox.counters()
    assert counters["requests"]["POST /api/organizations/{org_id}/members"] == 1
    # The server did apply it: a blind resend would have added the member twice.
    assert any(m["email"] == "reset.case@acme.example" for m in sandbox.members(org_id))


def test_html_error_page_is_reported_with_status_type_and_preview(sandbox, make_hook):
    hook = make_hook("full", extra={**FAST, "max_retries": 2})
    sandbox.set_faults(html_error_rate=1.0)
    with pytest.raises(XentreeServerError) as caught:
        hook.get_live_quota()
    text = str(caught.value)
    assert caught.value.status == 502
    assert "text/html" in text and "502 Bad Gateway" in text
    assert sandbox.counters()["requests"]["GET /api/live/quota"] == 3


@pytest.mark.parametrize("kind", ["malformed_json_rate", "truncated_json_rate"])
def test_garbled_json_is_a_response_error_after_retries(sandbox, make_hook, kind):
    hook = make_hook("full", extra={**FAST, "max_retries": 1})
    sandbox.set_faults(**{kind: 1.0})
    with pytest.raises(XentreeResponseError) as caught:
        hook.get_live_quota()
    assert caught.value.status == 200
    assert "application/json" in str(caught.value)
    assert "malformed or truncated JSON" in str(caught.value)
    assert sandbox.counters()["requests"]["GET /api/live/quota"] == 2


def test_garbled_json_now_and_then_is_absorbed(sandbox, make_hook):
    hook = make_hook("full", extra={**FAST, "max_retries": 10})
    sandbox.set_faults(truncated_json_rate=0.2, malformed_json_rate=0.1)
    assert len(list(hook.iter_transcripts(page_size=100))) == sandbox.server_config()["transcripts"]


def test_read_timeout_is_a_timeout_error(sandbox, make_hook):
    hook = make_hook("full", extra={**FAST, "max_retries": 1, "timeout": "2,0.2"})
    sandbox.set_faults(latency_ms=600)
    with pytest.raises(XentreeTimeoutError) as caught:
        hook.get_live_quota()
    assert caught.value.request_sent
    assert sandbox.counters()["requests"]["GET /api/live/quota"] == 2


def test_unreachable_host_is_a_connection_error_that_never_reached_the_server(make_hook, monkeypatch):
    hook = make_hook("full", extra={**FAST, "max_retries": 1})
    conn = hook.get_connection(hook.xentree_conn_id)
    import json
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{hook.xentree_conn_id.upper()}",
        json.dumps(
            {"conn_type": "xentree", "host": f"http://127.0.0.1:{free_port}", "extra": conn.extra_dejson}
        ),
    )
    with pytest.raises(XentreeConnectionError) as caught:
        hook.get_live_quota()
    assert not caught.value.request_sent
    assert "could not connect" in str(caught.value)
