"""Unit tests for the sans-IO request flow (``xentree_provider.api.flow``), driven without any network.

A scripted performer answers each step the flow yields: ``Send`` gets the next scripted reply (or has
the next scripted connection error thrown in), ``Sleep`` is recorded, ``NeedToken`` hands out tokens.
The same flow is driven by the sync driver (:func:`run_flow`) and the async one (:func:`arun_flow`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any

import pytest

from xentree_provider.api.errors import (
    XentreeAuthError,
    XentreeConflictError,
    XentreeConnectionError,
    XentreeMaybeAppliedError,
    XentreeNotFoundError,
    XentreeQuotaExceededError,
    XentreeServerError,
    XentreeTimeoutError,
)
from xentree_provider.api.flow import NeedToken, Reply, RequestFlows, RequestStep, Send, Sleep
from xentree_provider.api.retry import RetryPolicy
from xentree_provider.api.routes import ROUTES
from xentree_provider.api.settings import ClientSettings
from xentree_provider.api.steps import arun_flow, run_flow

FAST = RetryPolicy(max_attempts=4, max_wait=0.001, backoff_base=0.001)
JSON = {"content-type": "application/json"}


def reply(status: int, body: Any = None, **headers: str) -> Reply:
    payload = b"" if body is None else json.dumps(body).encode()
    return Reply(status, {**JSON, **{k.replace("_", "-"): v for k, v in headers.items()}}, payload)


def error_reply(status: int, code: str = "BOOM", **headers: str) -> Reply:
    return reply(status, {"detail": {"error": code, "message": f"HTTP {status}"}}, **headers)


class Script:
    """Answers a flow's steps from a list of replies and errors; records what the flow asked for."""

    def __init__(self, *answers: Reply | Exception) -> None:
        self.answers = list(answers)
        self.sent: list[Send] = []
        self.slept: list[float] = []
        self.token_requests: list[NeedToken] = []
        self.issued = 0

    def perform(self, step: RequestStep) -> Any:
        if isinstance(step, Sleep):
            self.slept.append(step.seconds)
            return None
        if isinstance(step, NeedToken):
            self.token_requests.append(step)
            self.issued += 1
            return f"token-{self.issued}"
        self.sent.append(step)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aperform(self, step: RequestStep) -> Any:
        await asyncio.sleep(0)
        return self.perform(step)


def flows(
    policy: RetryPolicy = FAST, *, api_key: str | None = "xntr-key", logger_name: str = "t"
) -> RequestFlows:
    settings = ClientSettings(
        api_key=api_key,
        login=None if api_key else "me@example.com",
        password=None if api_key else "pw",
        retry=policy,
    )
    return RequestFlows(settings, logging.getLogger(logger_name))


@pytest.fixture
def logger() -> logging.Logger:
    return logging.getLogger("tests.xentree.flow")


# --------------------------------------------------------------------------- retries


def test_flow_retries_and_logs(caplog: pytest.LogCaptureFixture, logger: logging.Logger) -> None:
    script = Script(error_reply(503), error_reply(429, retry_after="0.0005"), reply(200, {"ok": True}))
    with caplog.at_level(logging.WARNING, logger=logger.name):
        result = run_flow(flows(logger_name=logger.name).request(ROUTES["get_live_quota"]), script.perform)
    assert result == {"ok": True}
    assert len(script.sent) == 3
    warnings = [r for r in caplog.records if r.name == logger.name and r.levelno == logging.WARNING]
    assert len(warnings) == 2
    first, second = (r.getMessage() for r in warnings)
    assert "GET /api/live/quota" in first and "HTTP 503" in first and "try 1 of 4" in first
    assert "waiting" in first and " s)" in first
    assert "HTTP 429" in second and "try 2 of 4" in second and "waiting 0.00 s" in second


def test_flow_does_not_retry_non_retryable(caplog: pytest.LogCaptureFixture, logger: logging.Logger) -> None:
    script = Script(error_reply(404, "NOT_FOUND"))
    with caplog.at_level(logging.WARNING, logger=logger.name), pytest.raises(XentreeNotFoundError):
        run_flow(flows(logger_name=logger.name).request(ROUTES["get_live_quota"]), script.perform)
    assert len(script.sent) == 1
    assert not [r for r in caplog.records if r.name == logger.name]


HTML_503 = Reply(503, {"content-type": "text/html"}, b"<html><body>503 Service Unavailable</body></html>")
NOT_JSON_ERROR = Reply(503, {"content-type": "application/json"}, b'{"message": "Service Unavailable"}')


@pytest.mark.parametrize(
    "failure",
    [
        error_reply(500),
        error_reply(502),
        HTML_503,
        NOT_JSON_ERROR,
        XentreeConnectionError("reset"),
        XentreeTimeoutError("read"),
        Reply(201, JSON, b'{"id": "t1", "sess'),
    ],
    ids=["500", "502", "html-503", "proxy-json-503", "dropped", "read-timeout", "truncated-201"],
)
def test_a_write_that_may_have_applied_is_not_sent_again(failure: Reply | Exception) -> None:
    script = Script(failure, reply(201, {"id": "t2"}))
    with pytest.raises(XentreeMaybeAppliedError) as info:
        run_flow(flows().request(ROUTES["save_transcript"], json={}), script.perform)
    assert len(script.sent) == 1
    error = info.value
    assert error.maybe_applied is True
    assert "may have been applied" in str(error) and "check" in str(error)
    assert (error.method, error.path) == ("POST", "/api/live/transcripts")
    assert policy_ignores(error)


def policy_ignores(error: Exception) -> bool:
    return all(RetryPolicy().retry_reason(error, safe_to_retry=safe) is None for safe in (True, False))


@pytest.mark.parametrize(
    "declined",
    [error_reply(503), error_reply(429), Reply(503, JSON, b'{"detail": "down for maintenance"}')],
    ids=["api-503", "429", "api-503-text-detail"],
)
def test_a_write_the_api_declined_is_sent_again(declined: Reply) -> None:
    script = Script(declined, reply(201, {"id": "t1"}))
    assert run_flow(flows().request(ROUTES["save_transcript"], json={}), script.perform) == {"id": "t1"}
    assert len(script.sent) == 2


def test_idempotent_reads_still_retry_what_writes_do_not() -> None:
    script = Script(HTML_503, XentreeConnectionError("reset"), error_reply(500), reply(200, {"n": 1}))
    assert run_flow(flows().request(ROUTES["get_live_quota"]), script.perform) == {"n": 1}
    assert len(script.sent) == 4


def test_errors_that_say_nothing_was_applied_keep_their_type() -> None:
    script = Script(error_reply(409, "CONFLICT"))
    with pytest.raises(XentreeConflictError) as info:
        run_flow(flows().request(ROUTES["save_transcript"], json={}), script.perform)
    assert info.value.maybe_applied is False


# --------------------------------------------------------------------------- the retry budget


class Clock:
    """A monotonic clock that the scripted sleeps move forward."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def budget_flows(policy: RetryPolicy, clock: Clock) -> RequestFlows:
    settings = ClientSettings(api_key="xntr-key", retry=policy)
    return RequestFlows(settings, logging.getLogger("t"), clock=clock)


def sleeping(script: Script, clock: Clock) -> Any:
    def perform(step: RequestStep) -> Any:
        if isinstance(step, Sleep):
            clock.now += step.seconds
        return script.perform(step)

    return perform


def test_the_budget_stops_retries_before_the_attempt_cap() -> None:
    clock = Clock()
    script = Script(*[error_reply(503, retry_after="10")] * 50)
    policy = RetryPolicy(max_attempts=50, max_wait=60.0, budget=35.0)
    with pytest.raises(XentreeServerError):
        run_flow(budget_flows(policy, clock).request(ROUTES["get_live_quota"]), sleeping(script, clock))
    # waits of 10, 10, 10, then the 5 s left of the budget; no try starts after it is spent
    assert script.slept == [10.0, 10.0, 10.0, 5.0]
    assert len(script.sent) == 5


def test_the_attempt_cap_still_bounds_a_fast_storm() -> None:
    clock = Clock()
    script = Script(*[error_reply(503, retry_after="0")] * 50)
    policy = RetryPolicy(max_attempts=4, budget=1000.0)
    with pytest.raises(XentreeServerError):
        run_flow(budget_flows(policy, clock).request(ROUTES["get_live_quota"]), sleeping(script, clock))
    assert len(script.sent) == 4


def test_a_storm_shorter_than_the_budget_is_ridden_out() -> None:
    clock = Clock()
    storm = [error_reply(429, retry_after="3")] * 12 + [XentreeConnectionError("x", request_sent=False)] * 3
    script = Script(*storm, reply(201, {"id": "t1"}))
    # Backoff waits are jittered: with max_wait=10 the storm takes at most 36 + 3 x 10 s of the
    # 120 s budget whatever the random draws (at the default 60 s, three draws can exceed it).
    policy = RetryPolicy(max_attempts=21, budget=120.0, max_wait=10.0)
    flow = budget_flows(policy, clock).request(ROUTES["save_transcript"], json={})
    assert run_flow(flow, sleeping(script, clock)) == {"id": "t1"}
    assert len(script.sent) == 16


def test_unsafe_request_is_retried_when_it_never_left() -> None:
    script = Script(XentreeConnectionError("refused", request_sent=False), reply(201, {"id": "t1"}))
    assert run_flow(flows().request(ROUTES["save_transcript"], json={}), script.perform) == {"id": "t1"}
    assert len(script.sent) == 2


def test_flow_gives_up_after_max_attempts() -> None:
    script = Script(*[error_reply(503)] * 10)
    with pytest.raises(XentreeServerError):
        run_flow(flows().request(ROUTES["get_live_quota"]), script.perform)
    assert len(script.sent) == FAST.max_attempts
    assert len(script.slept) == FAST.max_attempts - 1


def test_single_attempt_policy_never_retries() -> None:
    script = Script(error_reply(503))
    with pytest.raises(XentreeServerError):
        run_flow(flows(RetryPolicy(max_attempts=1)).request(ROUTES["get_live_quota"]), script.perform)
    assert len(script.sent) == 1


def test_waits_are_the_retry_after_the_server_asked_for() -> None:
    script = Script(error_reply(429, retry_after="42"), error_reply(429, retry_after="42"), reply(200, {}))
    policy = RetryPolicy(max_attempts=3, max_wait=60.0)
    assert run_flow(flows(policy).request(ROUTES["save_transcript"], json={}), script.perform) == {}
    assert script.slept == [42.0, 42.0]
    assert len(script.sent) == 3


def test_a_retried_delete_answered_404_is_done() -> None:
    script = Script(XentreeTimeoutError("read"), error_reply(404, "NOT_FOUND"))
    route = ROUTES["remove_member"]
    assert (
        run_flow(flows().request(route, path_params={"org_id": "o", "user_id": "u"}), script.perform) is None
    )
    assert [s.method for s in script.sent] == ["DELETE", "DELETE"]


# --------------------------------------------------------------------------- credentials


def test_api_key_goes_in_its_header_and_nowhere_else() -> None:
    script = Script(reply(200, {}))
    run_flow(flows().request(ROUTES["get_live_quota"], params={"limit": 1, "offset": None}), script.perform)
    (sent,) = script.sent
    assert sent.headers == {"X-API-Key": "xntr-key"}
    assert sent.params == {"limit": 1}
    assert "xntr-key" not in repr(sent)


def test_refused_token_is_renewed_once_per_request() -> None:
    script = Script(error_reply(401), reply(200, {"ok": 1}))
    result = run_flow(flows(api_key=None).request(ROUTES["get_live_quota"]), script.perform)
    assert result == {"ok": 1}
    assert script.token_requests == [NeedToken(), NeedToken(stale="token-1")]
    assert [s.headers["Authorization"] for s in script.sent] == ["Bearer token-1", "Bearer token-2"]


def test_second_401_is_an_auth_error() -> None:
    script = Script(error_reply(401), error_reply(401))
    with pytest.raises(XentreeAuthError):
        run_flow(flows(api_key=None).request(ROUTES["get_live_quota"]), script.perform)
    assert len(script.sent) == 2


def test_rejected_login_says_what_to_check() -> None:
    script = Script(error_reply(401))
    with pytest.raises(XentreeAuthError, match="login was rejected"):
        run_flow(flows(api_key=None).login(), script.perform)
    (sent,) = script.sent
    assert sent.path == "/api/auth/login" and "Authorization" not in sent.headers
    assert sent.data == {"username": "me@example.com", "password": "pw"}


# --------------------------------------------------------------------------- the async driver


def run_async(flow: Any, perform: Any) -> Any:
    async def main() -> Any:
        return await arun_flow(flow, perform)

    return asyncio.run(main())


def test_async_driver_runs_the_same_flow(caplog: pytest.LogCaptureFixture, logger: logging.Logger) -> None:
    script = Script(XentreeTimeoutError("slow"), error_reply(502), reply(200, ["ok"]))
    with caplog.at_level(logging.WARNING, logger=logger.name):
        flow = flows(logger_name=logger.name).request(ROUTES["get_live_quota"])
        assert run_async(flow, script.aperform) == ["ok"]
    assert len(script.sent) == 3
    messages = [r.getMessage() for r in caplog.records if r.name == logger.name]
    assert len(messages) == 2
    assert "read timeout" in messages[0] and "HTTP 502" in messages[1]


def test_async_driver_does_not_retry_non_retryable() -> None:
    script = Script(error_reply(429, "live_quota_exceeded"))
    with pytest.raises(XentreeQuotaExceededError):
        run_async(flows().request(ROUTES["get_live_quota"]), script.aperform)
    assert len(script.sent) == 1


def test_an_error_outside_the_tree_escapes_the_flow_unretried() -> None:
    def broken(step: RequestStep) -> Awaitable[Any]:
        raise RuntimeError("a bug in the driver")

    with pytest.raises(RuntimeError, match="bug"):
        run_flow(flows().request(ROUTES["get_live_quota"]), broken)


def test_a_failed_login_is_not_mistaken_for_a_failed_write() -> None:
    class NoLogin(Script):
        def perform(self, step: RequestStep) -> Any:
            if isinstance(step, NeedToken):
                raise XentreeConnectionError("the login's connection dropped")
            return super().perform(step)

    script = NoLogin()
    with pytest.raises(XentreeConnectionError, match="login's connection dropped") as info:
        run_flow(flows(api_key=None).request(ROUTES["save_transcript"], json={}), script.perform)
    assert not info.value.maybe_applied
    assert script.sent == [] and script.slept == []  # never sent, and not retried on top of the login


def test_max_requests_per_second_paces_every_request_of_the_flows() -> None:
    settings = ClientSettings(api_key="xntr-key", retry=FAST, max_requests_per_second=4.0)
    shared = RequestFlows(settings, logging.getLogger("t"))
    script = Script(*[reply(200, {})] * 3)
    for _ in range(3):
        run_flow(shared.request(ROUTES["get_live_quota"]), script.perform)
    # the first goes at once; the others wait for their quarter-second slots (less what already passed)
    assert len(script.slept) == 2 and all(0.0 < wait <= 0.5 for wait in script.slept)


def test_a_run_of_429s_after_a_run_of_answers_slows_the_shared_throttle_down() -> None:
    shared = flows()
    throttled = [error_reply(429, retry_after="0")] * 3
    script = Script(*[reply(200, {})] * 8, *throttled, reply(200, {}), *throttled, reply(200, {}))
    for _ in range(10):
        run_flow(shared.request(ROUTES["get_live_quota"]), script.perform)
    assert shared.throttle.cuts == 1 and shared.throttle.rate is not None


def test_a_lone_429_is_answered_by_its_retry_after_alone() -> None:
    shared = flows()
    run_flow(shared.request(ROUTES["get_live_quota"]), Script(error_reply(429), reply(200, {})).perform)
    assert shared.throttle.cuts == 0 and shared.throttle.rate is None
