"""The retry policy shared by the sync hook and the async triggers.

Which failures are retried:

* the request never reached the server (refused connection, DNS failure, connect timeout): always;
* 429 (rate limit; not the Live quota, which retrying cannot fix) and 503: always, as the server
  declined the request without acting on it;
* read timeouts, dropped connections, garbled JSON bodies, 500, 502 and 504: only when repeating
  the request is harmless (GET, PUT, and endpoints idempotent by nature such as searches and token
  refresh), since the server may already have acted on it.

Waits honour ``Retry-After`` (seconds or an HTTP date), capped by ``max_wait``; otherwise exponential
backoff with full jitter.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from xentree_provider.api.errors import (
    XentreeConnectionError,
    XentreeError,
    XentreeQuotaExceededError,
    XentreeRateLimitError,
    XentreeResponseError,
    XentreeServerError,
    XentreeTimeoutError,
)

__all__ = ["RetryDecision", "RetryPolicy", "parse_retry_after"]

ALWAYS_RETRIED_STATUSES = frozenset({429, 503})
RETRIED_WHEN_SAFE_STATUSES = frozenset({500, 502, 504})


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Return the delay in seconds a ``Retry-After`` header asks for (seconds or HTTP date), or None."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = datetime.fromtimestamp(time.time() if now is None else now, tz=timezone.utc)
    return max(0.0, (when - current).total_seconds())


@dataclass(frozen=True)
class RetryDecision:
    """Try again after ``wait`` seconds, because of ``reason`` (for the log)."""

    reason: str
    wait: float


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a failed request.

    :param max_attempts: total tries including the first (``max_retries + 1``); 1 disables retries.
    :param max_wait: the longest single wait in seconds, also the cap on ``Retry-After``.
    :param backoff_base: the first backoff ceiling in seconds; doubles per attempt (full jitter).
    """

    max_attempts: int = 6
    max_wait: float = 60.0
    backoff_base: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.max_wait < 0 or self.backoff_base < 0:
            raise ValueError("max_wait and backoff_base must not be negative")

    def retry_reason(self, error: BaseException, *, safe_to_retry: bool) -> str | None:
        """Return why ``error`` is worth retrying, or None when it is not."""
        if not isinstance(error, XentreeError):
            return None
        if isinstance(error, XentreeQuotaExceededError):
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
        if isinstance(error, XentreeRateLimitError) or status in ALWAYS_RETRIED_STATUSES:
            return f"HTTP {status}"
        if isinstance(error, XentreeServerError) and status in RETRIED_WHEN_SAFE_STATUSES and safe_to_retry:
            return f"HTTP {status}"
        return None

    def wait_seconds(
        self, attempt: int, error: BaseException | None, rng: random.Random | None = None
    ) -> float:
        """Return how long to wait after failed try number ``attempt`` (1-based)."""
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(min(max(retry_after, 0.0), self.max_wait))
        ceiling = min(self.max_wait, self.backoff_base * (2 ** max(attempt - 1, 0)))
        return (rng or random).uniform(0.0, ceiling)

    def decide(self, error: BaseException, attempt: int, *, safe_to_retry: bool) -> RetryDecision | None:
        """Whether to try again after failed try number ``attempt`` (1-based), why, and after how long."""
        if attempt >= self.max_attempts:
            return None
        reason = self.retry_reason(error, safe_to_retry=safe_to_retry)
        if reason is None:
            return None
        return RetryDecision(reason=reason, wait=self.wait_seconds(attempt, error))
