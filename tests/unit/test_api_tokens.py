"""Unit tests for ``xentree_provider.api.tokens``: JWT expiry, refresh timing, the token managers."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
import time
from typing import Any

import pytest

from xentree_provider.api.errors import XentreeAuthError, XentreeResponseError, XentreeServerError
from xentree_provider.api.tokens import (
    AsyncTokenManager,
    TokenAction,
    TokenManager,
    TokenState,
    jwt_expiry,
    parse_token_response,
)

T0 = 1_776_333_603.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT with the given claims (the client never checks signatures)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims).encode())}.{b64url(b'signature')}"


# --------------------------------------------------------------------------- jwt_expiry


def test_jwt_expiry_reads_exp_and_iat() -> None:
    assert jwt_expiry(make_jwt({"sub": "u1", "exp": T0 + 900, "iat": T0})) == (T0 + 900, T0)


def test_jwt_expiry_needs_padding_restored() -> None:
    # payload lengths that are not a multiple of 4 once the padding is stripped
    for extra in ("", "a", "ab", "abc"):
        token = make_jwt({"exp": 1000, "x": extra})
        assert jwt_expiry(token) == (1000.0, None)


def test_jwt_expiry_without_claims() -> None:
    assert jwt_expiry(make_jwt({"sub": "u1"})) == (None, None)
    assert jwt_expiry(make_jwt({"exp": "soon"})) == (None, None)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "opaque-token",
        "a.b",
        "a.b.c.d",
        "aaa.!!!not-base64!!!.ccc",
        f"x.{b64url(b'not json')}.y",
        f"x.{b64url(b'[1, 2]')}.y",
        f"x.{b64url(bytes([0xFF, 0xFE, 0x00]))}.y",
    ],
)
def test_jwt_expiry_on_garbage(token: str) -> None:
    assert jwt_expiry(token) == (None, None)


# --------------------------------------------------------------------------- TokenState


def state(lifetime: float | None, *, refresh: str | None = "r1", stale: bool = False) -> TokenState:
    return TokenState(
        access_token="a1",
        refresh_token=refresh,
        received_at=T0,
        expires_at=None if lifetime is None else T0 + lifetime,
        stale=stale,
    )


def test_long_token_refreshes_lead_seconds_before_expiry() -> None:
    token = state(900)
    assert token.refresh_at(60) == T0 + 840
    assert token.action(T0 + 839.9, 60) is TokenAction.USE
    assert token.action(T0 + 840, 60) is TokenAction.REFRESH


def test_short_token_lead_is_capped_at_half_its_lifetime() -> None:
    token = state(2)
    assert token.refresh_at(60) == T0 + 1
    assert token.action(T0, 60) is TokenAction.USE
    assert token.action(T0 + 0.99, 60) is TokenAction.USE
    assert token.action(T0 + 1.0, 60) is TokenAction.REFRESH


def test_unknown_expiry_is_used_until_stale() -> None:
    assert state(None).action(T0 + 10**9, 60) is TokenAction.USE
    assert state(None, stale=True).action(T0, 60) is TokenAction.REFRESH


def test_without_refresh_token_must_log_in() -> None:
    assert state(10, refresh=None).action(T0 + 100, 60) is TokenAction.LOGIN
    assert state(None, refresh=None, stale=True).action(T0, 60) is TokenAction.LOGIN


# --------------------------------------------------------------------------- parse_token_response


def test_parse_uses_jwt_exp() -> None:
    access = make_jwt({"exp": T0 + 900})
    parsed = parse_token_response(
        {"access_token": access, "token_type": "bearer", "refresh_token": "r1", "expires_in": 5}, now=T0
    )
    assert parsed.expires_at == T0 + 900  # the token's own claim wins over expires_in
    assert parsed.refresh_token == "r1"
    assert parsed.received_at == T0
    assert parsed.stale is False


def test_parse_falls_back_to_expires_in() -> None:
    parsed = parse_token_response({"access_token": "opaque", "expires_in": 300}, now=T0)
    assert parsed.expires_at == T0 + 300


def test_parse_without_any_expiry() -> None:
    assert parse_token_response({"access_token": "opaque"}, now=T0).expires_at is None


@pytest.mark.parametrize("payload", [{"access_token": "a2"}, {"access_token": "a2", "refresh_token": ""}])
def test_parse_keeps_previous_refresh_token(payload: dict[str, Any]) -> None:
    assert parse_token_response(payload, now=T0, previous_refresh_token="r-old").refresh_token == "r-old"


def test_parse_prefers_new_refresh_token() -> None:
    parsed = parse_token_response(
        {"access_token": "a2", "refresh_token": "r-new"}, now=T0, previous_refresh_token="r-old"
    )
    assert parsed.refresh_token == "r-new"


@pytest.mark.parametrize("payload", [{}, {"token": "x"}, {"access_token": 5}, None, ["a"], "a"])
def test_parse_without_access_token(payload: Any) -> None:
    with pytest.raises(XentreeResponseError, match="access_token"):
        parse_token_response(payload, now=T0)


# --------------------------------------------------------------------------- TokenManager


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeServer:
    """Issues numbered JWTs; counts logins and refreshes; can rotate or reject refresh tokens."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        lifetime: float = 900.0,
        rotate: bool = True,
        delay: float = 0.0,
    ) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.rotate = rotate
        self.delay = delay
        self.counter = itertools.count(1)
        self.logins = 0
        self.refreshes: list[str] = []
        self.valid_refresh: set[str] = set()
        self.lock = threading.Lock()

    def _issue(self, with_refresh: bool) -> dict[str, Any]:
        n = next(self.counter)
        payload: dict[str, Any] = {
            "access_token": make_jwt({"sub": "u1", "n": n, "exp": self.clock() + self.lifetime}),
            "token_type": "bearer",
        }
        if with_refresh:
            refresh = f"refresh-{n}"
            self.valid_refresh.add(refresh)
            payload["refresh_token"] = refresh
        return payload

    def login(self) -> dict[str, Any]:
        time.sleep(self.delay)
        with self.lock:
            self.logins += 1
            return self._issue(with_refresh=True)

    def refresh(self, token: str) -> dict[str, Any]:
        time.sleep(self.delay)
        with self.lock:
            self.refreshes.append(token)
            if token not in self.valid_refresh:
                raise XentreeAuthError("refresh token expired or revoked", status=401)
            if self.rotate:
                self.valid_refresh.discard(token)
            return self._issue(with_refresh=self.rotate)

    async def alogin(self) -> dict[str, Any]:
        await asyncio.sleep(self.delay)
        self.logins += 1
        return self._issue(with_refresh=True)

    async def arefresh(self, token: str) -> dict[str, Any]:
        await asyncio.sleep(self.delay)
        return self.refresh(token)


def manager(server: FakeServer, clock: FakeClock, **kwargs: Any) -> TokenManager:
    return TokenManager(server.login, server.refresh, clock=clock, **kwargs)


def test_first_call_logs_in_then_reuses() -> None:
    clock = FakeClock()
    server = FakeServer(clock)
    tokens = manager(server, clock)
    assert tokens.state is None
    first = tokens.access_token()
    assert tokens.access_token() == first
    clock.now += 100
    assert tokens.access_token() == first
    assert (server.logins, server.refreshes, tokens.logins, tokens.refreshes) == (1, [], 1, 0)


def test_refresh_when_due() -> None:
    clock = FakeClock()
    server = FakeServer(clock, lifetime=900)
    tokens = manager(server, clock, refresh_lead=60)
    first = tokens.access_token()
    clock.now += 839
    assert tokens.access_token() == first
    clock.now += 1
    second = tokens.access_token()
    assert second != first
    assert server.refreshes == ["refresh-1"]
    assert (server.logins, tokens.refreshes) == (1, 1)


def test_rotation_keeps_the_newest_refresh_token() -> None:
    clock = FakeClock()
    server = FakeServer(clock, lifetime=100, rotate=True)
    tokens = manager(server, clock, refresh_lead=10)
    tokens.access_token()
    for _ in range(3):
        clock.now += 95
        tokens.access_token()
    assert server.refreshes == ["refresh-1", "refresh-2", "refresh-3"]
    assert tokens.state is not None and tokens.state.refresh_token == "refresh-4"
    assert server.logins == 1


def test_without_rotation_the_refresh_token_is_kept() -> None:
    clock = FakeClock()
    server = FakeServer(clock, lifetime=100, rotate=False)
    tokens = manager(server, clock, refresh_lead=10)
    tokens.access_token()
    for _ in range(3):
        clock.now += 95
        tokens.access_token()
    assert server.refreshes == ["refresh-1"] * 3
    assert server.logins == 1


def test_rejected_refresh_logs_in_again(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    server = FakeServer(clock, lifetime=100)
    tokens = manager(server, clock, refresh_lead=10)
    tokens.access_token()
    server.valid_refresh.clear()  # revoked on the server
    clock.now += 95
    with caplog.at_level("WARNING"):
        token = tokens.access_token()
    assert server.refreshes == ["refresh-1"]
    assert server.logins == 2
    assert tokens.state is not None and tokens.state.access_token == token
    assert tokens.state.refresh_token == "refresh-2"  # from the new login
    assert "logging in again" in caplog.text


def test_other_refresh_failures_propagate() -> None:
    clock = FakeClock()

    def broken_refresh(_: str) -> Any:
        raise XentreeServerError("down", status=503)

    tokens = TokenManager(
        lambda: {"access_token": make_jwt({"exp": clock() + 10}), "refresh_token": "r"},
        broken_refresh,
        clock=clock,
        refresh_lead=1,
    )
    tokens.access_token()
    clock.now += 9.5
    with pytest.raises(XentreeServerError):
        tokens.access_token()
    assert tokens.logins == 1


def test_login_without_refresh_token_logs_in_again_when_due() -> None:
    clock = FakeClock()
    logins: list[int] = []

    def login() -> Any:
        logins.append(1)
        return {"access_token": f"opaque-{len(logins)}", "expires_in": 60}

    tokens = TokenManager(login, lambda _: pytest.fail("no refresh token to use"), clock=clock)
    assert tokens.access_token() == "opaque-1"
    clock.now += 30
    assert tokens.access_token() == "opaque-2"  # lead 60 capped at 30 s of a 60 s token
    assert len(logins) == 2


def test_invalidate_current_token_forces_renewal() -> None:
    clock = FakeClock()
    server = FakeServer(clock)
    tokens = manager(server, clock)
    first = tokens.access_token()
    tokens.invalidate(first)
    second = tokens.access_token()
    assert second != first
    assert server.refreshes == ["refresh-1"]


def test_invalidate_after_replacement_is_a_noop() -> None:
    clock = FakeClock()
    server = FakeServer(clock)
    tokens = manager(server, clock)
    old = tokens.access_token()
    tokens.invalidate(old)
    new = tokens.access_token()
    # a second caller that got a 401 with the old token reports it late
    tokens.invalidate(old)
    assert tokens.state is not None and tokens.state.stale is False
    assert tokens.access_token() == new
    assert len(server.refreshes) == 1


def test_on_secret_receives_every_new_token() -> None:
    clock = FakeClock()
    server = FakeServer(clock, lifetime=100)
    seen: list[str] = []
    tokens = manager(server, clock, refresh_lead=10, on_secret=seen.append)
    issued: list[str] = [tokens.access_token()]
    for _ in range(2):
        clock.now += 95
        issued.append(tokens.access_token())
    assert seen == [issued[0], "refresh-1", issued[1], "refresh-2", issued[2], "refresh-3"]


def test_negative_lead_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        TokenManager(lambda: None, lambda _: None, refresh_lead=-1)


def test_forget_drops_state() -> None:
    clock = FakeClock()
    server = FakeServer(clock)
    tokens = manager(server, clock)
    tokens.access_token()
    tokens.forget()
    assert tokens.state is None
    tokens.access_token()
    assert server.logins == 2


def test_many_threads_across_expiry_cause_one_refresh() -> None:
    clock = FakeClock()
    server = FakeServer(clock, lifetime=900, delay=0.0)
    tokens = manager(server, clock, refresh_lead=60)
    first = tokens.access_token()
    server.delay = 0.05  # widen the race: the refresh takes a while
    clock.now += 850  # past the refresh point
    barrier = threading.Barrier(16)
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            token = tokens.access_token()
            with lock:
                results.append(token)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(server.refreshes) == 1
    assert server.logins == 1
    assert tokens.refreshes == 1
    assert len(results) == 16
    assert set(results) == {tokens.state.access_token if tokens.state else ""}
    assert first not in results


def test_many_threads_first_login_is_shared() -> None:
    clock = FakeClock()
    server = FakeServer(clock, delay=0.05)
    tokens = manager(server, clock)
    barrier = threading.Barrier(16)
    threads = [threading.Thread(target=lambda: (barrier.wait(), tokens.access_token())) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert server.logins == 1


# --------------------------------------------------------------------------- AsyncTokenManager


def test_async_concurrent_callers_share_one_login() -> None:
    clock = FakeClock()
    server = FakeServer(clock, delay=0.02)

    async def main() -> list[str]:
        tokens = AsyncTokenManager(server.alogin, server.arefresh, clock=clock)
        results = await asyncio.gather(*(tokens.access_token() for _ in range(50)))
        assert tokens.logins == 1
        return list(results)

    results = asyncio.run(main())
    assert server.logins == 1
    assert len(set(results)) == 1


def test_async_refresh_rejection_and_invalidate() -> None:
    clock = FakeClock()
    server = FakeServer(clock, lifetime=100)

    async def main() -> None:
        tokens = AsyncTokenManager(server.alogin, server.arefresh, clock=clock, refresh_lead=10)
        first = await tokens.access_token()
        clock.now += 95
        tokens_after_refresh = await asyncio.gather(*(tokens.access_token() for _ in range(20)))
        assert set(tokens_after_refresh) != {first}
        assert server.refreshes == ["refresh-1"]
        server.valid_refresh.clear()
        tokens.invalidate(tokens_after_refresh[0])
        tokens.invalidate(first)  # stale report: no effect
        await tokens.access_token()
        assert server.logins == 2

    asyncio.run(main())


def test_lifetime_is_counted_from_receipt_when_the_clocks_disagree() -> None:
    # The server's clock is 3 hours behind ours: exp is in our past, yet the token lives 900 s.
    now = 1_800_000_000.0
    server_now = now - 3 * 3600
    token = make_jwt({"iat": server_now, "exp": server_now + 900})
    state = parse_token_response({"access_token": token}, now=now)
    assert state.expires_at == pytest.approx(now + 900)
    assert state.action(now + 10, lead=60) is TokenAction.USE


# --------------------------------------------------------------------------- clock skew


def test_exp_without_iat_is_read_against_the_servers_date() -> None:
    # Our clock is an hour fast: exp is in our past, yet the token has 900 s left on the server's clock.
    server_now = 1_800_000_000.0
    ours = server_now + 3600
    token = make_jwt({"exp": server_now + 900})
    state = parse_token_response({"access_token": token}, now=ours, server_time=server_now)
    assert state.expires_at == pytest.approx(ours + 900)


def test_exp_without_iat_or_date_falls_back_to_expires_in_or_to_a_401() -> None:
    server_now = 1_800_000_000.0
    ours = server_now + 3600
    token = make_jwt({"exp": server_now + 900})
    with_expires_in = parse_token_response({"access_token": token, "expires_in": 900}, now=ours)
    assert with_expires_in.expires_at == pytest.approx(ours + 900)
    # Nothing to measure the skew with: use the token until the server refuses it, never refresh at once.
    assert parse_token_response({"access_token": token}, now=ours).expires_at is None


@pytest.mark.parametrize("skew", [-7200.0, -3600.0, -60.0, 0.0, 60.0, 3600.0, 86_400.0])
def test_at_most_one_refresh_per_token_lifetime_whatever_the_skew(skew: float) -> None:
    server_clock = FakeClock(T0)
    client_clock = FakeClock(T0 + skew)
    refreshes: list[str] = []

    def issue() -> Any:
        from xentree_provider.api.tokens import TokenReply

        payload = {
            "access_token": make_jwt({"exp": server_clock() + 900, "n": len(refreshes)}),
            "refresh_token": "r",
        }
        return TokenReply(payload, server_time=server_clock())

    def refresh(token: str) -> Any:
        refreshes.append(token)
        return issue()

    tokens = TokenManager(issue, refresh, clock=client_clock, refresh_lead=60)
    for _ in range(10):  # ten calls over one 900 s lifetime
        tokens.access_token()
        server_clock.now += 90
        client_clock.now += 90
    assert len(refreshes) <= 1
    assert tokens.logins == 1


@pytest.mark.parametrize("field", ["access_token", "refresh_token"])
def test_a_token_no_http_header_can_carry_is_a_response_error(field: str) -> None:
    payload = {"access_token": "abc", "refresh_token": "def", field: "t\u00f6ken\u20ac"}
    with pytest.raises(XentreeResponseError, match=field):
        parse_token_response(payload, now=1000.0)
