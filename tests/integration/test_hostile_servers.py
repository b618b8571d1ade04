"""Both drivers against servers that misbehave on purpose (a tiny in-test server, see hostile_server.py):
trickled headers and bodies meet the total deadline, endless bodies meet the size cap, a proxy's 503
after a write is not sent again, ``verify`` wins over the CA bundle environment variables, and a trigger
keeps its absolute deadline against a trickling server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import certifi
import pytest
from hostile_server import Exchange, HostileServer, SilentServer

from xentree_provider.api.async_transport import AsyncTransport
from xentree_provider.api.errors import (
    XentreeMaybeAppliedError,
    XentreeResponseError,
    XentreeTimeoutError,
)
from xentree_provider.api.retry import may_have_applied
from xentree_provider.api.routes import ROUTES, adhoc_route
from xentree_provider.api.settings import ClientSettings
from xentree_provider.api.transport import Transport
from xentree_provider.hooks.xentree import XentreeHook
from xentree_provider.triggers.condition import XentreeConditionTrigger

pytestmark = pytest.mark.integration

API_KEY = "xntr-" + "h" * 86
QUOTA = {"remaining_seconds": 10, "used_seconds": 0, "limit_seconds": 10, "resets_at": "2026-05-01T00:00:00Z"}
TIGHT = {"timeout": "0.5,0.5", "request_deadline": 1, "max_retries": 0}


def settings(server: HostileServer, **extra: Any) -> ClientSettings:
    return ClientSettings.from_connection(
        host=server.url, login=None, password=None, extra={"api_key": API_KEY, **extra}
    )


def call_sync(config: ClientSettings) -> Any:
    transport = Transport(config, user_agent="test")
    try:
        return transport.call(ROUTES["get_live_quota"])
    finally:
        transport.close()


def call_async(config: ClientSettings) -> Any:
    async def main() -> Any:
        transport = AsyncTransport(config, user_agent="test")
        try:
            return await transport.call(ROUTES["get_live_quota"])
        finally:
            await transport.aclose()

    return asyncio.run(main())


DRIVERS = pytest.mark.parametrize("call", [call_sync, call_async], ids=["sync", "async"])


def trickled_body(exchange: Exchange) -> None:
    if exchange.head(200, {"Content-Type": "application/json", "Content-Length": "100000"}):
        exchange.trickle(b" " * 100_000, every=0.05)


def trickled_headers(exchange: Exchange) -> None:
    if exchange.write(b"HTTP/1.1 200 OK\r\n"):
        exchange.trickle(b"X-Slow: " + b"a" * 100_000, every=0.05)


@DRIVERS
@pytest.mark.parametrize("handler", [trickled_body, trickled_headers], ids=["body", "headers"])
def test_a_trickling_server_meets_the_total_deadline(call: Callable[..., Any], handler: Any) -> None:
    with HostileServer(handler) as server, pytest.raises(XentreeTimeoutError, match="total deadline of 1 s"):
        call(settings(server, **TIGHT))
    assert server.requests_to("GET", "/api/live/quota") == 1


def endless(exchange: Exchange) -> None:
    if exchange.head(200, {"Content-Type": "application/json", "Connection": "close"}):
        exchange.endless(b"[" * 65536, limit_bytes=32 * 1024 * 1024)


def huge_declared(exchange: Exchange) -> None:
    exchange.head(200, {"Content-Type": "application/json", "Content-Length": str(10**12)})


@DRIVERS
@pytest.mark.parametrize("handler", [endless, huge_declared], ids=["endless", "declared"])
def test_a_body_over_max_response_bytes_is_refused(call: Callable[..., Any], handler: Any) -> None:
    limit = {"max_response_bytes": 1024 * 1024, "max_retries": 0}
    with (
        HostileServer(handler) as server,
        pytest.raises(XentreeResponseError, match="than 1048576 bytes") as info,
    ):
        call(settings(server, **limit))
    assert "max_response_bytes" in str(info.value)


@DRIVERS
def test_a_well_behaved_answer_still_arrives(call: Callable[..., Any]) -> None:
    with HostileServer(lambda exchange: exchange.send_json(200, QUOTA)) as server:
        assert call(settings(server, **TIGHT)) == QUOTA


# --------------------------------------------------------------------------- writes behind a proxy


@pytest.fixture
def hook_for(monkeypatch: pytest.MonkeyPatch) -> Callable[..., XentreeHook]:
    hooks: list[XentreeHook] = []

    def make(server: HostileServer, **extra: Any) -> XentreeHook:
        conn = {"conn_type": "xentree", "host": server.url, "extra": {"api_key": API_KEY, **extra}}
        monkeypatch.setenv("AIRFLOW_CONN_XENTREE_HOSTILE", json.dumps(conn))
        hooks.append(XentreeHook("xentree_hostile"))
        return hooks[-1]

    yield make  # type: ignore[misc]
    for hook in hooks:
        hook.close()


def applies_then_answers(first: Callable[[Exchange], None]) -> Callable[[Exchange], None]:
    """Every POST is applied (the server records it); the first is answered by ``first``, later ones 201."""
    answered: list[int] = []

    def handler(exchange: Exchange) -> None:
        answered.append(1)
        if len(answered) == 1:
            first(exchange)
        else:
            exchange.send_json(201, {"id": "ltr_1", "session_started_at": "2026-04-16T10:00:03Z"})

    return handler


def html_503(exchange: Exchange) -> None:
    exchange.send(503, b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>", "text/html")


def api_503(exchange: Exchange) -> None:
    exchange.send_json(
        503, {"detail": {"error": "MAINTENANCE", "message": "back soon"}}, **{"Retry-After": "0"}
    )


def save(hook: XentreeHook) -> Any:
    return hook.save_transcript(
        "2026-04-16T10:00:03Z", "2026-04-16T10:05:00Z", [{"role": "user", "text": "hi"}]
    )


def test_a_write_answered_by_a_proxy_503_after_applying_is_not_sent_again(hook_for: Any) -> None:
    with HostileServer(applies_then_answers(html_503)) as server:
        hook = hook_for(server, retry_max_wait=0.01)
        with pytest.raises(XentreeMaybeAppliedError) as info:
            save(hook)
    assert server.requests_to("POST", "/api/live/transcripts") == 1
    error = info.value
    assert error.maybe_applied and error.status == 503
    assert "may have been applied" in str(error) and "check" in str(error)


def test_a_write_the_api_declined_with_its_own_503_is_sent_again(hook_for: Any) -> None:
    with HostileServer(applies_then_answers(api_503)) as server:
        hook = hook_for(server, retry_max_wait=0.01)
        assert save(hook)["id"] == "ltr_1"
    assert server.requests_to("POST", "/api/live/transcripts") == 2


def test_a_write_whose_answer_trickles_past_the_deadline_may_have_applied(hook_for: Any) -> None:
    with HostileServer(applies_then_answers(trickled_body)) as server:
        hook = hook_for(server, **TIGHT)
        with pytest.raises(XentreeMaybeAppliedError, match="total deadline"):
            save(hook)
    assert server.requests_to("POST", "/api/live/transcripts") == 1


# --------------------------------------------------------------------------- connect, TLS handshake, sending

#: Timeouts far beyond the deadline: only the deadline can end these calls (the messages tell which did).
PATIENT = {"timeout": "30,30", "request_deadline": 1, "max_retries": 0}


def silent_settings(url: str) -> ClientSettings:
    return ClientSettings.from_connection(
        host=url, login=None, password=None, extra={"api_key": API_KEY, **PATIENT}
    )


@DRIVERS
@pytest.mark.parametrize("accept", [False, True], ids=["connect-blackholed", "tls-hello-never-answered"])
def test_a_connection_that_never_completes_ends_at_the_deadline(
    call: Callable[..., Any], accept: bool
) -> None:
    # Blackholed: the listener's accept queue is full, the SYN goes unanswered. Accepted: the TCP
    # connection is made and the server never sends its TLS hello.
    with SilentServer(accept=accept) as server:
        config = silent_settings(f"https://127.0.0.1:{server.port}")
        with pytest.raises(XentreeTimeoutError) as info:
            call(config)
    error = info.value
    assert "total deadline of 1 s" in str(error) and "request_deadline" in str(error), str(error)
    if call is call_sync:  # the sync driver knows nothing was sent: safe to retry, never "may have applied"
        assert "could not connect" in str(error)
        assert not error.request_sent and not may_have_applied(error)


def test_a_request_the_server_never_reads_ends_at_the_deadline() -> None:
    # The TCP connection is made and nothing is read: sending a large body blocks once the buffers
    # are full, until the deadline shuts the socket down.
    with SilentServer(accept=True) as server:
        transport = Transport(silent_settings(f"http://127.0.0.1:{server.port}"), user_agent="test")
        try:
            with pytest.raises(XentreeTimeoutError, match="total deadline of 1 s") as info:
                transport.call(adhoc_route("PUT", "/api/blob"), json={"blob": "x" * 64_000_000})
        finally:
            transport.close()
    # part of it went out: the server may have acted on it
    assert info.value.request_sent and "did not finish answering" in str(info.value)


# --------------------------------------------------------------------------- verify and the environment


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
@pytest.mark.parametrize("verify", ["false", "bundle"])
def test_verify_wins_over_the_ca_bundle_environment(
    hook_for: Any, certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch, variable: str, verify: str
) -> None:
    cert, key = certificate
    monkeypatch.setenv(variable, certifi.where())  # a real bundle that does not trust our certificate
    with HostileServer(lambda exchange: exchange.send_json(200, QUOTA), certfile=cert, keyfile=key) as server:
        hook = hook_for(server, verify=False if verify == "false" else cert, max_retries=0)
        assert hook.get_live_quota() == QUOTA


def test_the_environment_bundle_still_serves_the_default_verify(
    hook_for: Any, certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", cert)
    with HostileServer(lambda exchange: exchange.send_json(200, QUOTA), certfile=cert, keyfile=key) as server:
        assert hook_for(server, max_retries=0).get_live_quota() == QUOTA


def test_a_missing_ca_bundle_fails_test_connection_naming_the_field(hook_for: Any, tmp_path: Path) -> None:
    with HostileServer(lambda exchange: exchange.send_json(200, QUOTA)) as server:
        ok, message = hook_for(server, verify=str(tmp_path / "missing.pem")).test_connection()
    assert not ok and "'verify'" in message and "does not exist" in message


# --------------------------------------------------------------------------- triggers


def test_a_trigger_keeps_its_absolute_deadline_against_a_trickling_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with HostileServer(trickled_body) as server:
        extra = {"api_key": API_KEY, "timeout": "1,1", "request_deadline": 60, "max_retries": 0}
        conn = {"conn_type": "xentree", "host": server.url, "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_XENTREE_TRICKLE", json.dumps(conn))
        trigger = XentreeConditionTrigger(
            conn_id="xentree_trickle",
            condition="transcripts_in_window",
            condition_kwargs={"start": None, "end": None, "min_count": 1, "page_size": 10},
            poke_interval=0.1,
            deadline=time.time() + 1.0,
        )

        async def collect() -> list[dict[str, Any]]:
            return [event.payload async for event in trigger.run()]

        events = asyncio.run(collect())
    assert [e["status"] for e in events] == ["timeout"]
    assert "deadline" in events[0]["message"]
