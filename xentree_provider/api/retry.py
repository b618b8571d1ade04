"""The retry policy shared by the sync hook and the async triggers.

Which failures are retried:

* the request never reached the server (refused connection, DNS failure, connect timeout): always;
* 429 (rate limit; not the Live quota, which retrying cannot fix), and a 503 that is the API's own
  JSON error: always, as the API declined the request without acting on it;
* read timeouts, dropped connections, garbled JSON bodies, 500, 502, 504 and a 503 from something in
  front of the API (an HTML page): only when repeating the request is harmless (GET, PUT, and endpoints
  idempotent by nature such as searches and token refresh), since the server may already have acted on
  it. Such a failure of any other write is reported as
  :class:`~xentree_provider.api.errors.XentreeMaybeAppliedError` (see :func:`may_have_applied`).

Waits honour ``Retry-After`` (seconds or an HTTP date), capped by ``max_wait``; otherwise exponential
backoff with full jitter.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

from xentree_provider.api.errors import (
    XentreeConnectionError,
    XentreeError,
    XentreeQuotaExceededError,
    XentreeRateLimitError,
    XentreeResponseError,
    XentreeServerError,
    XentreeTimeoutError,
)
from xentree_provider.api.timestamps import parse_http_date

__all__ = ["RetryDecision", "RetryPolicy", "is_rate_limited", "may_have_applied", "parse_retry_after"]

RETRIED_WHEN_SAFE_STATUSES = frozenset({500, 502, 504})


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the delay in seconds a ``Retry-After`` header asks for (seconds or HTTP date), or None."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        when = parse_http_date(value)
        return None if when is None else max(0.0, when - (time.time() if now is None else now))
    return max(0.0, seconds) if math.isfinite(seconds) or seconds > 0 else None


def may_have_applied(error: BaseException) -> bool:
    """True when ``error`` leaves open whether the server acted on the request: it was sent, and then
    the connection dropped, timed out, a 5xx came (other than the API's own JSON 503), or a success
    came with a body that could not be read."""
    if isinstance(error, XentreeConnectionError):
        return error.request_sent
    if isinstance(error, XentreeResponseError):
        return error.status is not None and 200 <= error.status < 300
    if isinstance(error, XentreeServerError):
        return not (error.status == 503 and error.from_api)
    return False


@dataclass(frozen=True)
class RetryDecision:
    """Try again after ``wait`` seconds, because of ``reason`` (for the log)."""

    reason: str
    wait: float


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failed request.

    A request is tried until it succeeds, fails in a way a repeat cannot fix, ``max_attempts`` tries
    were made, or ``budget`` seconds have passed since its first try, whichever comes first: the budget
    rides out a short storm of transient failures, the attempt cap bounds a fast-failing one. A 429 is
    bounded by the budget alone (it says "later", not "failed"; its waits keep it from being fast).

    :param max_attempts: total tries including the first (``max_retries + 1``); 1 disables retries,
        429s included.
    :param max_wait: the longest single wait in seconds, also the cap on ``Retry-After``.
    :param backoff_base: the first backoff ceiling in seconds; doubles per attempt (full jitter).
    :param budget: seconds from the first try after which no retry starts (waits are cut to fit).
    """

    max_attempts: int = 21
    max_wait: float = 60.0
    backoff_base: float = 0.5
    budget: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.max_wait < 0 or self.backoff_base < 0 or self.budget < 0:
            raise ValueError("max_wait, backoff_base and budget must not be negative")
        if not all(math.isfinite(v) for v in (self.max_wait, self.backoff_base, self.budget)):
            raise ValueError("max_wait, backoff_base and budget must be finite numbers")

    def retry_reason(self, error: BaseException, *, safe_to_retry: bool) -> str | None:
        """Return why ``error`` is worth retrying, or None when it is not."""
        if not isinstance(error, XentreeError):
            return None
        if isinstance(error, XentreeQuotaExceededError) or error.maybe_applied:
            return None
        if isinstance(error, XentreeConnectionError):
            if not error.request_sent:
                return "the request did not reach the server"
            if not safe_to_retry:
                return None
            return "read timeout" if isinstance(error, XentreeTimeoutError) else "connection dropped"
        if isinstance(error, XentreeResponseError):
            return "a garbled response body" if error.retryable_body and safe_to_retry else None
        status = error.status
        if isinstance(error, XentreeRateLimitError) or status == 429:
            return f"HTTP {status}"
        if status == 503 and (safe_to_retry or error.from_api):
            # The API's own 503 declined the request; a proxy's 503 page says nothing about whether a
            # write behind it was applied.
            return f"HTTP {status}"
        if isinstance(error, XentreeServerError) and status in RETRIED_WHEN_SAFE_STATUSES and safe_to_retry:
            return f"HTTP {status}"
        return None

    def wait_seconds(
        self, attempt: int, error: BaseException | None, rng: random.Random | None = None
    ) -> float:
        """Return how long to wait after failed try number ``attempt`` (1-based).

        A positive ``Retry-After`` is honoured (up to ``max_wait``). A 429 without one, or with 0 or a
        past date, backs off with at least half the ceiling, so a server answering "later, now" is not
        hammered for the whole budget.
        """
        retry_after = getattr(error, "retry_after", None)
        rate_limited = is_rate_limited(error)
        if retry_after is not None and (retry_after > 0 or not rate_limited):
            return float(min(max(retry_after, 0.0), self.max_wait))
        ceiling = min(self.max_wait, self.backoff_base * (2 ** min(max(attempt - 1, 0), 60)))
        if rate_limited:
            return float(ceiling / 2 + (rng or random).uniform(0.0, ceiling / 2))
        return (rng or random).uniform(0.0, ceiling)

    def decide(
        self, error: BaseException, attempt: int, *, safe_to_retry: bool, elapsed: float = 0.0
    ) -> RetryDecision | None:
        """Whether to try again after failed try number ``attempt`` (1-based), ``elapsed`` seconds after
        the first try started; why, and after how long (never past the budget)."""
        remaining = self.budget - elapsed
        if remaining <= 0:
            return None
        if attempt >= self.max_attempts and (self.max_attempts == 1 or not is_rate_limited(error)):
            return None
        reason = self.retry_reason(error, safe_to_retry=safe_to_retry)
        if reason is None:
            return None
        return RetryDecision(reason=reason, wait=min(self.wait_seconds(attempt, error), remaining))


def is_rate_limited(error: BaseException | None) -> bool:
    """True for a 429 that asks to come back later (not the Live quota's, which a retry cannot fix)."""
    if isinstance(error, XentreeQuotaExceededError):
        return False
    return isinstance(error, XentreeRateLimitError) or getattr(error, "status", None) == 429
