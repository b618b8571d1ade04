"""Unit tests for ``xentree_provider.api.retry``: Retry-After, the retry matrix, waits, decisions.

The retry loop itself is the request flow's, tested in ``test_api_flow.py``.
"""

from __future__ import annotations

import email.utils
import random

import pytest

from xentree_provider.api.errors import (
    XentreeAuthError,
    XentreeConflictError,
    XentreeConnectionError,
    XentreeError,
    XentreeNotFoundError,
    XentreePermissionError,
    XentreeQuotaExceededError,
    XentreeRateLimitError,
    XentreeResponseError,
    XentreeServerError,
    XentreeTimeoutError,
    XentreeValidationError,
)
from xentree_provider.api.retry import RetryPolicy, parse_retry_after

NOW = 1_776_333_603.0  # 2026-04-16T10:00:03Z


# --------------------------------------------------------------------------- parse_retry_after


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0.0), ("5", 5.0), (" 120 ", 120.0), ("1.5", 1.5), ("-3", 0.0)],
)
def test_retry_after_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_retry_after_http_date_relative_to_now() -> None:
    value = email.utils.formatdate(NOW + 30, usegmt=True)
    assert parse_retry_after(value, now=NOW) == pytest.approx(30.0)


def test_retry_after_http_date_without_zone_is_utc() -> None:
    # an asctime-style date carries no zone; it is read as UTC
    value = email.utils.formatdate(NOW + 90, usegmt=True).replace(" GMT", "")
    assert parse_retry_after(value, now=NOW) == pytest.approx(90.0)


def test_retry_after_past_date_is_zero() -> None:
    value = email.utils.formatdate(NOW - 3600, usegmt=True)
    assert parse_retry_after(value, now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "Thu, 99 Foo 2026", "12 apples"])
def test_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


# --------------------------------------------------------------------------- retry_reason matrix

POLICY = RetryPolicy()


def server(status: int) -> XentreeServerError:
    return XentreeServerError("boom", status=status)


CASES: list[tuple[str, BaseException, bool, bool]] = [
    # (id, error, retried when safe, retried when unsafe)
    ("not-sent", XentreeConnectionError("refused", request_sent=False), True, True),
    ("connect-timeout", XentreeTimeoutError("connect", request_sent=False), True, True),
    ("dropped", XentreeConnectionError("reset"), True, False),
    ("read-timeout", XentreeTimeoutError("read"), True, False),
    ("429", XentreeRateLimitError("slow", status=429), True, True),
    ("503-api-json", XentreeServerError("busy", status=503, from_api=True), True, True),
    ("503-proxy-page", server(503), True, False),
    ("500", server(500), True, False),
    ("502", server(502), True, False),
    ("504", server(504), True, False),
    ("501", server(501), False, False),
    ("quota", XentreeQuotaExceededError("quota", status=429, code="live_quota_exceeded"), False, False),
    ("quota-with-retry-after", XentreeQuotaExceededError("q", status=429, retry_after=1.0), False, False),
    ("400", XentreeValidationError("bad", status=400), False, False),
    ("401", XentreeAuthError("no", status=401), False, False),
    ("403", XentreePermissionError("no", status=403), False, False),
    ("404", XentreeNotFoundError("no", status=404), False, False),
    ("409", XentreeConflictError("no", status=409), False, False),
    ("422", XentreeValidationError("no", status=422), False, False),
    ("garbled-body", XentreeResponseError("garbled", status=200, retryable_body=True), True, False),
    ("html-body", XentreeResponseError("html", status=200, content_type="text/html"), False, False),
    ("not-xentree", ValueError("bug"), False, False),
    ("base-error", XentreeError("?"), False, False),
]


@pytest.mark.parametrize(
    ("error", "when_safe", "when_unsafe"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_retry_reason_matrix(error: BaseException, when_safe: bool, when_unsafe: bool) -> None:
    assert (POLICY.retry_reason(error, safe_to_retry=True) is not None) is when_safe
    assert (POLICY.retry_reason(error, safe_to_retry=False) is not None) is when_unsafe


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (XentreeConnectionError("x", request_sent=False), "did not reach the server"),
        (XentreeTimeoutError("x"), "read timeout"),
        (XentreeConnectionError("x"), "connection dropped"),
        (XentreeRateLimitError("x", status=429), "HTTP 429"),
        (server(502), "HTTP 502"),
        (XentreeResponseError("x", retryable_body=True), "garbled"),
    ],
)
def test_retry_reason_words(error: BaseException, words: str) -> None:
    reason = POLICY.retry_reason(error, safe_to_retry=True)
    assert reason is not None and words in reason


def test_policy_validation() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(max_wait=-1)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(backoff_base=-0.1)


# --------------------------------------------------------------------------- wait_seconds


def test_wait_honours_retry_after() -> None:
    policy = RetryPolicy(max_wait=60.0)
    assert policy.wait_seconds(1, XentreeRateLimitError("x", retry_after=7.0)) == 7.0


@pytest.mark.parametrize("retry_after", [None, 0.0])
@pytest.mark.parametrize("attempt", [1, 3, 5, 12, 500])
def test_a_429_without_a_usable_retry_after_still_backs_off(retry_after: float | None, attempt: int) -> None:
    # "Retry-After: 0" (or a past date) on every answer must not turn the budget into a hammering loop.
    policy = RetryPolicy(max_wait=60.0, backoff_base=0.5)
    ceiling = min(60.0, 0.5 * 2 ** (attempt - 1))
    for seed in range(20):
        wait = policy.wait_seconds(
            attempt, XentreeRateLimitError("x", retry_after=retry_after), random.Random(seed)
        )
        assert ceiling / 2 <= wait <= ceiling


def test_retry_after_zero_on_other_errors_means_now() -> None:
    policy = RetryPolicy(max_wait=60.0)
    assert policy.wait_seconds(5, XentreeServerError("x", status=503, retry_after=0.0)) == 0.0


def test_wait_caps_retry_after_at_max_wait() -> None:
    policy = RetryPolicy(max_wait=10.0)
    assert policy.wait_seconds(1, XentreeRateLimitError("x", retry_after=3600.0)) == 10.0


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 8, 12])
def test_wait_full_jitter_within_bounds(attempt: int) -> None:
    policy = RetryPolicy(max_wait=5.0, backoff_base=0.5)
    rng = random.Random(1234)
    ceiling = min(5.0, 0.5 * 2 ** (attempt - 1))
    waits = [policy.wait_seconds(attempt, server(503), rng) for _ in range(500)]
    assert all(0.0 <= w <= ceiling for w in waits)
    # full jitter: spread over the whole range, not clustered at the ceiling
    assert min(waits) < ceiling * 0.1
    assert max(waits) > ceiling * 0.9


def test_wait_without_error_uses_backoff() -> None:
    policy = RetryPolicy(max_wait=60.0, backoff_base=1.0)
    assert 0.0 <= policy.wait_seconds(3, None, random.Random(0)) <= 4.0


def test_wait_is_deterministic_with_seeded_rng() -> None:
    policy = RetryPolicy()
    first = [policy.wait_seconds(n, None, random.Random(7)) for n in range(1, 6)]
    second = [policy.wait_seconds(n, None, random.Random(7)) for n in range(1, 6)]
    assert first == second


# --------------------------------------------------------------------------- decide


def test_decide_combines_reason_wait_and_the_attempt_cap() -> None:
    policy = RetryPolicy(max_attempts=3, max_wait=60.0)
    decision = policy.decide(XentreeRateLimitError("x", status=429, retry_after=7.0), 1, safe_to_retry=False)
    assert decision is not None and decision.wait == 7.0 and decision.reason == "HTTP 429"
    assert policy.decide(server(503), 2, safe_to_retry=True) is not None
    assert policy.decide(server(503), 3, safe_to_retry=True) is None  # the third try was the last
    assert policy.decide(server(500), 1, safe_to_retry=False) is None


def test_a_429_is_bounded_by_the_budget_not_the_attempt_cap() -> None:
    policy = RetryPolicy(max_attempts=4, budget=120.0)
    limited = XentreeRateLimitError("x", status=429, retry_after=1.0)
    assert policy.decide(limited, 4, safe_to_retry=False) is not None
    assert policy.decide(limited, 400, safe_to_retry=False, elapsed=119.0) is not None
    assert policy.decide(limited, 5, safe_to_retry=False, elapsed=120.0) is None  # the budget is spent
    assert policy.decide(server(503), 4, safe_to_retry=True) is None  # other failures keep the cap
    assert policy.decide(XentreeQuotaExceededError("x", status=429), 1, safe_to_retry=True) is None
    # max_retries=0 (one try) disables retries, 429s included
    assert RetryPolicy(max_attempts=1).decide(limited, 1, safe_to_retry=False) is None
