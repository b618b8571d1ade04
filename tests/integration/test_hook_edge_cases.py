"""Edge cases over real HTTP: redirects, token bodies that must not be quoted, TLS mix-ups, lost DELETE
answers, a server ignoring paging. Servers the sandbox cannot imitate are tiny stdlib ones."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tiny_http import Answer, json_answer, serve

from xentree_provider.api.errors import XentreeConfigError, XentreeResponseError
from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.hooks.xentree_async import XentreeAsyncHook


@pytest.fixture
def tiny_server() -> Iterator[Callable[[Answer], str]]:
    """Starts tiny servers (``tiny_http.serve``) for the test; returns each one's URL."""
    with ExitStack() as servers:
        yield lambda answer: servers.enter_context(serve(answer)).url


def _hook(monkeypatch, conn_id: str, conn: dict, **kwargs) -> XentreeHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "xentree", **conn}))
    return XentreeHook(conn_id, **kwargs)


def test_a_redirected_write_is_an_error_not_a_silent_success(tiny_server, monkeypatch):
    url = tiny_server(lambda h: (307, {"location": "https://elsewhere.example/api/x?token=abc"}, b""))
    hook = _hook(monkeypatch, "xentree_redirect", {"host": url, "extra": {"api_key": "k-redirect"}})
    with pytest.raises(XentreeConfigError, match="redirected") as caught:
        hook.add_member("a@b.example", "member", org_id="org_1")
    assert "https://elsewhere.example/api/x" in str(caught.value)
    assert "token=abc" not in str(caught.value)


def test_an_unreadable_login_body_is_never_quoted(tiny_server, monkeypatch):
    leaked = "rt_LIVE_SECRET_123"
    body = f"access_token=eyJhbGciOi.eyJzdWIiOi.SIGNATURE&refresh_token={leaked}".encode()
    url = tiny_server(lambda h: (200, {"content-type": "text/plain"}, body))
    hook = _hook(
        monkeypatch, "xentree_textlogin", {"host": url, "login": "a@b.example", "password": "pw-123456"}
    )
    with pytest.raises(XentreeResponseError) as caught:
        hook.get_live_quota()
    assert leaked not in str(caught.value) and "SIGNATURE" not in str(caught.value)
    assert "withheld" in str(caught.value)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_https_to_a_plain_http_port_says_so_without_retrying(sandbox, monkeypatch, mode):
    plain = sandbox.url.replace("http://", "https://")
    conn = {
        "conn_type": "xentree",
        "host": plain,
        "extra": {"api_key": sandbox.api_key("full"), "max_retries": 3},
    }
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_TLS", json.dumps(conn))

    async def read_async() -> None:
        hook = XentreeAsyncHook("xentree_tls")
        try:
            await hook.get_dashboard()
        finally:
            await hook.aclose()

    def read() -> None:
        if mode == "sync":
            XentreeHook("xentree_tls").get_live_quota()
        else:
            asyncio.run(read_async())

    with pytest.raises(XentreeConfigError, match="TLS handshake") as caught:
        read()
    assert "plain http://" in str(caught.value)


def test_a_retried_delete_whose_first_answer_was_lost_counts_as_done(monkeypatch):
    """First try: the server deletes, then the connection drops before the answer. The retry's 404
    means "already gone", so the call succeeds instead of reporting a member that does not exist."""
    calls: list[str] = []

    class Flaky(BaseHTTPRequestHandler):
        def do_DELETE(self) -> None:
            calls.append(self.path)
            if len(calls) == 1:
                self.close_connection = True  # drop without answering
                return
            body = b'{"detail": {"error": "NOT_FOUND", "message": "no such member"}}'
            self.send_response(404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        hook = _hook(
            monkeypatch,
            "xentree_lostdelete",
            {"host": url, "extra": {"api_key": "k-del", "retry_max_wait": 0.01}},
        )
        assert hook.remove_member("usr_1", org_id="org_1") is None
        assert len(calls) == 2
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_ignoring_paging_is_an_error_not_an_endless_list(tiny_server, monkeypatch):
    page = json.dumps(
        [{"id": f"t{i}", "session_started_at": "2026-11-01T00:00:00Z"} for i in range(10)]
    ).encode()
    url = tiny_server(lambda h: (200, {"content-type": "application/json"}, page))
    hook = _hook(monkeypatch, "xentree_nopaging", {"host": url, "extra": {"api_key": "k-nopaging"}})
    with pytest.raises(XentreeResponseError, match="same page"):
        list(hook.iter_transcripts(page_size=10))


def test_airflow2_style_api_key_is_masked(sandbox, monkeypatch):
    from airflow.sdk._shared.secrets_masker import redact

    key = sandbox.api_key("full")
    conn = {"conn_type": "xentree", "host": sandbox.url, "extra": {"extra__xentree__api_key": key}}
    monkeypatch.setenv("AIRFLOW_CONN_XENTREE_OLDSTYLE", json.dumps(conn))
    hook = XentreeHook("xentree_oldstyle")
    assert hook.get_live_quota()["limit_seconds"] > 0
    assert key not in str(redact(key))


def test_a_whole_reply_read_as_the_deadline_runs_out_is_kept(tiny_server, monkeypatch):
    # The answer completes "after" the deadline by the clock, but nothing was cut off (the deadline's
    # timer never fired): a created conversation is a known success, not "may have been applied".
    from xentree_provider.api import deadline as deadline_module

    class Clock:
        now = 1_000.0

        def monotonic(self) -> float:
            return self.now

    clock = Clock()
    monkeypatch.setattr(deadline_module, "time", clock)
    created = {
        "id": "c-1",
        "title": "t",
        "created_at": "2026-12-01T00:00:00Z",
        "updated_at": "2026-12-01T00:00:00Z",
    }

    def answer(request):
        clock.now += 3_600.0
        return json_answer(created, status=201)

    url = tiny_server(answer)
    hook = _hook(monkeypatch, "xentree_late_reply", {"host": url, "extra": {"api_key": "k-late"}})
    assert hook.create_conversation("t")["id"] == "c-1"
